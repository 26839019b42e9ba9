package pipe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoSplice is a file the kernel cannot splice from (EINVAL: a file
// system without splice support), or one already closed: nothing was
// written, and the caller writes the bytes itself.
var ErrNoSplice = errors.New("cannot splice from this file")

// SendFile moves n bytes of f, from offset *off on, into w, the write end
// of a pipe in non-blocking mode on the runtime poller (the input of an
// ssh child, as os.Pipe makes it), waiting while the pipe is full. The
// bytes go from the page cache into the pipe by reference (splice(2)),
// never through this process's memory, and splice advances *off in the
// same system call that moves them: *off always says exactly how far w
// has taken f, also when this process is killed at any moment (see Feed;
// *off may be a word in a file mapped shared).
//
// The pipe then holds references to f's pages, not copies: the bytes
// moved must not be written again while a reader may still get them
// (segment files of the spool only grow).
//
// Errors, all but the last before anything was written: ErrNotPipe (w is
// not a descriptor), ErrNoSplice (f cannot be spliced from, or is
// closed), io.ErrUnexpectedEOF (f ended before n bytes: what came before
// was moved), or why the pipe refused (EPIPE: its reader is gone).
func SendFile(w io.Writer, f *os.File, off *int64, n int) error {
	rc, err := writeConn(w)
	if err != nil {
		return err
	}
	var serr error
	if cerr := control(f, func(in int) { _, serr = sendFD(rc, in, off, n) }); cerr != nil {
		return fmt.Errorf("%w: %w", ErrNoSplice, cerr)
	}
	return serr
}

// writeConn returns the raw connection of w, a pipe descriptor, or
// ErrNotPipe.
func writeConn(w io.Writer) (syscall.RawConn, error) {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return nil, ErrNotPipe
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, ErrNotPipe
	}
	return rc, nil
}

// sendFD is the one loop that moves bytes into a pipe on the poller: n
// bytes from descriptor in (a file at *off, or a pipe when off is nil)
// into rc, waiting while rc is full. It returns how many moved and, when
// fewer than n, why (see SendFile).
func sendFD(rc syscall.RawConn, in int, off *int64, n int) (int, error) {
	moved := 0
	var serr error
	err := rc.Write(func(fd uintptr) bool {
		k, err := move(in, off, int(fd), nil, n-moved)
		moved += k
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			return false // the pipe is full: wait
		case errors.Is(err, errSourceEnded):
			serr = fmt.Errorf("splice into pipe: %w after %d of %d bytes", io.ErrUnexpectedEOF, moved, n)
		case errors.Is(err, unix.EINVAL) && moved == 0:
			serr = fmt.Errorf("%w: %w", ErrNoSplice, err)
		default:
			serr = fmt.Errorf("splice into pipe: %w", err)
		}
		return true
	})
	if serr == nil {
		serr = err
	}
	return moved, serr
}

// Stage puts frames, a few bytes of header and a payload that lies in a
// file, into a pipe each in one piece, without copying the payload
// through this process: header and payload are gathered in a private
// pipe (write, then splice from the file's page cache) and moved on into
// the destination pipe with one splice, which wakes its reader once per
// frame, as one write(2) of the whole frame does. Writing the header
// into the destination first and splicing the payload after it would wake
// the reader for the header alone.
//
// A Stage is for one goroutine; its pipe must be as large as a frame
// (NewStage asks for 1 MiB), or a frame goes in several pieces.
type Stage struct {
	r, w *os.File
}

// NewStage makes a Stage with its private pipe.
func NewStage() (*Stage, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("staging pipe: %w", err)
	}
	Grow(w, 1<<20)
	return &Stage{r: r, w: w}, nil
}

// Close releases the private pipe.
func (st *Stage) Close() error {
	return errors.Join(st.r.Close(), st.w.Close())
}

// SendFrame writes head and then n bytes of f from offset off on into w,
// the write end of a pipe on the runtime poller, waiting while it is
// full. Errors as SendFile's; after ErrNotPipe and ErrNoSplice nothing
// was written into w, and the caller writes the frame itself. After
// another error, part of the frame may have reached w, and the stream
// through w is broken.
func (st *Stage) SendFrame(w io.Writer, head []byte, f *os.File, off int64, n int) error {
	rc, err := writeConn(w)
	if err != nil {
		return err
	}
	var serr error
	cerr := control(f, func(in int) {
		serr = control2(st.r, st.w, func(sr, sw int) error { return st.send(rc, sr, sw, head, in, off, n) })
	})
	switch {
	case cerr != nil:
		return fmt.Errorf("%w: %w", ErrNoSplice, cerr)
	case serr != nil:
		// Whatever is left in the private pipe belongs to no frame.
		st.empty()
	}
	return serr
}

// send gathers head and up to as much of the payload as the private pipe
// (sr, sw) takes, moves all of it on into rc, and again until the frame
// is through.
func (st *Stage) send(rc syscall.RawConn, sr, sw int, head []byte, in int, off int64, n int) error {
	queued, err := writeAll(sw, head)
	if err != nil {
		return fmt.Errorf("staging pipe: %w", err)
	}
	for left, first := n, true; left > 0 || queued > 0; first = false {
		if left > 0 {
			k, err := move(in, &off, sw, nil, left)
			left -= k
			queued += k
			switch {
			case err == nil, errors.Is(err, unix.EAGAIN) && queued > 0:
			case errors.Is(err, errSourceEnded):
				return fmt.Errorf("splice into pipe: %w after %d of %d bytes", io.ErrUnexpectedEOF, n-left, n)
			case errors.Is(err, unix.EINVAL) && first && k == 0:
				return fmt.Errorf("%w: %w", ErrNoSplice, err)
			default:
				return fmt.Errorf("splice into the staging pipe: %w", err)
			}
		}
		k, err := sendFD(rc, sr, nil, queued)
		queued -= k
		if err != nil {
			return err
		}
	}
	return nil
}

// writeAll writes p into the pipe behind fd, which has room for it.
func writeAll(fd int, p []byte) (int, error) {
	for done := 0; done < len(p); {
		k, err := unix.Write(fd, p[done:])
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return done, err
		default:
			done += k
		}
	}
	return len(p), nil
}

// empty drains the private pipe after a frame that failed.
func (st *Stage) empty() {
	var buf [64 << 10]byte
	_ = control(st.r, func(fd int) {
		for {
			if k, err := unix.Read(fd, buf[:]); k <= 0 && !errors.Is(err, unix.EINTR) {
				return
			}
		}
	})
}

// control2 runs fn with the descriptors of a and b.
func control2(a, b *os.File, fn func(fa, fb int) error) error {
	var err error
	cerr := control(a, func(fa int) {
		if cerr := control(b, func(fb int) { err = fn(fa, fb) }); err == nil {
			err = cerr
		}
	})
	if err == nil {
		err = cerr
	}
	return err
}
