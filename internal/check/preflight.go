package check

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// The checks in this file run before push or pull starts, so that a path
// it cannot use is refused with what to do: which directory, which user
// needs what, and the command (run as root) that fixes it.

// FixError is a path the user we run as cannot use, and the command that
// fixes it.
type FixError struct {
	Problem string
	Fix     string // a command for root; "" when there is none to give
	Err     error
}

// Error is the problem and, where there is one, the fix.
func (e *FixError) Error() string {
	if e.Fix == "" {
		return e.Problem
	}
	return e.Problem + " (fix, as root: " + e.Fix + ")"
}

// Unwrap is the cause (fs.ErrNotExist, EACCES, ...).
func (e *FixError) Unwrap() error { return e.Err }

// NeedDir accepts an existing directory the user we run as may create
// files in. A missing one, or one it may not write, is a *FixError whose
// fix creates it, or hands it over, with mode.
func NeedDir(dir string, mode fs.FileMode) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FixError{Problem: fmt.Sprintf("directory %s does not exist", dir), Fix: FixDir(dir, mode), Err: err}
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

// NeedCreatable accepts a directory path the user we run as may write,
// or whose nearest existing ancestor it may write (the rest is created).
// The fix for a missing part creates its first missing directory with
// mode, for the user we run as.
func NeedCreatable(path string, mode fs.FileMode) error {
	missing := ""
	dir := path
	for {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) || dir == filepath.Dir(dir) {
			break
		}
		missing, dir = dir, filepath.Dir(dir)
	}
	err := NeedDir(dir, mode)
	var fe *FixError
	if missing != "" && errors.As(err, &fe) {
		fi, _ := os.Stat(dir)
		return &FixError{
			Problem: fmt.Sprintf("user %s cannot create %s in %s", currentUser(), missing, fsutil.DescribeOwner(dir, fi)),
			Fix:     FixDir(missing, mode), Err: fe.Err,
		}
	}
	return err
}

// notWritable is the error for an existing directory dir (fi) that the
// user we run as may not create files in (err).
func notWritable(dir string, fi fs.FileInfo, mode fs.FileMode, err error) error {
	e := &FixError{Problem: fmt.Sprintf("user %s cannot create files in %s", currentUser(), fsutil.DescribeOwner(dir, fi)), Err: err}
	if fsutil.SharedDir(dir, fi) {
		e.Problem += ": give a path in a directory of its own below it"
	} else {
		e.Fix = FixDir(dir, mode)
	}
	return e
}

// NeedReadable accepts a file the user we run as may read; otherwise the
// fix hands it over (a key stays mode 0600).
func NeedReadable(path string) error {
	if err := unix.Access(path, unix.R_OK); err != nil {
		fi, _ := os.Stat(path)
		return &FixError{
			Problem: fmt.Sprintf("user %s cannot read %s", currentUser(), fsutil.DescribeOwner(path, fi)),
			Fix:     "chown " + currentUser() + ": " + forcedcmd.ShellQuote(path),
			Err:     &fs.PathError{Op: "access", Path: path, Err: err},
		}
	}
	return nil
}

// PrivateKey accepts a private key file (push's and pull's --identity)
// that the user we run as can read and that not every user can. ssh
// itself ignores a key of ours that others can read, but not one owned by
// another user (root's key given to a service user).
func PrivateKey(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return fmt.Errorf("%s is readable by every user on this host (mode %04o): chmod 600 it, and treat the key as stolen", path, fi.Mode().Perm())
	}
	return NeedReadable(path)
}

// WritableFile accepts a regular file the user we run as may write, or a
// name in a directory where it may create one (pull's --output and
// --cursor-file).
func WritableFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return NeedDir(filepath.Dir(path), 0o750)
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is %s, not a regular file", path, fsutil.DescribeMode(fi.Mode()))
	case unix.Access(path, unix.W_OK) != nil:
		return &FixError{Problem: fmt.Sprintf("user %s cannot write %s", currentUser(), fsutil.DescribeOwner(path, fi)), Fix: "chown " + currentUser() + ": " + forcedcmd.ShellQuote(path)}
	}
	return nil
}

// FIFOPath accepts a FIFO the user we run as may read and write, or a
// name it may create one at: in an existing directory it may write
// (push's --fifo). Anything else at the name is never touched.
func FIFOPath(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return NeedDir(filepath.Dir(path), 0o750)
	case err != nil:
		return err
	case fi.Mode().Type() != fs.ModeNamedPipe:
		return fmt.Errorf("%s exists and is %s, not a named pipe; refusing to touch it", path, fsutil.DescribeMode(fi.Mode()))
	}
	return accessible(path, unix.R_OK|unix.W_OK)
}

// Followable accepts a regular file the user we run as may read, or a
// missing one: it is waited for (push's --file).
func Followable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file but %s", path, fsutil.DescribeMode(fi.Mode()))
	}
	return accessible(path, unix.R_OK)
}

// JournalDir accepts a directory of journal files the user we run as may
// read (push's --journal-dir).
func JournalDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is %s, not a directory", dir, fsutil.DescribeMode(fi.Mode()))
	}
	return accessible(dir, unix.R_OK|unix.X_OK)
}

// JournalFile accepts a journal file the user we run as may read, or a
// glob, which journalctl expands (push's --journal-file).
func JournalFile(path string) error {
	if strings.ContainsAny(path, "*?[") {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is %s, not a journal file", path, fsutil.DescribeMode(fi.Mode()))
	}
	return accessible(path, unix.R_OK)
}

// accessible checks access to path for the user we run as.
func accessible(path string, mode uint32) error {
	if err := unix.Access(path, mode); err != nil {
		return &fs.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}
