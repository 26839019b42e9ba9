package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
)

// What a command's error means for whoever ran us: the exit status, the
// usage errors that name the flag to change, and the helpers flags'
// validation shares.

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
// line (*usageError) or a request a forced command refused
// (*forcedcmd.Error), wherever it was wrapped.
func isUsage(err error) bool {
	return errors.As(err, new(*usageError)) || errors.As(err, new(*forcedcmd.Error))
}

// usageError is a mistake in the command line or in a path it names: exit 2.
type usageError struct {
	flag string
	err  error
}

func (e *usageError) Error() string { return e.flag + ": " + e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usage is err as a usage error naming flag (nil stays nil).
func usage(flag string, err error) error {
	if err == nil {
		return nil
	}
	return &usageError{flag, err}
}

// pathError is the error for a file named by flag that could not be
// opened or created. A path that cannot be what the flag wants (a missing
// directory, a directory or a FIFO where a file belongs, a file that
// exists where a new one is wanted, a symlink where none may be, no
// permission) is a usage error: the command line, or the permissions it
// relies on, must change. Anything else (a full or read-only disk, an I/O
// error, no file descriptors left) is a runtime failure with its cause.
func pathError(flag string, err error) error {
	for _, errno := range []syscall.Errno{syscall.ENOENT, syscall.ENOTDIR, syscall.EISDIR, syscall.ENXIO,
		syscall.EEXIST, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.EACCES, syscall.EPERM} {
		if errors.Is(err, errno) {
			return usage(flag, err)
		}
	}
	return fmt.Errorf("%s: %w", flag, err)
}

// firstOf is the first error of errs: Validate methods list their checks
// in the order they are reported.
func firstOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// onlyWith refuses a flag of given that is set (true) while the flag it
// applies to (needs) is not (on false): refused rather than silently
// ignored.
func onlyWith(needs string, on bool, given map[string]bool) error {
	if on {
		return nil
	}
	for flag, set := range given {
		if set {
			return usage(flag, errors.New("applies only with "+needs))
		}
	}
	return nil
}

// nonNegative refuses a negative duration among durations, by flag.
func nonNegative(durations map[string]time.Duration) error {
	for flag, d := range durations {
		if d < 0 {
			return usage(flag, fmt.Errorf("negative duration %s", d))
		}
	}
	return nil
}
