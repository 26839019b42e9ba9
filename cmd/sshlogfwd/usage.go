package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// What a command's error means for whoever ran us: the exit status, and
// where it is said. Usage errors are internal/usage's.

// Exit statuses: 0 done, 1 a runtime failure (I/O, a full disk, a lock
// held, the far side gone), exitUsage a usage error.
const (
	exitFailure = 1
	// exitUsage is for what the command line (or, for a forced command,
	// the client's request) got wrong: fix it, running again will not help.
	exitUsage = 2
)

// errorOut is where a command's final error is said, once.
type errorOut struct {
	log         *slog.Logger // nil before the log is open
	stderr      io.Writer
	logIsStderr bool // the log goes to stderr (no --log)
}

// exitStatus says err and returns the exit status for it. A usage error,
// or a request refused by a forced command, is said plainly on stderr:
// whoever ran us must see what to change; it is logged too when the log
// goes to a file. Any other error is logged (said plainly only when there
// is no log yet).
func (o errorOut) exitStatus(err error) int {
	code := exitCode(err)
	if err == nil {
		return code
	}
	plain := o.log == nil || code == exitUsage
	if o.log != nil && !(plain && o.logIsStderr) {
		o.log.Error(err.Error())
	}
	if plain {
		fmt.Fprintln(o.stderr, "sshlogfwd:", err)
	}
	return code
}

// exitCode is the exit status for the error a command returned.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case isUsage(err):
		return exitUsage
	}
	return exitFailure
}

// isUsage reports whether err is a usage error: a mistake in the command
// line (*usage.Error) or a request a forced command refused
// (*forcedcmd.Error), wherever it was wrapped.
func isUsage(err error) bool {
	return usage.Is(err) || errors.As(err, new(*forcedcmd.Error))
}
