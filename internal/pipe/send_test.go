package pipe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// segmentFile is a file holding pattern(0, n), as a spool segment holds
// the stream.
func segmentFile(t *testing.T, n int) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "seg"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteAt(pattern(0, n), 0); err != nil {
		t.Fatal(err)
	}
	return f
}

// testPipe is an os.Pipe closed at the end of the test.
func testPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// readN reads n bytes from r, bounded by hang.
func readN(t *testing.T, r *os.File, n int) []byte {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(hang))
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// queuedBehind is how many bytes wait in the pipe behind r.
func queuedBehind(r *os.File) int {
	n := 0
	rc, _ := r.SyscallConn()
	rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
	return n
}

// TestSendFileMovesAndCounts: the bytes of the file from the offset on
// arrive in order, through a pipe much smaller than them whose reader is
// slow (the send waits while the pipe is full), and while the reader has
// stopped the offset says exactly how far the pipe has taken the file.
func TestSendFileMovesAndCounts(t *testing.T) {
	const start, n = 1000, 300 << 10 // the pipe holds 64 KiB
	f := segmentFile(t, start+n)
	r, w := testPipe(t)
	off := int64(start)
	sent := make(chan error, 1)
	go func() { sent <- SendFile(w, f, &off, n) }()
	first := readN(t, r, 10000)
	deadline := time.Now().Add(hang)
	for {
		q := queuedBehind(r)
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
	f := segmentFile(t, 5000)
	r, w := testPipe(t)
	off := int64(1000)
	err := SendFile(w, f, &off, 8000)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("send of 8000 bytes from a file with 4000 after the offset: %v, want io.ErrUnexpectedEOF", err)
	}
	if off != 5000 || queuedBehind(r) != 4000 {
		t.Errorf("offset %d and %d bytes in the pipe, want 5000 and 4000", off, queuedBehind(r))
	}
	if got := readN(t, r, 4000); !bytes.Equal(got, pattern(1000, 4000)) {
		t.Error("the pipe got other bytes than the file's")
	}
}

// TestSendFileReaderGone: a pipe whose reader is gone (ssh died) fails
// the send at once with EPIPE; the process is not killed by SIGPIPE and
// does not wait. The same while the send waits on a full pipe.
func TestSendFileReaderGone(t *testing.T) {
	f := segmentFile(t, 1<<20)
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
	for queuedBehind(r2) == 0 {
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
	f := segmentFile(t, 1000)
	_, w := testPipe(t)
	var b bytes.Buffer
	off := int64(0)
	if err := SendFile(&b, f, &off, 100); err != ErrNotPipe || b.Len() != 0 || off != 0 {
		t.Errorf("into a buffer: %v, wrote %d bytes, offset %d; want ErrNotPipe, nothing", err, b.Len(), off)
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
	closed := segmentFile(t, 1000)
	closed.Close()
	if err := SendFile(w, closed, &off, 100); !errors.Is(err, ErrNoSplice) || off != 0 {
		t.Errorf("from a closed file: %v, offset %d; want ErrNoSplice, offset 0", err, off)
	}
}

// TestSendFileKeepsPagesOfMovedBytes: bytes moved into the pipe are
// references to the file's pages; appending to the file behind them (as
// the spool does while a batch still waits in ssh's pipe) does not
// change what the reader gets.
func TestSendFileKeepsPagesOfMovedBytes(t *testing.T) {
	f := segmentFile(t, 6000) // the last page is partly filled
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
	f := segmentFile(t, 3000+n)
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
			polled <- queuedBehind(r)
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
	f := segmentFile(t, n+7)
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
	f := segmentFile(t, 8000)
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
	if err := st.SendFrame(w, []byte("h\n"), ev, 0, 8); !errors.Is(err, ErrNoSplice) || queuedBehind(r) != 0 {
		t.Errorf("from an eventfd: %v, %d bytes in the pipe; want ErrNoSplice, none", err, queuedBehind(r))
	}
	next("a payload that cannot be spliced")
	if err := st.SendFrame(w, []byte("short\n"), f, 7000, 2000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a payload beyond the file's end: %v, want io.ErrUnexpectedEOF", err)
	}
	readN(t, r, queuedBehind(r)) // the broken frame, as far as it went
	next("a file shorter than the frame")
	r2, w2 := testPipe(t)
	r2.Close()
	if err := st.SendFrame(w2, []byte("h\n"), f, 0, 10); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("into a pipe without reader: %v, want EPIPE", err)
	}
	next("a pipe without reader")
}
