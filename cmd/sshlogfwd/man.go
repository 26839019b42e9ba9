package main

import (
	"io"
	"os"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/manpage"
)

// ManCmd prints the manual page sshlogfwd(1) in roff. It is hidden: the
// page reaches users through the packages (and docs/sshlogfwd.1, which a
// test keeps equal to this output); scripts/manpage.sh and
// scripts/package.sh run it. It is a command rather than a separate
// program because only this package can build the command line model.
type ManCmd struct{}

// Run prints the page.
func (ManCmd) Run() error { return writeManPage(os.Stdout) }

// writeManPage renders sshlogfwd(1) from a fresh command line model, so
// that the page is the same whatever this process's environment: receive
// and serve, which read no variable, are shown without any.
func writeManPage(w io.Writer) error {
	parser, err := newParser(&CLI{})
	if err != nil {
		return err
	}
	for _, n := range parser.Model.Children {
		if forcedCommands[n.Name] {
			dropEnvars(n)
		}
	}
	return manpage.Write(w, &manpage.Page{
		Name:        "sshlogfwd",
		Section:     1,
		Summary:     "ship log lines to another host through the system OpenSSH client",
		Manual:      "User Commands",
		Description: manDescription(),
		App:         parser.Model,
		Sections:    manpage.SshlogfwdSections,
	})
}

// manDescription is the --help description without its first paragraph,
// which the page's NAME line says.
func manDescription() string {
	_, rest, _ := strings.Cut(description, "\n\n")
	return rest
}
