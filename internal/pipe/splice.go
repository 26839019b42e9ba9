package pipe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoSplice says that splice(2) cannot be used for this pair and that
// nothing was moved: the caller writes the bytes itself. It is the one
// rule for falling back to copying: a side that is no descriptor
// (ErrNotPipe), a kernel that refuses the pair (EINVAL: a file opened
// with O_APPEND, two regular files, a file system without splice;
// ENOSYS), a file already closed. Once bytes have moved, a refusal is an
// error like any other.
var ErrNoSplice = errors.New("cannot splice")

// ErrNotPipe is a reader or writer that is no pipe descriptor (a test's
// io.Pipe, a bytes.Buffer; for NewSource also a regular file or a
// terminal). It is an ErrNoSplice: the caller reads or writes it as
// usual.
var ErrNotPipe = fmt.Errorf("%w: not a pipe descriptor", ErrNoSplice)

// errSourceEnded is a splice that moved nothing because its source had
// nothing more: a file at its end, a pipe without writers.
var errSourceEnded = errors.New("source ended")

// mode says how a move treats a pipe that is not ready and when it ends.
type mode uint8

const (
	// whole moves all the bytes asked for. A pipe in non-blocking mode
	// that is not ready (EAGAIN) is waited for on the runtime poller; a
	// blocking one blocks in the kernel.
	whole mode = iota
	// step returns after the first bytes moved, waiting as whole does
	// until some can.
	step
	// ready moves what can move at once and never waits
	// (SPLICE_F_NONBLOCK): it stops with EAGAIN.
	ready
)

// mover is one move with splice(2) from descriptor in to out, one of
// them a pipe. inOff and outOff, when not nil, are the file offsets to
// use, and splice advances them itself, in the same system call that
// moves the bytes: that is what makes a count kept there exact when the
// process is killed at any moment. inConn and outConn are what is waited
// on.
type mover struct {
	in, out         int
	inOff, outOff   *int64
	inConn, outConn syscall.RawConn
}

// flow runs fn with the mover from r (at *rOff when set) to w (likewise),
// their descriptors held open meanwhile (see control), and returns what
// fn returns. A side that is no descriptor is ErrNotPipe, one already
// closed ErrNoSplice.
func flow(w any, wOff *int64, r any, rOff *int64, fn func(mv *mover) error) error {
	var err error
	cerr := control2(r, w, func(in, out int) error {
		inConn, _ := rawConn(r)
		outConn, _ := rawConn(w)
		err = fn(&mover{in: in, out: out, inOff: rOff, outOff: wOff, inConn: inConn, outConn: outConn})
		return nil
	})
	switch {
	case cerr == nil:
		return err
	case errors.Is(cerr, ErrNotPipe):
		return cerr
	}
	return fmt.Errorf("%w: %w", ErrNoSplice, cerr)
}

// run is this package's one splice loop: it moves up to n bytes, going on
// after EINTR and short moves, and waits as m says. It returns how many
// bytes moved and, when fewer than n (or than asked for in step mode),
// why: errSourceEnded, EAGAIN (ready mode), why the poller could not
// wait (the descriptor was closed, a deadline passed, a blocking
// descriptor answered EAGAIN), or splice's error.
func (mv *mover) run(n int, m mode) (int, error) {
	flags := 0
	if m == ready {
		flags = unix.SPLICE_F_NONBLOCK
	}
	moved := 0
	for moved < n {
		k, err := unix.Splice(mv.in, mv.inOff, mv.out, mv.outOff, n-moved, flags)
		switch {
		case err == nil && k == 0:
			return moved, errSourceEnded
		case err == nil:
			moved += int(k)
			if m == step {
				return moved, nil
			}
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN) && m != ready:
			if err := mv.wait(); err != nil {
				return moved, err
			}
		default:
			return moved, err
		}
	}
	return moved, nil
}

