package tailer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

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
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
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
		return nil, fi, fmt.Errorf("%s is %s: %w", name, describe(fi.Mode()), errNotRegular)
	}
	id, ok := fsutil.IDOf(fi)
	if !ok {
		f.Close()
		return nil, fi, fmt.Errorf("open %s: no device and inode number available", name)
	}
	return &file{f: f, id: id, name: name}, fi, nil
}

func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "of type " + m.Type().String()
}

// sibling is a file in the followed file's directory whose name says it may
// be a rotated generation of it.
type sibling struct {
	name  string // full path
	id    fsutil.ID
	mtime time.Time
	// rotated is true for names that look like logrotate generations
	// (name.1, name-20240101, name.2024-01-01): only those are read as
	// generations we missed; name.pos or name-backup are not.
	rotated bool
}

// compressedExt lists the suffixes of compressed rotated files. Compression
// writes a new inode, so a cursor can never point into one, and its bytes are
// not the log's bytes.
var compressedExt = map[string]bool{
	".gz": true, ".xz": true, ".bz2": true, ".zst": true, ".lz4": true,
	".lzma": true, ".lzo": true, ".z": true, ".zip": true,
}

// siblingKind classifies a directory entry relative to the followed base
// name: whether it is a candidate for rotated data (name.*, name-*), whether
// it is compressed, and whether it looks like a logrotate generation.
func siblingKind(base, name string) (candidate, compressed, rotated bool) {
	if len(name) < len(base)+2 || !strings.HasPrefix(name, base) {
		return false, false, false
	}
	if sep := name[len(base)]; sep != '.' && sep != '-' {
		return false, false, false
	}
	if compressedExt[strings.ToLower(filepath.Ext(name))] {
		return false, true, false
	}
	rest := name[len(base)+1:]
	digits := false
	for _, r := range rest {
		switch {
		case r >= '0' && r <= '9':
			digits = true
		case r == '-' || r == '_' || r == '.':
		default:
			return true, false, false
		}
	}
	return true, false, digits
}

// scanSiblings lists the regular files next to the followed file that may
// hold rotated data, and the names of compressed ones (for log messages).
func (t *Tailer) scanSiblings() (sibs []sibling, compressed []string, err error) {
	entries, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s for rotated files: %w", t.dir, err)
	}
	for _, e := range entries {
		cand, comp, rot := siblingKind(t.base, e.Name())
		if comp {
			compressed = append(compressed, e.Name())
		}
		if !cand || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // vanished since ReadDir
		}
		id, ok := fsutil.IDOf(fi)
		if !ok {
			continue
		}
		sibs = append(sibs, sibling{name: filepath.Join(t.dir, e.Name()), id: id, mtime: fi.ModTime(), rotated: rot})
	}
	return sibs, compressed, nil
}

// olderName orders two rotated names with equal modification times: name.2
// is older than name.1; otherwise the smaller name (an earlier date) is older.
func olderName(a, b string) bool {
	na, okA := generationNumber(a)
	nb, okB := generationNumber(b)
	if okA && okB {
		return na > nb
	}
	return a < b
}

func generationNumber(name string) (uint64, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return n, err == nil
}

// missedGenerations returns the rotated siblings that were written after
// after (strictly later modification time) and are not among known, oldest
// first. They are generations of the log that passed through the followed
// name while we were not looking: while we were down, or while we were still
// behind in an older generation.
//
// The comparison is strict so that an older generation is never read twice;
// the price is that a generation whose last write falls in the same
// timestamp tick as after's last write is not found.
func missedGenerations(sibs []sibling, after time.Time, known func(fsutil.ID) bool) []sibling {
	var out []sibling
	for _, s := range sibs {
		if s.rotated && s.mtime.After(after) && !known(s.id) {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].mtime.Equal(out[j].mtime) {
			return out[i].mtime.Before(out[j].mtime)
		}
		return olderName(out[i].name, out[j].name)
	})
	return out
}
