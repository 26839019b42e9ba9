package main

import (
	"os"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/sshlogfwd/sshlogfwd/internal/request"
)

// Settings from SSHLOGFWD_<FLAG> variables are a convenience for the local
// administrator (a systemd unit's Environment=, a shell). Under sshd the
// environment is partly the client's: sshd passes on whatever its AcceptEnv
// allows, and a client holding a key forced to `sshlogfwd receive PATH`
// would otherwise name the file receive logs to, or write a profile over
// PATH itself. So there every setting comes from the command line, which
// is authorized_keys'.

// envPrefix names the variables that may stand for flags.
const envPrefix = "SSHLOGFWD"

// forcedCommands are meant to be forced commands: they read no variable
// even outside sshd, so that a wrapper that runs them with the client's
// environment passed on is safe too.
var forcedCommands = map[string]bool{"receive": true, "serve": true}

// envarsAllowed reports whether command (kong's Context.Command(), such as
// "receive <PATH>") may take settings from SSHLOGFWD_* variables.
func envarsAllowed(command string, lookup func(string) (string, bool)) bool {
	name, _, _ := strings.Cut(command, " ")
	return !forcedCommands[name] && !request.UnderSSHD(lookup)
}

// BeforeReset is called by kong once it knows the command and before it
// reads defaults and variables: where variables are not allowed, it takes
// every variable name off the model, the global flags' and any flag's own
// env tag included, so that kong reads none.
func (c *CLI) BeforeReset(kctx *kong.Context) error {
	if !envarsAllowed(kctx.Command(), os.LookupEnv) {
		dropEnvars(kctx.Model.Node)
	}
	return nil
}

// dropEnvars removes the variable names of node's flags and positional
// arguments and of all its subcommands'.
func dropEnvars(node *kong.Node) {
	for _, f := range node.Flags {
		f.Envs = nil
		f.Value.Tag.Envs = nil
	}
	for _, p := range node.Positional {
		p.Tag.Envs = nil
	}
	for _, child := range node.Children {
		dropEnvars(child)
	}
}

// maxIgnoredNames bounds the names ignoredEnvars returns: the names come
// from the client, which may send many.
const maxIgnoredNames = 10

// ignoredEnvars returns the names of the SSHLOGFWD_* variables in environ
// (at most maxIgnoredNames, then "..."), to say that they were ignored.
func ignoredEnvars(environ []string) []string {
	var names []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix+"_") {
			continue
		}
		if len(names) == maxIgnoredNames {
			return append(names, "...")
		}
		names = append(names, name)
	}
	return names
}