// wait waits on the runtime poller for the pipe that kept a splice from
// moving: the source while it is an empty pipe, else the destination.
// The readiness is checked inside the poller's callback, after it has
// armed itself, so that no wake-up is lost in between.
func (mv *mover) wait() error {
	rc, events := mv.outConn, int16(unix.POLLOUT)
	if mv.inOff == nil && queued(mv.in) == 0 {
		rc, events = mv.inConn, unix.POLLIN
	}
	isReady := func(fd uintptr) bool {
		ev, err := poll(int(fd), events, 0)
		return err != nil || ev != 0 // ready, hung up or not pollable: splice tells
	}
	if events == unix.POLLIN {
		return rc.Read(isReady)
	}
	return rc.Write(isReady)
}

// why turns what stopped a move after moved of n bytes into what the
// callers are told: io.ErrUnexpectedEOF when the source ended early,
// ErrNoSplice (see there) when nothing moved because the kernel refuses
// the pair, else the error as it is.
func why(err error, moved, n int) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errSourceEnded):
		return fmt.Errorf("splice: %w after %d of %d bytes", io.ErrUnexpectedEOF, moved, n)
	case moved == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)):
		return fmt.Errorf("%w: %w", ErrNoSplice, err)
	}
	return fmt.Errorf("splice: %w", err)
}

// splice moves n bytes from r (at *rOff, advancing it, when set) to w
// (likewise) as m says, and returns how many moved; fewer than n only
// with an error (see why), or in step mode.
func splice(w any, wOff *int64, r any, rOff *int64, n int, m mode) (int, error) {
	moved := 0
	err := flow(w, wOff, r, rOff, func(mv *mover) error {
		var err error
		moved, err = mv.run(n, m)
		return why(err, moved, n)
	})
	return moved, err
}

// transfer is splice, and where it cannot be used (ErrNoSplice) copies
// the bytes through a buffer instead, with the same result: in step mode
// at most copyBuf bytes.
func transfer(w io.Writer, wOff *int64, r io.Reader, rOff *int64, n int, m mode) (int, error) {
	moved, err := splice(w, wOff, r, rOff, n, m)
	if !errors.Is(err, ErrNoSplice) {
		return moved, err
	}
	if m == step {
		n = min(n, copyBuf)
	}
	return copyN(w, wOff, r, rOff, n)
}

// copyBuf is the most one step of the copying fallback moves.
const copyBuf = 64 << 10

// copyN is the one fallback where splice cannot be used: it copies n
// bytes from r to w, at *rOff and *wOff where they are set (advancing
// them by what was written), and returns how many it wrote: fewer than n
// only with an error, io.ErrUnexpectedEOF when r ends first.
func copyN(w io.Writer, wOff *int64, r io.Reader, rOff *int64, n int) (int, error) {
	if rOff != nil {
		ra, ok := r.(io.ReaderAt)
		if !ok {
			return 0, fmt.Errorf("copy from offset %d: %T cannot read at an offset", *rOff, r)
		}
		r = io.NewSectionReader(ra, *rOff, int64(n))
	}
	if wOff != nil {
		wa, ok := w.(io.WriterAt)
		if !ok {
			return 0, fmt.Errorf("copy to offset %d: %T cannot write at an offset", *wOff, w)
		}
		w = &atWriter{w: wa, off: wOff}
	}
	c, err := io.CopyN(w, r, int64(n))
	if rOff != nil {
		*rOff += c
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return int(c), err
}

// atWriter writes at *off and advances it.
type atWriter struct {
	w   io.WriterAt
	off *int64
}

func (a *atWriter) Write(p []byte) (int, error) {
	n, err := a.w.WriteAt(p, *a.off)
	*a.off += int64(n)
	return n, err
}

// Private makes a pipe for this process's own use, enlarged to want bytes
// if it can be (see Grow), and returns its ends and its size. Its ends
// are blocking, off the runtime poller: serve fills it only when it is
// empty (SpliceFromFile) and empties it into its output (SpliceAll), so
// it never waits on it.
func Private(want int) (r, w *os.File, size int, err error) {
	return newPipe(want, 0)
}

// newPipe is the one constructor of this process's own pipes: closed on
// exec, enlarged to want bytes (see Grow). flags may add O_NONBLOCK:
// the ends are then on the runtime poller, as os.Pipe's are.
func newPipe(want, flags int) (r, w *os.File, size int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|flags); err != nil {
		return nil, nil, 0, fmt.Errorf("pipe: %w", err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1")
	return r, w, Grow(w, want), nil
}
