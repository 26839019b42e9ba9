package tailer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// file is an open file the Tailer reads or will read.
type file struct {
	f    *os.File
	id   fsutil.ID
	name string // the name it had when opened; it may have moved since
	off  int64  // next byte to read
}

func (f *file) cursor() Cursor { return Cursor{Dev: f.id.Dev, Ino: f.id.Ino, Offset: f.off} }

// errNotRegular reports a name that exists but is not a regular file.
var errNotRegular = errors.New("not a regular file")

// openFile opens name for reading and identifies the opened descriptor (not
// the name, which may change between a stat and the open). It returns a nil
// file and no error when name does not exist.
//
// O_NONBLOCK keeps the open from hanging if a FIFO has taken the name; it has
// no effect on regular files, the only kind we then keep.
func openFile(name string) (*file, fs.FileInfo, error) {
	return openFileFlag(name, 0)
}

// openFileFlag is openFile with extra open flags (O_NOFOLLOW).
func openFileFlag(name string, flag int) (*file, fs.FileInfo, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|flag, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fi, fmt.Errorf("%s is %s: %w", name, fsutil.DescribeMode(fi.Mode()), errNotRegular)
	}
	id, ok := fsutil.IDOf(fi)
	if !ok {
		f.Close()
		return nil, fi, fmt.Errorf("open %s: no device and inode number available", name)
	}
	return &file{f: f, id: id, name: name}, fi, nil
}
