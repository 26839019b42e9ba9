package testlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
)

// Mode is what a Writer does when its destination, a pipe, is full.
type Mode int

const (
	// Block writes with ordinary blocking writes: a full pipe makes the
	// writer wait, as a logging daemon that waits does.
	Block Mode = iota
	// Drop writes each line with one non-blocking write(2), as rsyslog's
	// ompipe does: a line that finds the pipe full is dropped and counted,
	// never retried.
	Drop
	// Retry writes whole lines in non-blocking chunks of at most PIPE_BUF
	// bytes, so that each is atomic, and retries a chunk that finds the
	// pipe full a millisecond later, counting the stall (rsyslog with
	// action.resumeRetryCount="-1"). Every line it counts as written is in
	// the pipe: whatever does not arrive was lost after it.
	Retry
)

// pipeBuf is PIPE_BUF: the largest write a pipe takes atomically.
const pipeBuf = 4096

// WriterOptions vary a Writer.
type WriterOptions struct {
	Mode Mode
	// Tick is how often a paced run wakes up to write what fell due;
	// default 2 ms.
	Tick time.Duration
	// Clock paces the writer and times Retry's waits; nil is real time.
	Clock clock.Clock
	// Reopen (Drop, with OpenWriter, a FIFO opened write-only) behaves
	// like a writer that holds no read end when the reader goes away: a
	// write that fails with EPIPE drops its line and closes the pipe, so
	// that whatever was unread in it is gone with the last descriptor,
	// and each next line first opens the path again, dropped while that
	// fails with ENXIO (no reader yet).
	Reopen bool
}

// Writer writes the lines of a numbered stream, in order, into one
// destination: a FIFO, a file or any io.Writer. It can write a number of
// lines at once (Write), or at a rate, in the caller's goroutine (Run) or
// in its own (Start).
type Writer struct {
	lines Lines
	opts  WriterOptions
	clock clock.Clock
	tb    testing.TB // reports Write's failures; nil for NewWriter
	open  func() (*os.File, error)
	path  string

	mu   sync.Mutex // held by a write, for as long as it stalls
	next int        // under mu
	buf  []byte     // under mu

	dstMu sync.Mutex // held only to swap or look at dst, never to write
	dst   io.Writer

	nextSeen, written, dropped, stalls atomic.Int64
	paused                             atomic.Bool

	cancel context.CancelFunc
	done   chan struct{}
	err    error // why a started run ended early; read after done
}

// NewWriter writes into dst; Drop and Retry need an *os.File opened
// O_NONBLOCK.
func NewWriter(dst io.Writer, lines Lines, o WriterOptions) *Writer {
	if o.Tick == 0 {
		o.Tick = 2 * time.Millisecond
	}
	return &Writer{lines: lines, opts: o, clock: clock.OrReal(o.Clock), dst: dst}
}

// OpenWriter opens path with flag (O_NONBLOCK added for Drop and Retry)
// and perm, waiting up to 10 s while that fails: push creates its FIFO
// only once it runs, and a FIFO opened non-blocking for writing has to
// have a reader first. A failed Write or Reopen fails the test; its
// cleanup stops the writer and closes the file.
func OpenWriter(t testing.TB, path string, flag int, perm os.FileMode, lines Lines, o WriterOptions) *Writer {
	t.Helper()
	if o.Mode != Block {
		flag |= syscall.O_NONBLOCK
	}
	w := NewWriter(nil, lines, o)
	w.tb, w.path = t, path
	w.open = func() (*os.File, error) { return os.OpenFile(path, flag, perm) }
	var f *os.File
	WaitFor(t, 10*time.Second, func() bool {
		var err error
		f, err = w.open()
		return err == nil
	}, "open %s for writing", path)
	w.dst = f
	t.Cleanup(func() {
		w.dstMu.Lock()
		defer w.dstMu.Unlock()
		w.closeDst()
	})
	return w
}

// closeDst closes the file written into, if open; under dstMu.
func (w *Writer) closeDst() {
	if f, ok := w.dst.(*os.File); ok {
		f.Close()
	}
	w.dst = nil
}

// Next is the number of the next line: how many lines were written or
// dropped.
func (w *Writer) Next() int { return int(w.nextSeen.Load()) }

// Written is how many lines went into the destination.
func (w *Writer) Written() int { return int(w.written.Load()) }

// Dropped is how many lines Drop found no room for.
func (w *Writer) Dropped() int { return int(w.dropped.Load()) }

// Stalls is how many times Retry found the pipe full.
func (w *Writer) Stalls() int { return int(w.stalls.Load()) }

// Pause stops a paced run from writing until Resume; what falls due
// meanwhile is written at once after it.
func (w *Writer) Pause() { w.paused.Store(true) }

// Resume ends a Pause.
func (w *Writer) Resume() { w.paused.Store(false) }

// Reopen closes the file and opens its path again (creating it if the
// flags say so), as a logging daemon does when logrotate signals it.
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open == nil {
		return errors.New("reopen: not a writer of a path")
	}
	w.dstMu.Lock()
	defer w.dstMu.Unlock()
	w.closeDst()
	f, err := w.open()
	if err != nil {
		return w.fail(fmt.Errorf("reopen %s: %w", w.path, err))
	}
	w.dst = f
	return nil
}

