package fsutil

import (
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
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

// UserName is the name of user uid, or its number when it has none.
func UserName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// GroupName is the name of group gid, or its number when it has none.
func GroupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// DescribeOwner is "PATH (owner O, group G, mode M)": what a message about
// permissions must show. fi may be nil (then it is PATH alone).
func DescribeOwner(path string, fi fs.FileInfo) string {
	if fi == nil {
		return path
	}
	uid, uok := Owner(fi)
	gid, gok := Group(fi)
	if !uok || !gok {
		return path
	}
	return fmt.Sprintf("%s (owner %s, group %s, mode %04o)", path, UserName(uid), GroupName(gid), fi.Mode().Perm())
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
