package pipe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Source is a pipe (a FIFO, or standard input when it is a pipe) whose
// bytes are moved out of it with splice(2) straight into a file, instead
// of being read into this process and written out again. A byte is then,
// at every instant, either still in the pipe or in the file, also when
// this process is killed -9 in the middle: the kernel takes the bytes out
// of the pipe and writes them into the file in the same system call, and
// the file's size counts them (the idea of Feed, where a mapped word is
// the count). Between a read(2) and the write(2) after it they would be
// only in this process's memory, and die with it.
//
// Peek waits for bytes and shows what the pipe holds without taking it
// (tee(2) into a scratch pipe, read from there), so that the caller can
// take whole lines and leave an unfinished one in the pipe until its end
// arrives.
type Source struct {
	conn     conn
	own      *os.File // standard input opened again, closed by Close
	writer   bool     // conn is open read-write: the pipe never ends
	scratchR *os.File // the scratch pipe Peek tees into and reads from
	scratchW *os.File
	buf      []byte // what Peek shows; as large as the scratch pipe
}

// conn is what a Source needs of a pipe: a descriptor on the runtime
// poller, so that Peek's wait honours the read deadline and Close.
type conn interface {
	io.Reader
	syscall.Conn
	SetReadDeadline(time.Time) error
}

// NewSource prepares r for moving its bytes out. r must be a pipe
// descriptor: a *FIFO or an *os.File (ErrNotPipe otherwise: a regular
// file, a terminal, a socket, a test's reader; the caller reads those).
// Standard input is a blocking descriptor, which the runtime poller does
// not take: it is opened again (/proc/self/fd), non-blocking, rather than
// changing the mode of the descriptor we were given, which it shares
// with whoever else holds it.
func NewSource(r io.Reader) (*Source, error) {
	c, ok := r.(conn)
	if !ok {
		return nil, ErrNotPipe
	}
	fd, err := descriptor(c)
	if err != nil {
		return nil, err
	}
	s := &Source{conn: c}
	if c.SetReadDeadline(time.Time{}) != nil {
		f, err := reopen(fd)
		if err != nil {
			return nil, err
		}
		s.conn, s.own = f, f
	}
	if err := s.openScratch(); err != nil {
		s.Close()
		return nil, err
	}
	_ = control(s.conn, func(fd int) {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		s.writer = err == nil && fl&unix.O_ACCMODE == unix.O_RDWR
	})
	return s, nil
}

// descriptor returns c's descriptor number, or ErrNotPipe when it is not
// a pipe.
func descriptor(c conn) (int, error) {
	var st unix.Stat_t
	fd := -1
	serr := control(c, func(f int) {
		if unix.Fstat(f, &st) == nil {
			fd = f
		}
	})
	if serr != nil || fd < 0 || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return 0, ErrNotPipe
	}
	return fd, nil
}

// reopen opens the pipe behind descriptor fd again, for reading,
// non-blocking.
func reopen(fd int) (*os.File, error) {
	var was unix.Stat_t
	if err := unix.Fstat(fd, &was); err != nil {
		return nil, fmt.Errorf("input pipe: %w", err)
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open the input pipe again, non-blocking: %w", err)
	}
	if err := samePipe(f, &was); err != nil {
		f.Close()
		return nil, fmt.Errorf("open the input pipe again, non-blocking: %w", err)
	}
	return f, nil
}

// samePipe checks that f, opened again, is the pipe was describes, on
// the poller.
func samePipe(f *os.File, was *unix.Stat_t) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Ino != was.Ino || st.Dev != was.Dev {
		return errors.New("got another file")
	}
	if f.SetReadDeadline(time.Time{}) != nil {
		return errors.New("not on the poller")
	}
	return nil
}

// openScratch makes the scratch pipe that Peek tees into, as large as
// the source pipe, so that one tee shows all of it.
func (s *Source) openScratch() error {
	size := 0
	if err := control(s.conn, func(fd int) { size, _ = unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0) }); err != nil {
		return err
	}
	r, w, got, err := newPipe(size, unix.O_NONBLOCK)
	if err != nil {
		return fmt.Errorf("scratch %w", err)
	}
	s.scratchR, s.scratchW = r, w
	s.buf = make([]byte, max(got, 4096))
	return nil
}

