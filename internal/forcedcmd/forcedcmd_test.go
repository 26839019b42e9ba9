package forcedcmd

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

func checkFrom(v string) error {
	if v != "start" && v != "end" {
		return fmt.Errorf("%q is not start or end", v)
	}
	return nil
}

func checkDigits(v string) error {
	if v == "" || strings.Trim(v, "0123456789:") != "" {
		return fmt.Errorf("%q is not DEV:INO:OFF", v)
	}
	return nil
}

var serveSpec = Spec{
	Program: "sshlogfwd",
	Command: "serve",
	Flags:   []Flag{{Name: "cursor", Check: checkDigits}, {Name: "from", Check: checkFrom}, {Name: "verbose"}},
	Path:    "/var/log/my app/forward.log",
}

func TestParse(t *testing.T) {
	t.Parallel()
	p := ShellQuote(serveSpec.Path)
	for _, tc := range []struct {
		in     string
		flags  map[string]string
		path   string
		errSub string // "" = accepted
	}{
		{in: "sshlogfwd serve", flags: map[string]string{}},
		{in: "  sshlogfwd   serve  ", flags: map[string]string{}},
		{in: "/usr/local/bin/sshlogfwd serve --cursor 1:2:3", flags: map[string]string{"cursor": "1:2:3"}},
		{in: "sshlogfwd serve --cursor=1:2:3 --from end", flags: map[string]string{"cursor": "1:2:3", "from": "end"}},
		{in: "'sshlogfwd' 'serve' '--from' 'start'", flags: map[string]string{"from": "start"}},
		{in: "sshlogfwd serve --verbose -- " + p, flags: map[string]string{"verbose": ""}, path: serveSpec.Path},
		{in: "sshlogfwd serve " + p, flags: map[string]string{}, path: serveSpec.Path},
		{in: "sshlogfwd serve '/var/log/my app/./forward.log'", flags: map[string]string{}, path: "/var/log/my app/./forward.log"},

		{in: "", errSub: "empty command"},
		{in: "   ", errSub: "empty command"},
		{in: "cat /etc/shadow", errSub: `program "cat"`},
		{in: "tail -F -n 0 /var/log/x", errSub: `program "tail"`},
		{in: "sshlogfwdx serve", errSub: "is not sshlogfwd"},
		{in: "/tmp/evil-sshlogfwd serve", errSub: "is not sshlogfwd"},
		{in: "sshlogfwd receive", errSub: `must be "serve"`},
		{in: "sshlogfwd", errSub: `must be "serve"`},
		{in: "sshlogfwd serve /etc/shadow", errSub: "not the path this key serves"},
		{in: "sshlogfwd serve -- /etc/shadow", errSub: "not the path this key serves"},
		{in: "sshlogfwd serve " + p + " " + p, errSub: "extra argument"},
		{in: "sshlogfwd serve --cursor 1:2:3; cat /etc/passwd", errSub: `character ';'`},
		{in: "sshlogfwd serve $(touch /tmp/pwned)", errSub: `character '$'`},
		{in: "sshlogfwd serve `id`", errSub: "character '`'"},
		{in: "sshlogfwd serve | sh", errSub: "character '|'"},
		{in: "sshlogfwd serve > /etc/passwd", errSub: "character '>'"},
		{in: `sshlogfwd serve "x"`, errSub: `character '"'`},
		{in: `sshlogfwd serve \x`, errSub: "backslash"},
		{in: "sshlogfwd serve 'unterminated", errSub: "unterminated"},
		{in: "sshlogfwd serve\n--from end", errSub: "control character"},
		{in: "sshlogfwd serve\t--from end", errSub: "control character"},
		{in: "sshlogfwd serve --from=end\x00", errSub: "control character"},
		{in: "sshlogfwd serve --cursör", errSub: "non-ASCII"},
		{in: "sshlogfwd serve '\xff'", errSub: "UTF-8"},
		{in: "sshlogfwd serve --evil", errSub: "unknown option --evil"},
		{in: "sshlogfwd serve -x", errSub: `unknown option "-x"`},
		{in: "sshlogfwd serve --=x", errSub: "unknown option"},
		{in: "sshlogfwd serve --from start --from end", errSub: "given twice"},
		{in: "sshlogfwd serve --from", errSub: "needs a value"},
		{in: "sshlogfwd serve --from middle", errSub: "not start or end"},
		{in: "sshlogfwd serve --cursor --from", errSub: "not DEV:INO:OFF"},
		{in: "sshlogfwd serve --verbose=1", errSub: "takes no value"},
		{in: "sshlogfwd serve ~/x", errSub: "character '~'"},
		{in: "sshlogfwd serve *", errSub: "character '*'"},
		{in: "sshlogfwd serve --cursor " + strings.Repeat("1", DefaultMaxLen), errSub: "longer than"},
	} {
		req, err := serveSpec.Parse(tc.in)
		if tc.errSub != "" {
			var fe *Error
			if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.errSub) {
				t.Errorf("Parse(%q) = %v, %v; want an error containing %q", tc.in, req, err, tc.errSub)
			} else if !strings.Contains(err.Error(), "accepts only: sshlogfwd serve [--cursor VALUE]") {
				t.Errorf("Parse(%q) error %q does not show the accepted form", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if fmt.Sprint(req.Flags) != fmt.Sprint(tc.flags) || req.Path != tc.path {
			t.Errorf("Parse(%q) = %v %q, want %v %q", tc.in, req.Flags, req.Path, tc.flags, tc.path)
		}
	}
}

func TestNoPathSpec(t *testing.T) {
	t.Parallel()
	s := Spec{Program: "sshlogfwd", Command: "receive"}
	if _, err := s.Parse("sshlogfwd receive /var/log/x"); err == nil || !strings.Contains(err.Error(), "unexpected argument") {
		t.Errorf("operand without Spec.Path: %v", err)
	}
	if _, err := s.Parse("sshlogfwd receive"); err != nil {
		t.Error(err)
	}
	short := Spec{Program: "sshlogfwd", Command: "receive", MaxLen: 20}
	if _, err := short.Parse("sshlogfwd receive   x"); err == nil || !strings.Contains(err.Error(), "longer than 20") {
		t.Errorf("MaxLen: %v", err)
	}
}

func TestSplitShellJoin(t *testing.T) {
	t.Parallel()
	for _, words := range [][]string{
		{"a"},
		{"sshlogfwd", "serve", "--", "/var/log/it's here.log"},
		{"", "x", "''", `\`, "a b", "$(x)", "ü"},
	} {
		got, err := Split(ShellJoin(words...))
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("Split(ShellJoin(%q)) = %q, %v", words, got, err)
		}
	}
}

// shellSyntax are the characters a POSIX shell gives a meaning to
// outside quotes, besides space and the quote itself.
const shellSyntax = ";|&$`\"<>()\\*?[]{}~#!\t\n"

// outsideQuotes is what a shell would interpret in s: s without its
// single-quoted strings and without the \' that stands for a quote. It
// is written apart from Split, so that the property below does not check
// Split against itself.
func outsideQuotes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return b.String() + s[i:]
			}
			i += end + 1
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '\'':
			i++
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func TestOutsideQuotes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a 'b;c' d":      "a  d",
		`'it'\''s'`:      "",
		`a'\''b`:         "a'b",
		`x \' ;`:         "x  ;",
		"'unterminated;": "'unterminated;",
		`a\b`:            `a\b`,
	} {
		if got := outsideQuotes(in); got != want {
			t.Errorf("outsideQuotes(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts obeys the
// spec, and that Split inverts ShellJoin.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"sshlogfwd serve --cursor 1:2:3",
		"/usr/bin/sshlogfwd serve --from=end -- '/var/log/my app/forward.log'",
		"sshlogfwd serve --verbose '/var/log/my app/forward.log'",
		"sshlogfwd serve $(id); rm -rf /",
		"sshlogfwd serve 'a'\\''b'",
		"tail -f /var/log/x",
		"sshlogfwd serve --from start --from end",
		"sshlogfwd serve --from 'end' '/var/log/my app/forward.log'",
		"sshlogfwd serve '/var/log/my app/forward.log/'x;/..",
		"sshlogfwd serve '/var/log/my app/'\\''forward.log'",
		"sshlogfwd serve '--from' 'end;' '/var/log/my app/forward.log'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		req, err := serveSpec.Parse(in)
		if err == nil {
			if req.Path != "" && path.Clean(req.Path) != path.Clean(serveSpec.Path) {
				t.Fatalf("accepted path %q", req.Path)
			}
			for name, v := range req.Flags {
				switch name {
				case "cursor":
					if checkDigits(v) != nil {
						t.Fatalf("accepted cursor %q", v)
					}
				case "from":
					if checkFrom(v) != nil {
						t.Fatalf("accepted from %q", v)
					}
				case "verbose":
					if v != "" {
						t.Fatalf("verbose with value %q", v)
					}
				default:
					t.Fatalf("accepted unknown flag %q", name)
				}
			}
			if bad := strings.IndexAny(outsideQuotes(in), shellSyntax); bad >= 0 {
				t.Fatalf("accepted shell syntax %q outside quotes: %q", outsideQuotes(in)[bad], in)
			}
			if strings.IndexFunc(in, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
				t.Fatalf("accepted a control character: %q", in)
			}
		}
		if words, err := Split(in); err == nil {
			again, err := Split(ShellJoin(words...))
			if err != nil || !slices.Equal(again, words) {
				t.Fatalf("Split(ShellJoin(%q)) = %q, %v", words, again, err)
			}
		}
	})
}
