package pipe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hang bounds the waits below: it only catches a hang.
const hang = 10 * time.Second

// pattern is the stream's bytes from offset base on: every byte says where
// it belongs.
func pattern(base int64, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((base + int64(i)) % 251)
	}
	return p
}

// patternFile is a file holding pattern(0, n), as a spool segment holds
// the stream, or a followed log file its lines.
func patternFile(t *testing.T, n int) *os.File {
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

// testPipe is an os.Pipe (non-blocking, on the poller) closed at the end
// of the test.
func testPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// private is Private (blocking ends), closed at the end of the test.
func private(t *testing.T, want int) (r, w *os.File, size int) {
	t.Helper()
	r, w, size, err := Private(want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w, size
}

// result is what a call that counts bytes returned.
type result struct {
	n   int
	err error
}

// inBackground runs fn in a goroutine; its result comes on the channel.
func inBackground(fn func() (int, error)) <-chan result {
	done := make(chan result, 1)
	go func() {
		n, err := fn()
		done <- result{n, err}
	}()
	return done
}

// await is the result that comes on done; waiting longer than hang fails
// the test, saying that what did not happen.
func await(t *testing.T, done <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(hang):
		t.Fatalf("%s (hang)", what)
	}
	return result{}
}

// readN reads n bytes from r, a pipe on the poller, bounded by hang.
func readN(t *testing.T, r *os.File, n int) []byte {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(hang))
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// Queued tells how many bytes wait in a pipe, without taking them, and
// -1 for what is no descriptor.
func TestQueued(t *testing.T) {
	r, w := testPipe(t)
	if n := Queued(r); n != 0 {
		t.Errorf("an empty pipe holds %d bytes", n)
	}
	w.Write(pattern(0, 1234))
	if n, m := Queued(r), Queued(r); n != 1234 || m != 1234 {
		t.Errorf("a pipe with 1234 bytes: %d, then %d", n, m)
	}
	if n := Queued(&bytes.Buffer{}); n != -1 {
		t.Errorf("a buffer: %d, want -1", n)
	}
}

// A file goes into a pipe a pipeful at a time, the offset following what
// moved, and the end of the file is io.EOF with nothing moved; the
// bytes then go on from the pipe exactly.
func TestSpliceFromFileStepsAndEnd(t *testing.T) {
	const size = 200<<10 + 123 // not a multiple of a page
	f := patternFile(t, size)
	r, w, capacity := private(t, 64<<10)
	var off int64
	var got []byte
	for {
		n, err := SpliceFromFile(w, f, &off, 1<<20)
		if errors.Is(err, io.EOF) {
			if n != 0 {
				t.Fatalf("io.EOF with %d bytes", n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n <= 0 || n > capacity {
			t.Fatalf("moved %d bytes into a pipe of %d", n, capacity)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
		if off != int64(len(got)) {
			t.Fatalf("offset %d after %d bytes", off, len(got))
		}
	}
	if !bytes.Equal(got, pattern(0, size)) {
		t.Fatalf("got %d bytes, not the file's %d", len(got), size)
	}
}

// A file shorter than asked moves what it has (a short read), and from
// an offset in the middle.
func TestSpliceFromFileShort(t *testing.T) {
	f := patternFile(t, 1000)
	r, w, _ := private(t, 64<<10)
	off := int64(300)
	n, err := SpliceFromFile(w, f, &off, 4096)
	if err != nil || n != 700 || off != 1000 {
		t.Fatalf("moved %d (err %v), offset %d; want 700 to offset 1000", n, err, off)
	}
	b := make([]byte, 700)
	if _, err := io.ReadFull(r, b); err != nil || !bytes.Equal(b, pattern(300, 700)) {
		t.Fatalf("pipe holds the wrong bytes (err %v)", err)
	}
}

// A full non-blocking pipe on the poller (EAGAIN) is waited for: the
// payload goes on as its reader makes room, in order and complete.
func TestSpliceAllWaitsForFullPipe(t *testing.T) {
	const size = 256 << 10
	f := patternFile(t, size)
	pr, pw, _ := private(t, size)
	out, in := testPipe(t)
	if got := Grow(in, 64<<10); got > 64<<10 {
		t.Fatalf("client pipe of %d bytes: cannot fill it", got)
	}
	var off int64
	n, err := SpliceFromFile(pw, f, &off, size)
	if err != nil || n != size {
		t.Fatalf("SpliceFromFile: %d bytes, %v", n, err)
	}
	moved := inBackground(func() (int, error) { return SpliceAll(in, nil, pr, n) })
	// The client pipe fills and SpliceAll waits with bytes left to move.
	deadline := time.Now().Add(hang)
	for Queued(out) < 60<<10 {
		if time.Now().After(deadline) {
			t.Fatal("the client pipe never filled (hang)")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-moved:
		t.Fatalf("SpliceAll returned (%v) before its reader made room", r.err)
	default:
	}
	got := readN(t, out, size)
	if r := await(t, moved, "SpliceAll did not end"); r.err != nil {
		t.Fatal(r.err)
	}
	if !bytes.Equal(got, pattern(0, size)) {
		t.Fatalf("reader got %d bytes, not the file's %d in order", len(got), size)
	}
}

// A source pipe that is empty (its writer is slow) is waited for; one
// that ends early is io.ErrUnexpectedEOF with the count of what moved.
func TestSpliceAllWaitsForSourceAndReportsShort(t *testing.T) {
	src, feed := testPipe(t)
	dst, sink := testPipe(t)
	done := inBackground(func() (int, error) { return SpliceAll(sink, nil, src, 5000) })
	for i := range 3 {
		// Each piece is written only after the one before has come
		// through: SpliceAll finds the source empty every time.
		feed.Write(pattern(int64(i*1000), 1000))
		if b := readN(t, dst, 1000); !bytes.Equal(b, pattern(int64(i*1000), 1000)) {
			t.Fatalf("piece %d: got other bytes than the 1000 written", i)
		}
	}
	feed.Close()
	if r := await(t, done, "SpliceAll did not return when its source ended"); r.n != 3000 || !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Fatalf("moved %d, %v; want 3000 and io.ErrUnexpectedEOF", r.n, r.err)
	}
}

// A move that finds its source empty, and once bytes came its
// destination full, waits for each in turn: it goes on as soon as the
// destination's reader makes room, with no more bytes coming. (Waiting
// for the source again would wait for bytes that never come.)
func TestSpliceAllWaitsForEitherSide(t *testing.T) {
	src, feed := testPipe(t)
	dst, sink := testPipe(t)
	full := Grow(sink, 0)
	if _, err := sink.Write(make([]byte, full)); err != nil || Queued(dst) != full {
		t.Fatalf("cannot fill the destination pipe: %v", err)
	}
	done := inBackground(func() (int, error) { return SpliceAll(sink, nil, src, 1000) })
	waitsIn(t, "SpliceAll", "waitRead") // the source is empty
	feed.Write(pattern(0, 1000))
	waitsIn(t, "SpliceAll", "waitWrite") // bytes came; the destination is full
	readN(t, dst, full)
	if r := await(t, done, "SpliceAll did not go on when its destination had room"); r.err != nil {
		t.Fatal(r.err)
	}
	if got := readN(t, dst, 1000); !bytes.Equal(got, pattern(0, 1000)) {
		t.Fatal("the destination got other bytes")
	}
}

// waitsIn waits, bounded by hang, until a goroutine that runs fn is
// parked on the runtime poller in its function wait (waitRead,
// waitWrite), as its stack shows.
func waitsIn(t *testing.T, fn, wait string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(hang); time.Now().Before(deadline); runtime.Gosched() {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[IO wait") && strings.Contains(g, "pipe."+fn) && strings.Contains(g, "."+wait) {
				return
			}
		}
	}
	t.Fatalf("no goroutine running %s waits in %s (hang)", fn, wait)
}

// Where splice cannot be used the bytes are copied, with the same result:
// a destination that is no descriptor, an O_APPEND file (the kernel says
// EINVAL), a source that is no pipe.
func TestSpliceFallsBackToCopy(t *testing.T) {
	f := patternFile(t, 100<<10)

	var buf bytes.Buffer
	var off int64 = 10
	n, err := SpliceFromFile(&buf, f, &off, 1<<20)
	if err != nil || n != copyBuf || off != 10+int64(n) || !bytes.Equal(buf.Bytes(), pattern(10, n)) {
		t.Fatalf("into a bytes.Buffer: %d bytes, %v, offset %d", n, err, off)
	}

	appendPath := filepath.Join(t.TempDir(), "append")
	af, err := os.OpenFile(appendPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	af.Write([]byte("head"))
	r, w, _ := private(t, 64<<10)
	off = 0
	if n, err := SpliceFromFile(w, f, &off, 50_000); err != nil || n != 50_000 {
		t.Fatalf("into the pipe: %d, %v", n, err)
	}
	var errno error
	control2(r, af, func(in, out int) error { _, errno = unix.Splice(in, nil, out, nil, 1, 0); return nil })
	if errno != unix.EINVAL {
		t.Fatalf("splice into an O_APPEND file: %v, want EINVAL (the fallback is not tested)", errno)
	}
	if n, err := SpliceAll(af, nil, r, 50_000); err != nil || n != 50_000 {
		t.Fatalf("into an O_APPEND file: %d, %v", n, err)
	}
	b, _ := os.ReadFile(appendPath)
	if want := append([]byte("head"), pattern(0, 50_000)...); !bytes.Equal(b, want) {
		t.Fatalf("O_APPEND file holds %d bytes, not head + 50000 in order", len(b))
	}

	buf.Reset()
	if n, err := SpliceAll(&buf, nil, bytes.NewReader(pattern(0, 777)), 700); err != nil || n != 700 || !bytes.Equal(buf.Bytes(), pattern(0, 700)) {
		t.Fatalf("between two non-descriptors: %d, %v", n, err)
	}
	if n, err := SpliceAll(&buf, nil, bytes.NewReader(nil), 1); n != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("copying from an empty reader: %d, %v; want io.ErrUnexpectedEOF", n, err)
	}
}

// From a pipe into a file at an offset (pull's output): the bytes land
// there and the offset follows; a source that ends early is
// io.ErrUnexpectedEOF after what it had.
func TestSpliceAllIntoFileAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	out, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	out.Write([]byte("head"))
	src, feed := testPipe(t)
	Grow(feed, 256<<10)
	feed.Write(pattern(0, 100_000))
	off := int64(4)
	if n, err := SpliceAll(out, &off, src, 100_000); err != nil || n != 100_000 || off != 100_004 {
		t.Fatalf("moved %d, %v, offset %d", n, err, off)
	}
	feed.Write(pattern(100_000, 500))
	feed.Close()
	if n, err := SpliceAll(out, &off, src, 1000); n != 500 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("from a source that ends early: %d, %v", n, err)
	}
	b, _ := os.ReadFile(path)
	if want := append([]byte("head"), pattern(0, 100_500)...); !bytes.Equal(b, want) {
		t.Fatalf("file holds %d bytes, not head and the 100500 in order", len(b))
	}
}

// WaitQueued returns once the pipe holds the bytes asked for, or once its
// writer is gone with fewer; a reader that is no descriptor is
// ErrNotPipe.
func TestWaitQueued(t *testing.T) {
	r, w := testPipe(t)
	done := inBackground(func() (int, error) { return WaitQueued(r, 3000) })
	for i := range 3 {
		select {
		case res := <-done:
			t.Fatalf("returned %+v with %d of 3000 bytes in the pipe", res, i*1000)
		default:
		}
		w.Write(pattern(int64(i*1000), 1000))
	}
	if res := await(t, done, "WaitQueued did not return with 3000 bytes in the pipe"); res.err != nil || res.n != 3000 {
		t.Fatalf("WaitQueued: %+v, want 3000 bytes", res)
	}
	done = inBackground(func() (int, error) { return WaitQueued(r, 5000) })
	w.Close()
	if res := await(t, done, "WaitQueued did not return when the writer left"); res.err != nil || res.n != 3000 {
		t.Fatalf("WaitQueued after the writer left: %+v, want the 3000 bytes there", res)
	}
	if _, err := WaitQueued(bytes.NewReader(nil), 1); !errors.Is(err, ErrNotPipe) {
		t.Fatalf("WaitQueued on a bytes.Reader: %v, want ErrNotPipe", err)
	}
}