// Write writes the next n lines now: in one write for Block, one write
// each for Drop, atomic chunks for Retry.
func (w *Writer) Write(n int) error {
	return w.write(context.Background(), n)
}

func (w *Writer) write(ctx context.Context, n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { w.nextSeen.Store(int64(w.next)) }()
	var err error
	switch w.opts.Mode {
	case Block:
		err = w.writeBlock(n)
	case Drop:
		err = w.writeDrop(n)
	case Retry:
		err = w.writeRetry(ctx, n)
	}
	return w.fail(err)
}

// fail reports err to the test of an OpenWriter, and returns it.
func (w *Writer) fail(err error) error {
	if err != nil && w.tb != nil && !errors.Is(err, context.Canceled) {
		w.tb.Errorf("test line writer: %v", err)
	}
	return err
}

func (w *Writer) writeBlock(n int) error {
	w.buf = w.buf[:0]
	for i := w.next; i < w.next+n; i++ {
		w.buf = w.lines.Append(w.buf, i)
	}
	w.next += n
	k, err := w.destination().Write(w.buf)
	w.written.Add(int64(k / w.lines.Size))
	if err != nil {
		return fmt.Errorf("write lines: %w", err)
	}
	return nil
}

func (w *Writer) writeDrop(n int) error {
	for range n {
		w.buf = w.lines.Append(w.buf[:0], w.next)
		w.next++
		open, err := w.reopen()
		if err != nil {
			return err
		}
		if !open {
			w.dropped.Add(1)
			continue
		}
		_, err = w.rawWrite(w.buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			w.dropped.Add(1)
		case errors.Is(err, syscall.EPIPE) && w.opts.Reopen:
			w.dropped.Add(1)
			w.dstMu.Lock()
			w.closeDst()
			w.dstMu.Unlock()
		case err != nil:
			return fmt.Errorf("write line %d: %w", w.next-1, err)
		default:
			w.written.Add(1)
		}
	}
	return nil
}

// reopen opens the path again after Reopen closed it; open is false while
// the FIFO has no reader.
func (w *Writer) reopen() (open bool, err error) {
	w.dstMu.Lock()
	defer w.dstMu.Unlock()
	if w.dst != nil || !w.opts.Reopen || w.open == nil {
		return true, nil
	}
	f, err := w.open()
	switch {
	case errors.Is(err, syscall.ENXIO):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reopen %s: %w", w.path, err)
	}
	w.dst = f
	return true, nil
}

func (w *Writer) writeRetry(ctx context.Context, n int) error {
	per := max(1, pipeBuf/w.lines.Size)
	for end := w.next + n; w.next < end; {
		k := min(per, end-w.next)
		w.buf = w.buf[:0]
		for i := w.next; i < w.next+k; i++ {
			w.buf = w.lines.Append(w.buf, i)
		}
		if err := w.retry(ctx, w.buf); err != nil {
			return err
		}
		w.next += k
		w.written.Add(int64(k))
	}
	return nil
}

// retry writes chunk whole, waiting while the pipe is full.
func (w *Writer) retry(ctx context.Context, chunk []byte) error {
	for {
		k, err := w.rawWrite(chunk)
		switch {
		case err == nil && k == len(chunk):
			return nil
		case err == nil:
			return fmt.Errorf("short write of %d of %d bytes", k, len(chunk))
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EAGAIN):
			return fmt.Errorf("write after %d lines: %w", w.next, err)
		}
		w.stalls.Add(1)
		if err := clock.Sleep(ctx, w.clock, time.Millisecond); err != nil {
			return err
		}
	}
}

// rawWrite is one write(2): os.File would park on the poller instead of
// reporting EAGAIN the way a syslog daemon sees it.
func (w *Writer) rawWrite(b []byte) (int, error) {
	sc, ok := w.destination().(syscall.Conn)
	if !ok {
		return 0, errors.New("a non-blocking mode needs a file")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var k int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		k, werr = syscall.Write(int(fd), b)
		return true
	}); err != nil {
		return 0, err
	}
	return max(k, 0), werr
}

// Queued is how many bytes wait in the pipe the writer writes into, or -1.
func (w *Writer) Queued() int {
	w.dstMu.Lock()
	defer w.dstMu.Unlock()
	return pipe.Queued(w.dst)
}

func (w *Writer) destination() io.Writer {
	w.dstMu.Lock()
	defer w.dstMu.Unlock()
	return w.dst
}

// Describe tells, for a failure message, which file the writer holds
// (and whether its path still names it), what waits in it and how often
// it was full.
func (w *Writer) Describe() string {
	w.dstMu.Lock()
	defer w.dstMu.Unlock()
	var held, named syscall.Stat_t
	if sc, ok := w.dst.(syscall.Conn); ok {
		// Not f.Fd(): it would make a non-blocking file blocking.
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.Fstat(int(fd), &held) })
		}
	}
	syscall.Stat(w.path, &named)
	return fmt.Sprintf("the writer's file is inode %d, %s is inode %d; %d bytes queued in it; %d lines written, %d dropped, %d stalls",
		held.Ino, w.path, named.Ino, pipe.Queued(w.dst), w.written.Load(), w.dropped.Load(), w.stalls.Load())
}
