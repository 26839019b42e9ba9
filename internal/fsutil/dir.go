package fsutil

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// SyncDir fsyncs the directory dir, so that a file created, renamed or
// removed in it survives a crash. A file system that cannot sync
// directories (EINVAL) has nothing to make durable: that is no error.
func SyncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open directory", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return syncDirFD(fd, dir)
}

func syncDirFD(fd int, dir string) error {
	if err := unix.Fsync(fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return &fs.PathError{Op: "fsync directory", Path: dir, Err: err}
	}
	return nil
}
