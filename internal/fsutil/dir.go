package fsutil

import (
	"errors"
	"io/fs"
	"path/filepath"

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

// systemDirs are directories of the system that hold other programs'
// files: nothing of ours is kept in them directly, and nothing of ours
// changes their mode.
var systemDirs = map[string]bool{
	"/": true, "/run": true, "/var": true, "/var/run": true, "/var/lib": true, "/var/log": true,
	"/var/spool": true, "/tmp": true, "/var/tmp": true, "/etc": true, "/home": true, "/srv": true,
	"/opt": true, "/usr": true, "/usr/local": true, "/root": true, "/dev/shm": true,
}

// SharedDir reports whether dir (fi its Stat) is a directory we share with
// the system or with other users: one of the system's (/, /tmp, /var/lib,
// ...) or any directory with the sticky bit (1777, like /tmp and /dev/shm).
// Such a directory is never tightened, handed over or used as a directory
// of our own: what we keep goes into a directory of its own below it.
func SharedDir(dir string, fi fs.FileInfo) bool {
	return systemDirs[filepath.Clean(dir)] || fi != nil && fi.IsDir() && fi.Mode()&fs.ModeSticky != 0
}