// Peek waits until the pipe holds more than have bytes and returns a copy
// of what it holds (at most as much as the scratch pipe takes), leaving it
// in the pipe. ended says that no writer holds the pipe any more, so that
// head is all that will ever come (never so for a FIFO we hold open
// read-write); it may then be no more than have bytes, or none. The read
// deadline bounds the wait (os.ErrDeadlineExceeded); closing the pipe ends
// it. head is valid until the next Peek.
//
// Waiting for more while an unfinished line sits in the pipe relies on
// every write waking a reader that waits with epoll, also when the pipe
// was not empty: so on Linux 6.18 (measured) and since 5.14; 5.5 to 5.13
// woke it only when the pipe had been empty.
func (s *Source) Peek(have int) (head []byte, ended bool, err error) {
	rc, err := rawConn(s.conn)
	if err != nil {
		return nil, false, err
	}
	k := 0
	var lerr error
	err = rc.Read(func(fd uintptr) bool {
		k, lerr = s.look(int(fd))
		switch {
		case lerr != nil, k > have, k == len(s.buf):
			return true
		case s.writer:
			return false // we hold a write end ourselves: it never ends
		}
		ended = hungUp(int(fd))
		return ended
	})
	if err == nil {
		err = lerr
	}
	return s.buf[:k], ended, err
}

// look copies what the pipe behind fd holds into s.buf, without taking
// it: tee(2) into the scratch pipe, read from there. An empty pipe is 0.
func (s *Source) look(fd int) (k int, err error) {
	cerr := control(s.scratchW, func(out int) { k, err = tee(fd, out, len(s.buf)) })
	switch {
	case cerr != nil:
		return 0, cerr
	case errors.Is(err, unix.EAGAIN):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("look into the pipe: %w", err)
	}
	cerr = control(s.scratchR, func(in int) {
		if got, rerr := readFD(in, s.buf[:k]); rerr != nil {
			err = fmt.Errorf("read the scratch pipe: %d of %d bytes: %w", got, k, rerr)
		}
	})
	if err == nil {
		err = cerr
	}
	return k, err
}

// tee duplicates up to n bytes of pipe in into pipe out.
func tee(in, out, n int) (int, error) {
	for {
		k, err := unix.Tee(in, out, n, unix.SPLICE_F_NONBLOCK)
		if !errors.Is(err, unix.EINTR) {
			return int(max(k, 0)), err
		}
	}
}

// MoveTo moves the first n bytes of the pipe (which Peek showed) into f
// at offset *off, and advances *off by what it moved, which it returns.
// Fewer than n move only when writing f fails (a full disk), or when this
// process is being killed (the move stops at a page boundary, the pipe
// keeps the rest); the error says why.
func (s *Source) MoveTo(f *os.File, off *int64, n int) (int, error) {
	moved, err := splice(f, off, s.conn, nil, n, ready)
	if err != nil {
		return moved, fmt.Errorf("splice from the pipe into %s: %w", f.Name(), err)
	}
	return moved, nil
}

// Read takes up to len(p) bytes out of the pipe into p, those Peek
// showed: for when they cannot go into a file (the caller keeps them in
// memory). It never waits: with another reader of the same pipe, fewer
// may be there.
func (s *Source) Read(p []byte) (int, error) {
	got := 0
	var rerr error
	err := control(s.conn, func(fd int) { got, rerr = readFD(fd, p) })
	if err == nil && rerr != nil {
		err = fmt.Errorf("read the pipe: %d of %d bytes: %w", got, len(p), rerr)
	}
	return got, err
}

// SetReadDeadline bounds a pending or future Peek.
func (s *Source) SetReadDeadline(t time.Time) error { return s.conn.SetReadDeadline(t) }

// Close releases the scratch pipe, and the pipe if NewSource opened it
// again; the pipe it was given is the caller's.
func (s *Source) Close() error {
	for _, f := range []*os.File{s.scratchR, s.scratchW} {
		if f != nil {
			f.Close()
		}
	}
	if s.own != nil {
		return s.own.Close()
	}
	return nil
}
