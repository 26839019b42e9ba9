package pipe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// FIFO is an open named pipe.
type FIFO struct {
	Path string
	f    *os.File
	size int
}

// Ensure creates the FIFO at path with exactly mode (the umask does not
// apply) if nothing exists there; a mode wider than MaxMode is refused
// (ErrUnsafe). An existing FIFO is left alone: a syslog daemon that holds
// it open would otherwise write into a deleted pipe that nobody reads. But
// it must be ours or root's and closed to others (ErrUnsafe otherwise, see
// checkExisting). Anything else at path is an error.
func Ensure(path string, mode fs.FileMode) (created bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if fi.Mode().Type() != fs.ModeNamedPipe {
			return false, fmt.Errorf("fifo %s: exists and is not a named pipe (%s); refusing to touch it", path, fsutil.DescribeMode(fi.Mode()))
		}
		return false, checkExisting(path, fi)
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("fifo %s: %w", path, err)
	}
	if err := CheckMode(mode); err != nil {
		return false, fmt.Errorf("create fifo %s: %w", path, err)
	}
	if err := unix.Mkfifo(path, uint32(mode.Perm())); err != nil {
		return false, fmt.Errorf("create fifo %s: %w", path, err)
	}
	if err := os.Chmod(path, mode.Perm()); err != nil {
		return true, fmt.Errorf("chmod fifo %s: %w", path, err)
	}
	return true, nil
}

// Open ensures the FIFO exists (see Ensure) and opens it for reading.
//
// It opens O_RDWR, not O_RDONLY: holding a write end ourselves means the
// reader never sees EOF when the last writer closes (rsyslog closes the pipe
// on every SIGHUP), which would otherwise turn into a busy loop of empty
// reads, and opening never blocks waiting for a writer. It also keeps
// whatever is in the pipe alive while no writer holds it.
//
// The file goes through os.OpenFile so it sits on Go's poller: Close
// unblocks a pending Read and SetReadDeadline works. (Calling Fd on it
// would switch it back to blocking mode; we use SyscallConn instead.)
func Open(path string, mode fs.FileMode) (*FIFO, error) {
	if _, err := Ensure(path, mode); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open fifo %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		f.Close()
		return nil, fmt.Errorf("open fifo %s: not a named pipe after opening (replaced meanwhile?)", path)
	}
	// Checked again on what was opened: it may have been replaced since.
	if err := checkExisting(path, fi); err != nil {
		f.Close()
		return nil, err
	}
	return wrap(path, f), nil
}

// wrap makes an open FIFO ours, as large as the system allows, so that a
// writer that does not block (rsyslog) gets as much room as possible.
func wrap(path string, f *os.File) *FIFO {
	return &FIFO{Path: path, f: f, size: Grow(f, MaxSize())}
}

// Size is the pipe buffer size in bytes after enlarging it.
func (p *FIFO) Size() int { return p.size }

// Read reads what writers have written. It blocks until data arrives, the
// deadline passes or the FIFO is closed; it never returns io.EOF while
// open.
func (p *FIFO) Read(b []byte) (int, error) { return p.f.Read(b) }

// SetReadDeadline bounds a pending or future Read.
func (p *FIFO) SetReadDeadline(t time.Time) error { return p.f.SetReadDeadline(t) }

// SyscallConn gives the descriptor to splice(2) and tee(2) (see Source)
// without taking it off the poller, as Fd would.
func (p *FIFO) SyscallConn() (syscall.RawConn, error) { return p.f.SyscallConn() }

// Close releases the FIFO and unblocks a pending Read (which returns
// os.ErrClosed). The FIFO itself stays in place.
func (p *FIFO) Close() error { return p.f.Close() }
