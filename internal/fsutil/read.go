package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ErrUnsafe is what a state file that is not ours is wrapped with: a
// symlink, a FIFO, a directory, a file owned by another user, or one too
// large to be our state. Callers test for it with errors.Is and must not
// echo the file's content to a remote client.
var ErrUnsafe = errors.New("not a regular file owned by this user")

// ReadOwned reads a small state file of ours. It refuses (ErrUnsafe) a
// symlink at path (O_NOFOLLOW), anything but a regular file (opening a
// FIFO does not block: O_NONBLOCK), a file owned by another user, and one
// larger than limit bytes. A missing file is fs.ErrNotExist.
func ReadOwned(path string, limit int64) ([]byte, error) {
	f, err := OpenOwned(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %w (%d bytes, more than a state file's %d)", path, ErrUnsafe, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w (grew past %d bytes)", path, ErrUnsafe, limit)
	}
	return b, nil
}

// OpenOwned opens an existing file of ours with flag (O_RDONLY or O_RDWR;
// O_NOFOLLOW and O_NONBLOCK are added) and checks that it is a regular file
// owned by the effective user. O_NONBLOCK is cleared again on success.
func OpenOwned(path string, flag int) (*os.File, error) {
	return openOwned(path, flag, 0)
}

// CreateOwned opens path for reading and writing, creating it with perm
// when missing, never through a symlink, and checks that the result is a
// regular file owned by the effective user (ErrUnsafe otherwise).
func CreateOwned(path string, perm fs.FileMode) (*os.File, error) {
	return openOwned(path, unix.O_RDWR|unix.O_CREAT, perm)
}

// openOwned is OpenOwned and CreateOwned: open with O_NOFOLLOW (a FIFO
// does not block: O_NONBLOCK, cleared again), then check the result.
func openOwned(path string, flag int, perm fs.FileMode) (*os.File, error) {
	fd, err := unix.Open(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, uint32(perm.Perm()))
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s: %w (a symbolic link)", path, ErrUnsafe)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	if err := checkOwnedRegular(f, path); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "clear O_NONBLOCK", Path: path, Err: err}
	}
	return f, nil
}

func checkOwnedRegular(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s)", path, ErrUnsafe, DescribeMode(fi.Mode()))
	}
	if uid, ok := Owner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%s: %w (owned by uid %d)", path, ErrUnsafe, uid)
	}
	return nil
}
