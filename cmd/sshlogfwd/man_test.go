package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// committedPage is the generated page as committed, for readers of the
// repository and for scripts/package.sh.
const committedPage = "../../docs/sshlogfwd.1"

var update = flag.Bool("update", false, "rewrite docs/sshlogfwd.1 from the command line model")

func generatedPage(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeManPage(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestManPageUpToDate: docs/sshlogfwd.1 is what `sshlogfwd man` prints.
func TestManPageUpToDate(t *testing.T) {
	page := generatedPage(t)
	if *update {
		if err := os.WriteFile(committedPage, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(committedPage)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != page {
		t.Errorf("docs/sshlogfwd.1 is not what the command line model generates: run scripts/manpage.sh (or go test ./cmd/sshlogfwd -run TestManPageUpToDate -update)")
	}
}

// TestManPageCoversCLI walks the command line model: every command, every
// argument, every flag and every variable the CLI has is in the generated
// page and in the committed one, in its command's subsection; hidden flags
// are not, and receive and serve show no variable.
func TestManPageCoversCLI(t *testing.T) {
	parser, err := newParser(&CLI{})
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(committedPage)
	if err != nil {
		t.Fatal(err)
	}
	for name, page := range map[string]string{"generated": generatedPage(t), "docs/sshlogfwd.1": string(committed)} {
		t.Run(name, func(t *testing.T) {
			sections := pageSections(page)
			checkNode(t, sections, parser.Model.Node)
			env := sections[".SH ENVIRONMENT"]
			for _, name := range readEnvars(parser.Model.Node) {
				if !strings.Contains(env, `\fB`+roff(name)+`\fR`) {
					t.Errorf("%s is read by the CLI but not in the page's ENVIRONMENT", name)
				}
			}
			for _, hidden := range []string{"cpuprofile", "memprofile", "heartbeat"} {
				if strings.Contains(page, roff("--"+hidden)) {
					t.Errorf("the page shows the hidden flag --%s", hidden)
				}
			}
		})
	}
}

// checkNode checks that n's flags and arguments are in its section of the
// page, and so on for every visible command below it.
func checkNode(t *testing.T, sections map[string]string, n *kong.Node) {
	t.Helper()
	heading, body := ".SH OPTIONS", sections[".SH OPTIONS"]
	if n.Type != kong.ApplicationNode {
		heading, body = commandSection(sections, n)
		if heading == "" {
			t.Errorf("command %q has no subsection in the page", n.Path())
			return
		}
	}
	for _, f := range n.Flags {
		if f.Hidden {
			continue
		}
		if !strings.Contains(body, `\fB`+roff("--"+f.Name)+`\fR`) {
			t.Errorf("flag --%s of %q is not in %q", f.Name, n.Path(), heading)
		}
		for _, e := range f.Envs {
			if !forcedCommands[n.Name] && !strings.Contains(body, roff(e)) {
				t.Errorf("variable %s of --%s (%q) is not in %q", e, f.Name, n.Path(), heading)
			}
		}
	}
	for _, a := range n.Positional {
		names := []string{a.Name}
		if a.Enum != "" {
			names = a.EnumSlice() // shown by its choices
		}
		for _, name := range names {
			if !strings.Contains(body, `\fI`+roff(name)+`\fR`) && !strings.Contains(body, `\fB`+roff(name)+`\fR`) {
				t.Errorf("argument %s of %q is not in %q", name, n.Path(), heading)
			}
		}
	}
	if forcedCommands[n.Name] && strings.Contains(body, "Environment:") {
		t.Errorf("%q says a variable sets one of its flags; it reads none", heading)
	}
	for _, c := range n.Children {
		if !c.Hidden {
			checkNode(t, sections, c)
		}
	}
}

// readEnvars are the variables the CLI reads: those of the visible flags,
// but for the commands that read none.
func readEnvars(n *kong.Node) []string {
	var names []string
	for _, f := range n.Flags {
		if !f.Hidden {
			names = append(names, f.Envs...)
		}
	}
	for _, c := range n.Children {
		if !c.Hidden && !forcedCommands[c.Name] {
			names = append(names, readEnvars(c)...)
		}
	}
	return names
}

// pageSections splits a page at its .SH and .SS headings.
func pageSections(page string) map[string]string {
	sections := map[string]string{}
	heading := ""
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, ".SH ") || strings.HasPrefix(line, ".SS ") {
			heading = strings.ReplaceAll(line, `"`, "")
			continue
		}
		sections[heading] += line + "\n"
	}
	return sections
}

// commandSection finds the subsection of command n: the one headed
// "sshlogfwd PATH" and what follows the path, unless that is a
// subcommand's name ("check push ..." is not check's own).
func commandSection(sections map[string]string, n *kong.Node) (string, string) {
	for heading, body := range sections {
		rest, ok := strings.CutPrefix(heading, ".SS sshlogfwd "+roff(n.Path()))
		if !ok || rest != "" && !strings.HasPrefix(rest, " ") {
			continue
		}
		next, _, _ := strings.Cut(strings.TrimPrefix(rest, " "), " ")
		if !slices.ContainsFunc(n.Children, func(c *kong.Node) bool { return roff(c.Name) == next }) {
			return heading, body
		}
	}
	return "", ""
}

// roff is how the page spells s: hyphens escaped.
func roff(s string) string { return strings.ReplaceAll(s, "-", `\-`) }

// TestManPageRenders: man(1) renders the committed page without a warning
// from groff, with the sections a reader looks for.
func TestManPageRenders(t *testing.T) {
	testlab.RequireBinary(t, "/usr/bin/man")
	cmd := exec.Command("/usr/bin/man", "--warnings", "-l", committedPage)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("man -l %s: %v\n%s", committedPage, err, stderr.Bytes())
	}
	for _, want := range []string{"SSHLOGFWD(1)", "NAME", "SYNOPSIS", "COMMANDS", "SIGNALS", "EXIT STATUS",
		"ENVIRONMENT", "FILES", "SECURITY", "EXAMPLES", "SEE ALSO", "sshlogfwd-pull-cursor 1", "--spool-max=SIZE"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
}
