package pipe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestSendFileMovesAndCounts: the bytes of the file from the offset on
// arrive in order, through a pipe much smaller than them whose reader is
// slow (the send waits while the pipe is full), and while the reader has
// stopped the offset says exactly how far the pipe has taken the file.
func TestSendFileMovesAndCounts(t *testing.T) {
	const start, n = 1000, 300 << 10 // the pipe holds 64 KiB
	f := patternFile(t, start+n)
	r, w := testPipe(t)
	off := int64(start)
	sent := make(chan error, 1)
	go func() { sent <- SendFile(w, f, &off, n) }()
	first := readN(t, r, 10000)
	deadline := time.Now().Add(hang)
	for {
		q := Queued(r)
		if got := atomic.LoadInt64(&off); q > 0 && got == start+int64(len(first)+q) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hang: offset %d never matched what the pipe took (%d read)", atomic.LoadInt64(&off), len(first))
		}
	}
	rest := readN(t, r, n-len(first))
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); !bytes.Equal(got, pattern(start, n)) {
		t.Errorf("reader got other bytes than the file's from %d on", start)
	}
	if off != start+n {
		t.Errorf("offset %d at the end, want %d", off, start+n)
	}
}

// TestSendFileShortFile: a file that ends before the bytes asked for: what
// it has moves, counted, and the send says the file ended early instead
// of waiting for more.
func TestSendFileShortFile(t *testing.T) {
	f := patternFile(t, 5000)
	r, w := testPipe(t)
	off := int64(1000)
	err := SendFile(w, f, &off, 8000)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("send of 8000 bytes from a file with 4000 after the offset: %v, want io.ErrUnexpectedEOF", err)
	}
	if off != 5000 || Queued(r) != 4000 {
		t.Errorf("offset %d and %d bytes in the pipe, want 5000 and 4000", off, Queued(r))
	}
	if got := readN(t, r, 4000); !bytes.Equal(got, pattern(1000, 4000)) {
		t.Error("the pipe got other bytes than the file's")
	}
}

// TestSendFileReaderGone: a pipe whose reader is gone (ssh died) fails
// the send at once with EPIPE; the process is not killed by SIGPIPE and
// does not wait. The same while the send waits on a full pipe.
func TestSendFileReaderGone(t *testing.T) {
	f := patternFile(t, 1<<20)
	r, w := testPipe(t)
	r.Close()
	off := int64(0)
	if err := SendFile(w, f, &off, 1000); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("send into a pipe without reader: %v, want EPIPE", err)
	}
	r2, w2 := testPipe(t)
	off = 0
	sent := make(chan error, 1)
	go func() { sent <- SendFile(w2, f, &off, 1<<20) }() // more than the pipe holds
	deadline := time.Now().Add(hang)
	for Queued(r2) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("hang: nothing reached the pipe")
		}
	}
	r2.Close()
	select {
	case err := <-sent:
		if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("send waiting on a full pipe whose reader went away: %v, want EPIPE", err)
		}
	case <-time.After(hang):
		t.Fatal("hang: the send went on waiting after its reader went away")
	}
}

