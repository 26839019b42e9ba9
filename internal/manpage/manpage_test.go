package manpage

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"--spool-max", `\-\-spool\-max`},
		{`C:\dir`, `C:\edir`},
		{"a → b", `a \[u2192] b`},
		{"plain text, 0620 (ok)", "plain text, 0620 (ok)"},
	} {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"use `--fifo` here", `use \fB\-\-fifo\fR here`},
		{".hidden files", `\&.hidden files`},
		{"'quoted' start", `\&'quoted' start`},
		{"two\nlines,   spaced", "two lines, spaced"},
	} {
		if got := text(tt.in); got != tt.want {
			t.Errorf("text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// testCLI has what the renderer must handle: global flags, a nested
// command, hidden commands and flags, arguments of every shape, flags with
// and without defaults and variables.
type testCLI struct {
	Verbose bool   `short:"v" help:"Say more."`
	Secret  string `hidden:"" help:"Not for users."`
	Send    struct {
		Dests   []string      `arg:"" name:"DEST" help:"Where to."`
		Every   time.Duration `help:"How often." default:"20m"`
		Mode    string        `help:"File mode (default ${default})." default:"0620" placeholder:"MODE"`
		Side    string        `help:"Which side." enum:"left,right" default:"left"`
		Quiet   bool          `help:"Say less." negatable:""`
		Private bool          `env:"-" help:"No variable."`
	} `cmd:"" help:"Send things."`
	Group struct {
		Sub struct {
			Role string `arg:"" enum:"push,pull" help:"The role."`
			Path string `arg:"" optional:"" help:"A path."`
		} `cmd:"" help:"A subcommand."`
	} `cmd:"" help:"A group."`
	Internal struct{} `cmd:"" hidden:"" help:"Hidden command."`
}

func render(t *testing.T, cli any, sections ...Section) string {
	t.Helper()
	parser, err := kong.New(cli, kong.Name("tool"), kong.DefaultEnvars("TOOL"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err = Write(&b, &Page{Name: "tool", Section: 1, Summary: "do things", Manual: "User Commands",
		Description: "First paragraph.\n\n  verbatim  block\n  kept\n\nLast.", App: parser.Model, Sections: sections})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWrite(t *testing.T) {
	page := render(t, &testCLI{},
		Section{Title: "FILES", Blocks: []Block{Item{Tag: "/etc/tool", Text: "Settings."}, Example("\t\tindented\n\t\t  more")}},
		Section{Title: "ENVIRONMENT", Blocks: []Block{EnvList{}}})
	for _, want := range []string{
		".TH TOOL 1 \"\" tool \"User Commands\"\n",
		".SH NAME\ntool \\- do things\n",
		// synopsis: runnable commands only, arguments in their shapes
		"\\fBtool send\\fR [\\fIflags\\fR] \\fIDEST\\fR\\&...\n",
		"\\fBtool group sub\\fR \\fBpush\\fR|\\fBpull\\fR [\\fIpath\\fR]\n",
		// description: paragraphs filled, indented blocks verbatim
		".PP\nFirst paragraph.\n.PP\n.RS 4\n.nf\n\\&verbatim  block\n\\&kept\n.fi\n.RE\n.PP\nLast.\n",
		".SH OPTIONS\n",
		"\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR\nSay more.\n.br\nEnvironment: TOOL_VERBOSE.\n",
		".SS tool send [flags] DEST\\&...\n",
		"\\fB\\-\\-every\\fR=\\fIDURATION\\fR\nHow often.\n.br\nDefault: \\fB20m\\fR. Environment: TOOL_EVERY.\n",
		// the default is not said twice
		"\\fB\\-\\-mode\\fR=\\fIMODE\\fR\nFile mode (default 0620).\n.br\nEnvironment: TOOL_MODE.\n",
		"\\fB\\-\\-side\\fR=\\fIleft|right\\fR\n",
		"\\fB\\-\\-[no\\-]quiet\\fR\nSay less.\n.br\nEnvironment: TOOL_QUIET.\n",
		"\\fB\\-\\-private\\fR\nNo variable.\n.SS",
		".SS \"tool group sub\"\n.PP\nA group.\n",
		".SS tool group sub push|pull [path]\n",
		".TP\n\\fB/etc/tool\\fR\nSettings.\n",
		".nf\n\\&indented\n\\&  more\n.fi\n",
		".TP\n\\fBTOOL_EVERY\\fR\n\\fB\\-\\-every\\fR (send)\n",
		".TP\n\\fBTOOL_VERBOSE\\fR\n\\fB\\-\\-verbose\\fR (global)\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, absent := range []string{"secret", "internal", "Hidden command", "TOOL_PRIVATE", "TOOL_SECRET"} {
		if strings.Contains(strings.ToLower(page), strings.ToLower(absent)) {
			t.Errorf("the page shows %q, which is hidden or has no variable", absent)
		}
	}
	if strings.Index(page, ".SH FILES") < strings.Index(page, ".SH COMMANDS") {
		t.Error("hand-written sections come before COMMANDS")
	}
	if again := render(t, &testCLI{}, Section{Title: "FILES", Blocks: []Block{Item{Tag: "/etc/tool", Text: "Settings."}, Example("\t\tindented\n\t\t  more")}},
		Section{Title: "ENVIRONMENT", Blocks: []Block{EnvList{}}}); again != page {
		t.Error("two renderings of the same model differ")
	}
}

// TestEnvListGroups: a variable shared by several commands' flags is one
// entry naming them all, in the model's order.
func TestEnvListGroups(t *testing.T) {
	var cli struct {
		A struct {
			From string `help:"a"`
		} `cmd:""`
		B struct {
			C struct {
				From string `help:"c"`
			} `cmd:""`
		} `cmd:""`
		D struct {
			From string `help:"d"`
		} `cmd:""`
	}
	page := render(t, &cli, Section{Title: "ENVIRONMENT", Blocks: []Block{EnvList{}}})
	if want := ".TP\n\\fBTOOL_FROM\\fR\n\\fB\\-\\-from\\fR (a, b c, d)\n"; !strings.Contains(page, want) {
		t.Errorf("the page lacks %q:\n%s", want, page[strings.Index(page, ".SH ENVIRONMENT"):])
	}
}

func TestWriteUnsupported(t *testing.T) {
	var cli struct {
		Name struct {
			Name string   `arg:""`
			Run  struct{} `cmd:""`
		} `arg:""`
	}
	parser, err := kong.New(&cli)
	if err != nil {
		t.Fatal(err)
	}
	err = Write(&bytes.Buffer{}, &Page{Name: "x", Section: 1, App: parser.Model})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("a command chosen by an argument: %v, want ErrUnsupported", err)
	}
}
