// Package usage is the kind of error that says the command line is wrong:
// a flag (or argument, or a path it names) to change, because running
// again will not help. cmd/sshlogfwd turns it into exit status 2; the
// engines that validate their own settings return it naming the flag, so
// that the rule and its message live beside the code that needs them.
// Every other error is a runtime failure (exit 1).
package usage

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Error is a mistake in the command line or in a path it names.
type Error struct {
	Flag string // the flag or argument to change: "--fifo", "DEST"
	Err  error
}

func (e *Error) Error() string { return e.Flag + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether err is, or wraps, an *Error.
func Is(err error) bool { return errors.As(err, new(*Error)) }

// Flag is err as a usage error naming flag (nil stays nil).
func Flag(flag string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{flag, err}
}

// pathMistakes are the errnos of a path that cannot be what its flag
// wants, whatever the disk's state: the command line, or the permissions
// it relies on, must change.
var pathMistakes = []syscall.Errno{syscall.ENOENT, syscall.ENOTDIR, syscall.EISDIR, syscall.ENXIO,
	syscall.EEXIST, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.EACCES, syscall.EPERM}

// Path is the error for a file named by flag that could not be opened or
// created. A path that cannot be what the flag wants (a missing
// directory, a directory or a FIFO where a file belongs, a file that
// exists where a new one is wanted, a symlink where none may be, no
// permission) is a usage error. Anything else (a full or read-only disk,
// an I/O error, no file descriptors left) is a runtime failure with its
// cause.
func Path(flag string, err error) error {
	for _, errno := range pathMistakes {
		if errors.Is(err, errno) {
			return Flag(flag, err)
		}
	}
	return fmt.Errorf("%s: %w", flag, err)
}

// First is the first error of errs: validation lists its checks in the
// order they are reported.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// OnlyWith refuses a flag of given that is set (true) while the flag it
// applies to (needs) is not (on false): refused rather than silently
// ignored.
func OnlyWith(needs string, on bool, given map[string]bool) error {
	if on {
		return nil
	}
	for flag, set := range given {
		if set {
			return Flag(flag, errors.New("applies only with "+needs))
		}
	}
	return nil
}

// NonNegative refuses a negative duration among durations, by flag.
func NonNegative(durations map[string]time.Duration) error {
	for flag, d := range durations {
		if d < 0 {
			return Flag(flag, fmt.Errorf("negative duration %s", d))
		}
	}
	return nil
}