// TestSendFileCannot: where splice is not possible, SendFile writes
// nothing and says so, for the caller to write the bytes itself: a
// destination that is no descriptor (ErrNotPipe) or not a pipe (a
// regular file), a source that cannot be spliced from (an eventfd) or
// was closed (ErrNoSplice).
func TestSendFileCannot(t *testing.T) {
	f := patternFile(t, 1000)
	_, w := testPipe(t)
	var b bytes.Buffer
	off := int64(0)
	if err := SendFile(&b, f, &off, 100); err != ErrNotPipe || b.Len() != 0 || off != 0 {
		t.Errorf("into a buffer: %v, wrote %d bytes, offset %d; want ErrNotPipe, nothing", err, b.Len(), off)
	}
	if !errors.Is(ErrNotPipe, ErrNoSplice) {
		t.Error("ErrNotPipe is not an ErrNoSplice: callers would need two rules to fall back")
	}
	dst, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := SendFile(dst, f, &off, 100); !errors.Is(err, ErrNoSplice) || off != 0 {
		t.Errorf("into a regular file: %v, offset %d; want ErrNoSplice, offset 0", err, off)
	}
	efd, err := unix.Eventfd(1, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	ev := os.NewFile(uintptr(efd), "eventfd")
	defer ev.Close()
	if err := SendFile(w, ev, &off, 8); !errors.Is(err, ErrNoSplice) {
		t.Errorf("from an eventfd: %v, want ErrNoSplice", err)
	}
	closed := patternFile(t, 1000)
	closed.Close()
	if err := SendFile(w, closed, &off, 100); !errors.Is(err, ErrNoSplice) || off != 0 {
		t.Errorf("from a closed file: %v, offset %d; want ErrNoSplice, offset 0", err, off)
	}
}

// TestSendFileIntoBlockingPipe: a pipe in blocking mode, off the runtime
// poller, that is full blocks the send in the kernel until its reader
// makes room, as a write(2) would; the poller, which does not know the
// descriptor, cannot wait for it.
func TestSendFileIntoBlockingPipe(t *testing.T) {
	const n = 300 << 10
	f := patternFile(t, n)
	r, w, _ := private(t, 64<<10)
	b := make([]byte, n)
	got := inBackground(func() (int, error) { return io.ReadFull(r, b) })
	off := int64(0)
	if err := SendFile(w, f, &off, n); err != nil || off != n {
		t.Fatalf("send into a blocking pipe: %v, offset %d; want all %d bytes", err, off, n)
	}
	if res := await(t, got, "the reader got nothing"); res.err != nil || !bytes.Equal(b, pattern(0, n)) {
		t.Errorf("the reader got other bytes than the file's (%v)", res.err)
	}
}

// TestSendFileKeepsPagesOfMovedBytes: bytes moved into the pipe are
// references to the file's pages; appending to the file behind them (as
// the spool does while a batch still waits in ssh's pipe) does not
// change what the reader gets.
func TestSendFileKeepsPagesOfMovedBytes(t *testing.T) {
	f := patternFile(t, 6000) // the last page is partly filled
	r, w := testPipe(t)
	off := int64(0)
	if err := SendFile(w, f, &off, 6000); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{'x'}, 10000), 6000); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, r, 6000); !bytes.Equal(got, pattern(0, 6000)) {
		t.Error("bytes in the pipe changed when the file was appended to")
	}
}

// TestStageFrameInOnePiece: a frame, header and payload from a file,
// reaches the pipe in one piece: when its reader first finds it readable,
// the whole frame is there (one wake-up per frame, as with one write).
func TestStageFrameInOnePiece(t *testing.T) {
	st, err := NewStage()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 256 << 10
	f := patternFile(t, 3000+n)
	r, w := testPipe(t)
	Grow(w, 1<<20) // as the sender does with ssh's input
	head := []byte("D 3000 262144\n")
	for round := range 3 {
		sent := make(chan error, 1)
		polled := make(chan int, 1)
		go func() {
			rc, _ := r.SyscallConn()
			rc.Control(func(fd uintptr) {
				p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				for {
					if _, err := unix.Poll(p, int(hang/time.Millisecond)); !errors.Is(err, unix.EINTR) {
						break
					}
				}
			})
			polled <- Queued(r)
		}()
		go func() { sent <- st.SendFrame(w, head, f, 3000, n) }()
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if q := <-polled; q != len(head)+n {
			t.Errorf("round %d: the reader woke to %d bytes, want the whole frame of %d", round, q, len(head)+n)
		}
		got := readN(t, r, len(head)+n)
		if !bytes.HasPrefix(got, head) || !bytes.Equal(got[len(head):], pattern(3000, n)) {
			t.Errorf("round %d: the frame arrived changed", round)
		}
	}
}

