package pipe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// This file moves bytes between a pipe and a file, or between two pipes,
// without copying them through this process: splice(2). From a file into
// a pipe the pipe takes references to the file's pages in the page cache
// (no copy at all); between pipes the pages move. It is measured to pay
// only there: into a regular file the kernel copies the pipe's pages into
// the page cache anyway, and read plus write cost the same.
//
// The functions fall back to copying (read and write through a buffer)
// wherever splice cannot be used: a side that is not a file descriptor
// (a test's io.Pipe, a bytes.Buffer), or a kernel that refuses the pair
// (EINVAL: a file opened with O_APPEND, two regular files, a file system
// without splice). The caller gets the same bytes either way.

// Private makes a pipe for this process's own use, enlarged to want bytes
// if it can be (see Grow), and returns its ends and its size. Its ends
// are blocking, off the runtime poller: serve fills it only when it is
// empty (SpliceFromFile) and empties it into its output (SpliceAll), so
// it never waits on it.
func Private(want int) (r, w *os.File, size int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, 0, fmt.Errorf("pipe: %w", err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1")
	return r, w, Grow(w, want), nil
}

// spliceCopyBuf is the buffer size of the copying fallback.
const spliceCopyBuf = 64 << 10

// SpliceFromFile moves up to max bytes of the regular file f, starting at
// *off, into the pipe w in one step, advances *off by what moved and
// returns that count: fewer than max when the pipe has less room or f
// ends first, and 0 with io.EOF when f has nothing at *off. When w is a
// pipe in non-blocking mode on the runtime poller (os.Pipe's ends) and is
// full, it waits until it has room; a blocking w blocks in the kernel.
//
// Pages moved this way are the page cache's own: until the pipe's reader
// has taken them, a truncation of f to a size inside one of them, or a
// rewrite in place, changes what the reader gets. Log files only grow.
func SpliceFromFile(w io.Writer, f *os.File, off *int64, max int) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	n, err := spliceStep(w, nil, f, off, max)
	if errors.Is(err, errNoSplice) {
		buf := make([]byte, min(max, spliceCopyBuf))
		m, rerr := f.ReadAt(buf, *off)
		if m > 0 {
			wrote, werr := w.Write(buf[:m])
			*off += int64(wrote)
			return wrote, werr
		}
		if rerr == nil {
			rerr = io.EOF
		}
		return 0, rerr
	}
	return n, err
}

// SpliceAll moves exactly n bytes from the pipe r into w, in as many
// steps as it takes: into a pipe or a file at its position (off nil), or
// into the regular file w at *off, which it advances. serve moves a data
// frame's payload from its own pipe (filled by SpliceFromFile) to its
// client; pull moves one from ssh's pipe into its output. While r is
// empty, or w is a full pipe, a side on the runtime poller is waited for
// and a blocking side blocks in the kernel. It returns how many bytes
// moved; fewer than n only with an error (io.ErrUnexpectedEOF when r ends
// first). The copying fallback writes at *off with WriteAt.
func SpliceAll(w io.Writer, off *int64, r io.Reader, n int) (int, error) {
	moved := 0
	for moved < n {
		m, err := spliceStep(w, off, r, nil, n-moved)
		if errors.Is(err, errNoSplice) {
			c, cerr := copyN(w, off, r, n-moved)
			moved += c
			return moved, cerr
		}
		moved += m
		if err == io.EOF {
			return moved, io.ErrUnexpectedEOF
		}
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// copyN copies n bytes from r to w (at *off, advancing it, when off is
// set), for SpliceAll where splice cannot be used.
func copyN(w io.Writer, off *int64, r io.Reader, n int) (int, error) {
	if off != nil {
		wa, ok := w.(io.WriterAt)
		if !ok {
			return 0, fmt.Errorf("copy to offset %d: %T cannot write at an offset", *off, w)
		}
		w = &atWriter{w: wa, off: off}
	}
	c, err := io.CopyN(w, r, int64(n))
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

// WaitQueued waits until the pipe r holds at least n bytes, or its last
// writer has gone, and returns how many bytes it holds: pull waits,
// without holding its locks, until a frame's payload is all there, and
// then moves it into its output at once. It waits on the runtime poller,
// woken by every write into the pipe; r must be on it (os.Pipe's read
// end). A pipe smaller than n bytes never holds them: the caller must not
// ask for more than fits. r not a descriptor: ErrNotPipe.
func WaitQueued(r io.Reader, n int) (int, error) {
	fd, ok := rawFD(r)
	if !ok {
		return 0, ErrNotPipe
	}
	defer runtime.KeepAlive(r)
	have := 0
	err := rawConn(r).Read(func(uintptr) bool {
		if have = queued(fd); have >= n {
			return true
		}
		// Fewer bytes: wait, unless no writer is left (POLLHUP).
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if m, err := unix.Poll(p, 0); err != nil || m > 0 && p[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			return true
		}
		return false
	})
	return have, err
}

// errNoSplice: splice cannot be used for this pair; copy instead. It is
// returned only before any byte moved.
var errNoSplice = errors.New("splice not possible")

// spliceStep is one successful splice(2) of at most max bytes from src
// (at *srcOff, or from its position when srcOff is nil) to dst (likewise),
// retried on EINTR and, on EAGAIN, once the runtime poller says that the
// side that kept it from moving is ready: the destination pipe when the
// source is a file or holds bytes, else the source pipe. A side that
// blocks in the kernel is never waited for here. It returns io.EOF when
// src has ended, and errNoSplice when splice cannot be used at all.
func spliceStep(dst io.Writer, dstOff *int64, src io.Reader, srcOff *int64, max int) (int, error) {
	dfd, ok := rawFD(dst)
	if !ok {
		return 0, errNoSplice
	}
	sfd, ok := rawFD(src)
	if !ok {
		return 0, errNoSplice
	}
	defer runtime.KeepAlive(dst)
	defer runtime.KeepAlive(src)
	var n int64
	var serr error
	try := func(uintptr) bool {
		for {
			n, serr = unix.Splice(sfd, srcOff, dfd, dstOff, max, 0)
			if !errors.Is(serr, unix.EINTR) {
				return !errors.Is(serr, unix.EAGAIN)
			}
		}
	}
	var err error
	if srcOff == nil && queued(sfd) == 0 {
		err = rawConn(src).Read(try) // the source pipe is empty
	} else {
		err = rawConn(dst).Write(try) // the destination pipe is full
	}
	switch {
	case errors.Is(serr, unix.EINVAL) || errors.Is(serr, unix.ENOSYS):
		return 0, errNoSplice
	case serr != nil && !errors.Is(serr, unix.EAGAIN):
		return 0, fmt.Errorf("splice: %w", serr)
	case err != nil:
		// The poller could not wait: the descriptor was closed, or a
		// descriptor it does not know answered EAGAIN.
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// queued is how many bytes wait in the pipe fd (0 if that cannot be
// told).
func queued(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

// rawConn is v's syscall.RawConn; rawFD has checked that it has one.
func rawConn(v any) syscall.RawConn {
	rc, _ := v.(syscall.Conn).SyscallConn()
	return rc
}

// rawFD is the descriptor behind v, if it is one, taken without f.Fd()
// (which would put a pipe back into blocking mode). v must be kept alive
// while fd is used.
func rawFD(v any) (fd int, ok bool) {
	sc, isConn := v.(syscall.Conn)
	if !isConn {
		return -1, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd = -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return -1, false
	}
	return fd, true
}
