package pull

import (
	"fmt"
	"io"
	"os"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// output is where pulled data goes: a file opened for appending, or
// standard output.
type output struct {
	path string // "" for standard output
	f    *os.File
	last byte // last byte written, 0 if nothing yet
}

// stdoutOutput is standard output; it counts as ending with a newline, so
// that nothing is added before the first line.
func stdoutOutput() *output { return &output{f: os.Stdout, last: '\n'} }

// openOutput opens path for appending, creating it mode 0640, and learns
// its last byte so that a line cut by a rotation can be ended.
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
	if err != nil {
		f.Close()
		return nil, err
	}
	return &output{path: path, f: f, last: lastByte(path, fi.Size())}, nil
}

// lastByte is the byte at size-1 of path, 0 if none or unreadable.
func lastByte(path string, size int64) byte {
	if size <= 0 {
		return 0
	}
	r, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer r.Close()
	var b [1]byte
	if _, err := r.ReadAt(b[:], size-1); err != nil && err != io.EOF {
		return 0
	}
	return b[0]
}

// write appends p entirely or not at all: after a failed write (disk full)
// a file is cut back, so that a retry does not leave half a chunk twice.
func (o *output) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	var before int64 = -1
	if o.path != "" {
		if fi, err := o.f.Stat(); err == nil {
			before = fi.Size()
		}
	}
	if _, err := o.f.Write(p); err != nil {
		if before >= 0 {
			o.f.Truncate(before)
		}
		return fmt.Errorf("write %s: %w", o.name(), err)
	}
	o.last = p[len(p)-1]
	return nil
}

// endsLine reports whether the output ends at a line end (or is empty).
func (o *output) endsLine() bool { return o.last == '\n' || o.last == 0 }

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
	return o.f.Close()
}