// TestStageLargeFrame: a payload larger than the staging pipe and than
// the destination goes in pieces, in order, behind its header.
func TestStageLargeFrame(t *testing.T) {
	st, err := NewStage()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 3 << 20
	f := patternFile(t, n+7)
	r, w := testPipe(t)
	sent := make(chan error, 1)
	go func() { sent <- st.SendFrame(w, []byte("head\n"), f, 7, n) }()
	got := readN(t, r, 5+n)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if string(got[:5]) != "head\n" || !bytes.Equal(got[5:], pattern(7, n)) {
		t.Error("a large frame arrived changed")
	}
}

// TestStageFailures: where the payload cannot be spliced, nothing reaches
// the destination (the caller writes the frame); a file shorter than the
// frame fails it; a destination whose reader is gone fails with EPIPE.
// After each failure the next frame goes through whole: nothing of the
// failed one is left in the staging pipe.
func TestStageFailures(t *testing.T) {
	st, err := NewStage()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := patternFile(t, 8000)
	r, w := testPipe(t)
	next := func(what string) {
		t.Helper()
		if err := st.SendFrame(w, []byte("ok\n"), f, 0, 100); err != nil {
			t.Fatalf("after %s: %v", what, err)
		}
		if got := readN(t, r, 103); string(got[:3]) != "ok\n" || !bytes.Equal(got[3:], pattern(0, 100)) {
			t.Errorf("after %s the next frame arrived as %q", what, got[:min(len(got), 20)])
		}
	}
	var b bytes.Buffer
	if err := st.SendFrame(&b, []byte("h\n"), f, 0, 10); err != ErrNotPipe || b.Len() != 0 {
		t.Errorf("into a buffer: %v, wrote %d bytes; want ErrNotPipe, nothing", err, b.Len())
	}
	efd, err := unix.Eventfd(1, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	ev := os.NewFile(uintptr(efd), "eventfd")
	defer ev.Close()
	if err := st.SendFrame(w, []byte("h\n"), ev, 0, 8); !errors.Is(err, ErrNoSplice) || Queued(r) != 0 {
		t.Errorf("from an eventfd: %v, %d bytes in the pipe; want ErrNoSplice, none", err, Queued(r))
	}
	next("a payload that cannot be spliced")
	if err := st.SendFrame(w, []byte("short\n"), f, 7000, 2000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a payload beyond the file's end: %v, want io.ErrUnexpectedEOF", err)
	}
	readN(t, r, Queued(r)) // the broken frame, as far as it went
	next("a file shorter than the frame")
	r2, w2 := testPipe(t)
	r2.Close()
	if err := st.SendFrame(w2, []byte("h\n"), f, 0, 10); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("into a pipe without reader: %v, want EPIPE", err)
	}
	next("a pipe without reader")
}

// TestFeedCountsWhatThePipeTook: while the pipe is full and its reader
// has stopped, the count is exactly what the reader got plus what waits
// in the pipe; at the end it is all of p, delivered in order.
func TestFeedCountsWhatThePipeTook(t *testing.T) {
	r, w := testPipe(t)
	p := pattern(0, 300<<10) // the pipe holds 64 KiB
	var taken int64
	fed := make(chan error, 1)
	go func() { fed <- Feed(w, p, &taken) }()
	first := make([]byte, 10000)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(hang)
	for {
		queued := Queued(r)
		if n := atomic.LoadInt64(&taken); n == int64(len(first)+queued) && queued > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hang: count %d never matched what the pipe took (%d read)", atomic.LoadInt64(&taken), len(first))
		}
	}
	rest, err := io.ReadAll(io.LimitReader(r, int64(len(p)-len(first))))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); !bytes.Equal(got, p) {
		t.Errorf("reader got %d bytes, not the %d fed in order", len(got), len(p))
	}
	if taken != int64(len(p)) {
		t.Errorf("count %d at the end, want %d", taken, len(p))
	}
}

