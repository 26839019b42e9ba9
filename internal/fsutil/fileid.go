package fsutil

import (
	"fmt"
	"io/fs"
	"syscall"
)

// ID is a file's identity on this machine: its device and inode. It
// survives renames (log rotation), and tells a replaced file from the one
// we had.
type ID struct{ Dev, Ino uint64 }

func (id ID) String() string { return fmt.Sprintf("%d:%d", id.Dev, id.Ino) }

// IDOf is the identity of the file fi describes; ok is false where the
// file system gives no inode (fi not from os.Stat/Lstat/File.Stat).
func IDOf(fi fs.FileInfo) (id ID, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ID{}, false
	}
	return ID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, true
}

// Owner is the uid owning the file fi describes.
func Owner(fi fs.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// Group is the gid of the file fi describes.
func Group(fi fs.FileInfo) (gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Gid), true
}

// Links is the number of hard links of the file fi describes (0 if
// unknown).
func Links(fi fs.FileInfo) uint64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return uint64(st.Nlink)
}
