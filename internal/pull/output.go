package pull

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
)

// output is where pulled data goes: a file opened for appending, or
// standard output.
type output struct {
	path string // "" for standard output
	f    *os.File
	// at is the same file opened again, read-write and without O_APPEND:
	// splice(2) refuses to write into an O_APPEND descriptor, so payloads
	// moved straight from ssh's pipe (spliceIn) go in at the file's end
	// through it, and the tail is read back through it. nil: payloads are
	// written (standard output, or it could not be opened).
	at *os.File
	// tail is the output's last bytes (at most tailMax) up to where
	// pull's data ends: the bytes it last wrote, or found there at open.
	// Its last byte tells whether a line is open; its checksum goes into
	// the cursor record. stale: bytes were spliced in since, and tail is
	// read back from the file before it is used (freshTail).
	tail  []byte
	stale bool
}

// stdoutOutput is standard output; with no bytes known it counts as
// ending with a newline, so that nothing is added before the first line.
func stdoutOutput() *output { return &output{f: os.Stdout} }

// openOutput opens path for appending, creating it mode 0640, and reads
// its last bytes (the tail).
func openOutput(path string) (*output, error) {
	// Refuse a FIFO before opening it: opening one that nobody reads
	// would block forever.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open output %s: not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err // an *fs.PathError naming the path
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("open output %s: not a regular file", path)
	}
	if err == nil {
		o := &output{path: path, f: f, at: reopenAt(f, fi)}
		if err = o.loadTail(fi.Size()); err == nil {
			return o, nil
		}
		o.close()
		return nil, err
	}
	f.Close()
	return nil, err
}

// reopenAt opens the file behind f (whose stat is fi) once more,
// read-write without O_APPEND, through /proc/self/fd: the same inode,
// whatever its name is now. nil when that cannot be done (no /proc, no
// read permission): the output is then only written.
func reopenAt(f *os.File, fi os.FileInfo) *os.File {
	at, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	if afi, err := at.Stat(); err != nil || !os.SameFile(fi, afi) {
		at.Close()
		return nil
	}
	return at
}

// loadTail reads the output's last bytes before size as its tail.
func (o *output) loadTail(size int64) error {
	t, err := readTail(o.path, size, tailMax)
	if err != nil {
		return err
	}
	o.tail = t
	return nil
}

// readTail reads the n bytes of path before size (fewer if size < n).
func readTail(path string, size int64, n int) ([]byte, error) {
	if size <= 0 {
		return []byte{}, nil
	}
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readTailAt(r, path, size, n)
}

// readTailAt is readTail from r, the file at path.
func readTailAt(r io.ReaderAt, path string, size int64, n int) ([]byte, error) {
	from := max(size-int64(n), 0)
	b := make([]byte, size-from)
	if len(b) == 0 {
		return b, nil
	}
	if _, err := r.ReadAt(b, from); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("read %s: shorter than %d bytes", path, size)
		}
		return nil, err
	}
	return b, nil
}

// write appends p entirely or not at all: after a failed write (disk full)
// a file is cut back by what the write added, so that a retry does not
// leave half a chunk twice. (The size is looked up only then: a stat
// before every write cost a system call per chunk.)
func (o *output) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if n, err := o.f.Write(p); err != nil {
		if o.path != "" && n > 0 {
			if fi, serr := o.f.Stat(); serr == nil && fi.Size() >= int64(n) {
				o.f.Truncate(fi.Size() - int64(n))
			}
		}
		return fmt.Errorf("write %s: %w", o.name(), err)
	}
	o.wrote(p)
	return nil
}

// spliceIn appends head and then the next n bytes of the pipe r, all of
// it or nothing: the payload of one frame, whose first bytes the stream
// decoder had already read (head) and whose rest waits in ssh's pipe. The
// rest goes from the pipe into the file without being copied through
// pull (splice(2)). A failure (the pipe ended early, disk full) cuts the
// file back to its size before. It needs o.at.
func (o *output) spliceIn(head []byte, r io.Reader, n int) error {
	fi, err := o.at.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", o.path, err)
	}
	start := fi.Size()
	off := start
	if len(head) > 0 {
		var m int
		m, err = o.at.WriteAt(head, off)
		off += int64(m)
	}
	if err == nil && n > 0 {
		_, err = pipe.SpliceAll(o.at, &off, r, n)
	}
	if off > start {
		o.stale = true
	}
	if err != nil {
		if off > start {
			o.at.Truncate(start)
		}
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// freshTail reads the tail back from the file if bytes were spliced in
// since it was last known.
func (o *output) freshTail() error {
	if !o.stale {
		return nil
	}
	fi, err := o.at.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", o.path, err)
	}
	t, err := readTailAt(o.at, o.path, fi.Size(), tailMax)
	if err != nil {
		return err
	}
	o.tail, o.stale = t, false
	return nil
}

// wrote adds p, now at the output's end, to the tail.
func (o *output) wrote(p []byte) {
	if o.stale {
		return // read back from the file when needed, p included
	}
	if len(p) >= tailMax {
		o.tail = append(o.tail[:0], p[len(p)-tailMax:]...)
		return
	}
	if drop := len(o.tail) + len(p) - tailMax; drop > 0 {
		o.tail = append(o.tail[:0], o.tail[drop:]...)
	}
	o.tail = append(o.tail, p...)
}

// endsLine reports whether the output ends at a line end (or is empty).
func (o *output) endsLine() bool {
	o.freshTail() // on an error, the tail as last known
	return len(o.tail) == 0 || o.tail[len(o.tail)-1] == '\n'
}

// tailSum is the checksum of the tail's last bytes that lie within the
// first size bytes of the output, and their count (the record's tail).
// The caller has made the tail fresh.
func (o *output) tailSum(size int64) (int, [sha256.Size]byte) {
	t := o.tail
	if int64(len(t)) > size {
		t = t[int64(len(t))-size:]
	}
	return len(t), sha256.Sum256(t)
}

func (o *output) name() string {
	if o.path == "" {
		return "standard output"
	}
	return o.path
}

func (o *output) sync() error {
	if o.path == "" {
		return nil
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", o.path, err)
	}
	return nil
}

// stat is the output's identity and size, as the cursor file records them.
func (o *output) stat() (fsutil.ID, int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return fsutil.ID{}, 0, fmt.Errorf("stat %s: %w", o.name(), err)
	}
	id, _ := fsutil.IDOf(fi)
	return id, fi.Size(), nil
}

func (o *output) close() error {
	if o.path == "" {
		return nil
	}
	if o.at != nil {
		o.at.Close()
	}
	return o.f.Close()
}