// TestFeedKeepsEachBatch: a batch still in the pipe keeps its bytes while
// the next one is fed (the pipe holds references to the memory file's
// pages, which must not be written again).
func TestFeedKeepsEachBatch(t *testing.T) {
	r, w := testPipe(t)
	var want []byte
	fed := make(chan error, 1)
	go func() {
		for i := range 4 { // 160 KiB into a 64 KiB pipe nobody reads yet
			p := pattern(int64(i)*40<<10, 40<<10)
			var taken int64
			if err := Feed(w, p, &taken); err != nil {
				fed <- err
				return
			}
		}
		fed <- nil
	}()
	for i := range 4 {
		want = append(want, pattern(int64(i)*40<<10, 40<<10)...)
	}
	got, err := io.ReadAll(io.LimitReader(r, int64(len(want))))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Errorf("reader got other bytes than fed, from offset %d on", i)
	}
}

// TestFeedNotAPipe: a writer that is not a descriptor is left to the
// caller, untouched.
func TestFeedNotAPipe(t *testing.T) {
	var b bytes.Buffer
	var taken int64
	if err := Feed(&b, []byte("line\n"), &taken); err != ErrNotPipe || b.Len() != 0 {
		t.Errorf("Feed into a buffer: %v, wrote %q", err, b.String())
	}
}

// TestFeedCountSurvivesKill: a process feeding its standard output, with
// the count in a file mapped shared, killed -9 at random moments: the
// count in the file is always exactly what came out of the pipe.
func TestFeedCountSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 processes")
	}
	for round := range 30 {
		rec := filepath.Join(t.TempDir(), "count")
		if err := os.WriteFile(rec, make([]byte, 16), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFeedChild$")
		cmd.Env = append(os.Environ(), "FEEDER_CHILD_RECORD="+rec)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it after a random amount of output, in mid-stream.
		check := &patternCheck{bad: -1}
		got, err := io.CopyN(check, out, 1+rand.Int64N(1<<20))
		if err != nil {
			t.Fatalf("round %d: child output ended early: %v", round, err)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		n, _ := io.Copy(check, out)
		got += n
		cmd.Wait()
		if check.bad >= 0 {
			t.Fatalf("round %d: byte %d out of the pipe is not the one fed there", round, check.bad)
		}
		b, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		base, adv := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		if base+adv != got {
			t.Fatalf("round %d: the count says %d+%d=%d, the pipe gave %d", round, base, adv, base+adv, got)
		}
	}
}

// TestFeedChild is the child of TestFeedCountSurvivesKill: it feeds
// batches into its standard output forever, each counted in the record
// file as its start (written first) and the count of it taken.
func TestFeedChild(t *testing.T) {
	rec := os.Getenv("FEEDER_CHILD_RECORD")
	if rec == "" {
		t.Skip("child of TestFeedCountSurvivesKill")
	}
	rf, err := os.OpenFile(rec, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(rf.Fd()), 0, 16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	taken := (*int64)(unsafe.Pointer(&m[8]))
	// Non-blocking, as os.Pipe makes the pipes into children, so that
	// os.NewFile puts it on the poller.
	if err := unix.SetNonblock(1, true); err != nil {
		t.Fatal(err)
	}
	stdout := os.NewFile(1, "stdout")
	var start [16]byte
	for base := int64(0); ; {
		p := pattern(base, 1+rand.IntN(100<<10))
		binary.LittleEndian.PutUint64(start[:], uint64(base))
		if _, err := rf.WriteAt(start[:], 0); err != nil { // the start, count 0
			t.Fatal(err)
		}
		if err := Feed(stdout, p, taken); err != nil {
			t.Fatal(err)
		}
		base += int64(len(p))
	}
}

// patternCheck finds the first byte of a stream that differs from pattern
// (bad, -1 while none).
type patternCheck struct {
	off int64
	bad int64
}

func (c *patternCheck) Write(p []byte) (int, error) {
	for i, b := range p {
		if c.bad < 0 && b != byte((c.off+int64(i))%251) {
			c.bad = c.off + int64(i)
		}
	}
	c.off += int64(len(p))
	return len(p), nil
}
