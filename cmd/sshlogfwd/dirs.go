package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/check"
	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// The checks in this file run before a command starts, so that a
// directory it cannot use is refused with what to do: which directory,
// which user needs what, and the command (run as root) that fixes it.

// fixError is a path the user we run as cannot use, and the command that
// fixes it.
type fixError struct {
	problem string
	fix     string // a command for root; "" when there is none to give
	err     error
}

func (e *fixError) Error() string {
	if e.fix == "" {
		return e.problem
	}
	return e.problem + " (fix, as root: " + e.fix + ")"
}

func (e *fixError) Unwrap() error { return e.err }

// sharedDirs are system directories that a fix must never hand to our
// user: what we keep goes into a directory of its own below them.
var sharedDirs = map[string]bool{
	"/": true, "/run": true, "/var": true, "/var/run": true, "/var/lib": true, "/var/log": true,
	"/var/spool": true, "/tmp": true, "/var/tmp": true, "/etc": true, "/home": true, "/srv": true,
	"/opt": true, "/usr": true, "/usr/local": true, "/root": true,
}

// needDir accepts an existing directory the user we run as may create
// files in. A missing one, or one it may not write, is a *fixError whose
// fix creates it, or hands it over, with mode.
func needDir(dir string, mode fs.FileMode) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &fixError{problem: fmt.Sprintf("directory %s does not exist", dir), fix: check.FixDir(dir, mode), err: err}
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is %s, not a directory", dir, fsutil.DescribeMode(fi.Mode()))
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return notWritable(dir, fi, mode, err)
	}
	return nil
}

// needCreatable accepts a directory path the user we run as may write,
// or whose nearest existing ancestor it may write (the rest is created).
// The fix for a missing part creates its first missing directory with
// mode, for the user we run as.
func needCreatable(path string, mode fs.FileMode) error {
	missing := ""
	dir := path
	for {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) || dir == filepath.Dir(dir) {
			break
		}
		missing, dir = dir, filepath.Dir(dir)
	}
	err := needDir(dir, mode)
	var fe *fixError
	if missing != "" && errors.As(err, &fe) {
		fi, _ := os.Stat(dir)
		return &fixError{
			problem: fmt.Sprintf("user %s cannot create %s in %s", userName(), missing, fsutil.DescribeOwner(dir, fi)),
			fix:     check.FixDir(missing, mode), err: fe.err,
		}
	}
	return err
}

// notWritable is the error for an existing directory dir (fi) that the
// user we run as may not create files in (err).
func notWritable(dir string, fi fs.FileInfo, mode fs.FileMode, err error) error {
	e := &fixError{problem: fmt.Sprintf("user %s cannot create files in %s", userName(), fsutil.DescribeOwner(dir, fi)), err: err}
	if sharedDirs[filepath.Clean(dir)] {
		e.problem += ": give a path in a directory of its own below it"
	} else {
		e.fix = check.FixDir(dir, mode)
	}
	return e
}

// needReadable accepts a file the user we run as may read; otherwise the
// fix hands it over (a key stays mode 0600).
func needReadable(path string) error {
	if err := unix.Access(path, unix.R_OK); err != nil {
		fi, _ := os.Stat(path)
		return &fixError{
			problem: fmt.Sprintf("user %s cannot read %s", userName(), fsutil.DescribeOwner(path, fi)),
			fix:     "chown " + userName() + ": " + forcedcmd.ShellQuote(path),
			err:     &fs.PathError{Op: "access", Path: path, Err: err},
		}
	}
	return nil
}

// userName is the name of the user we run as.
func userName() string { return fsutil.UserName(os.Getuid()) }
