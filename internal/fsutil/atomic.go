package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteAtomic replaces path with data so that a reader, or a crash, sees
// either the old content or the new, never a mix: the data goes into a
// temporary file with a random name in the same directory (created with
// O_EXCL|O_NOFOLLOW, so a planted symlink or a second writer cannot
// redirect it), is fsynced when sync is set, and is renamed over path; with
// sync the directory is fsynced too, so the rename itself survives a crash.
// Every step's error is returned, naming the file.
func WriteAtomic(path string, data []byte, perm fs.FileMode, sync bool) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open directory", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	tmp, err := writeTemp(dfd, base, data, perm, sync)
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return &fs.PathError{Op: "rename into place", Path: path, Err: err}
	}
	if sync {
		return syncDirFD(dfd, dir)
	}
	return nil
}

// writeTemp writes data into a new file with a random name beside base in
// the directory dfd and returns that name; on failure nothing is left.
func writeTemp(dfd int, base string, data []byte, perm fs.FileMode, sync bool) (string, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + base + "." + hex.EncodeToString(rnd[:]) + ".tmp"
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return "", &fs.PathError{Op: "create", Path: tmp, Err: err}
	}
	err = writeAll(fd, data)
	if err == nil && sync {
		if e := unix.Fsync(fd); e != nil {
			err = &fs.PathError{Op: "fsync", Path: tmp, Err: e}
		}
	}
	if e := unix.Close(fd); e != nil && err == nil {
		err = &fs.PathError{Op: "close", Path: tmp, Err: e}
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return "", err
	}
	return tmp, nil
}

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "write", Path: "temporary file", Err: err}
		}
		data = data[n:]
	}
	return nil
}
