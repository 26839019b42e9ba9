package pipe

import (
	"errors"
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// The descriptors behind the readers and writers this package is given
// are taken here and only here: through syscall.Conn and RawConn.Control,
// never f.Fd(), which would put a pipe on the runtime poller back into
// blocking mode. Control also holds the descriptor open while it is used:
// a Close meanwhile waits, so that its number cannot be reused under us.

// rawConn is the raw connection of v, a descriptor (an *os.File, a
// *FIFO), or ErrNotPipe.
func rawConn(v any) (syscall.RawConn, error) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return nil, ErrNotPipe
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, ErrNotPipe
	}
	return rc, nil
}

// control runs fn with v's descriptor. v no descriptor: ErrNotPipe;
// closed: Control's error.
func control(v any, fn func(fd int)) error {
	rc, err := rawConn(v)
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// control2 runs fn with the descriptors of a and b (errors as control's,
// then fn's).
func control2(a, b any, fn func(fa, fb int) error) error {
	var err error
	cerr := control(a, func(fa int) {
		if cerr := control(b, func(fb int) { err = fn(fa, fb) }); cerr != nil {
			err = cerr
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// Queued is how many bytes wait in the pipe behind v (FIONREAD), or -1
// when that cannot be told (v is no descriptor). It takes nothing out.
func Queued(v any) int {
	n := -1
	if control(v, func(fd int) { n = queued(fd) }) != nil {
		return -1
	}
	return n
}

// Unread is how many bytes wait in the pipe w writes into (w its write
// end, the input of a child) that nobody can read any more: ok only once
// the pipe has no reader left (the child died, and nothing else holds its
// input). The pipe keeps them as long as w is open. While a reader is
// left, or w is no descriptor or closed, ok is false: the bytes may still
// be read. The caller must not be writing into w meanwhile.
func Unread(w any) (n int, ok bool) {
	_ = control(w, func(fd int) {
		// A pipe's write end polls POLLERR once its last reader is
		// gone, and no reader can come back: the count is final.
		if ev, err := poll(fd, 0, 0); err != nil || ev&unix.POLLERR == 0 {
			return
		}
		n = queued(fd)
		ok = n >= 0
	})
	return max(n, 0), ok
}

// queued is how many bytes wait in the pipe fd, or -1 when that cannot
// be told.
func queued(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
	if err != nil {
		return -1
	}
	return n
}

// hangup is what poll(2) says of a pipe whose other end is gone (or of
// a descriptor that is not open), whatever was asked.
const hangup = unix.POLLHUP | unix.POLLERR | unix.POLLNVAL

// poll is what poll(2) says of fd within timeout milliseconds (0: at
// once, without waiting): those of events that are ready, and POLLHUP,
// POLLERR, POLLNVAL; 0 when nothing is by then, and an error when fd
// cannot be polled. An interrupted poll is polled again.
func poll(fd int, events int16, timeout int) (int16, error) {
	p := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		p[0].Revents = 0
		n, err := unix.Poll(p, timeout)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return 0, err
		case n == 0:
			return 0, nil
		default:
			return p[0].Revents, nil
		}
	}
}

// hungUp reports whether the pipe behind fd has no writer any more.
func hungUp(fd int) bool {
	ev, err := poll(fd, unix.POLLIN, 0)
	return err == nil && ev&unix.POLLHUP != 0
}

// readFD reads len(p) bytes from fd into p, going on after EINTR and
// short reads, never waiting: it returns how many it read and, when
// fewer, why (EAGAIN: the pipe is empty; io.ErrUnexpectedEOF: it ended).
func readFD(fd int, p []byte) (int, error) {
	got := 0
	for got < len(p) {
		n, err := unix.Read(fd, p[got:])
		switch {
		case err == nil && n > 0:
			got += n
		case errors.Is(err, unix.EINTR):
		case err == nil:
			return got, io.ErrUnexpectedEOF
		default:
			return got, err
		}
	}
	return got, nil
}
