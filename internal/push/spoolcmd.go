package push

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// What the spool commands (`sshlogfwd spool deliver|discard DIR`) make of
// their DIR and of what went wrong with it.

// SpoolArg is the DIR argument made absolute, refused (a usage error)
// when it is not a directory.
func SpoolArg(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", usage.Flag("DIR", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", usage.Flag("DIR", err)
	}
	if !fi.IsDir() {
		return "", usage.Flag("DIR", fmt.Errorf("%s is %s, not a directory", abs, fsutil.DescribeMode(fi.Mode())))
	}
	return abs, nil
}

// SpoolError says what to do about an error of the spool commands on dir:
// a directory that is not a spool is a usage error; one of another user is
// run as that user; one a push runs on waits until that push stops.
func SpoolError(dir string, err error) error {
	var held *fsutil.HeldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &held):
		return fmt.Errorf("refusing: %w; a push runs on this spool and delivers its lines itself: stop it first", err)
	case errors.Is(err, ErrNotSpool), errors.Is(err, fs.ErrNotExist):
		return usage.Flag("DIR", fmt.Errorf("%w: `sshlogfwd spool list` shows push's spool directories", err))
	case errors.Is(err, fsutil.ErrUnsafe), errors.Is(err, fs.ErrPermission):
		return usage.Flag("DIR", fmt.Errorf("%w%s", err, OwnerHint(dir)))
	}
	return err
}
