package pipe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spliceFile is a file of n pattern bytes.
func spliceFile(t *testing.T, n int) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(path, pattern(0, n), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// private is Private, closed at the end of the test.
func private(t *testing.T, want int) (r, w *os.File, size int) {
	t.Helper()
	r, w, size, err := Private(want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w, size
}

// drain reads n bytes from r in the background.
func drain(r io.Reader, n int) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, n)
		m, _ := io.ReadFull(r, b)
		got <- b[:m]
	}()
	return got
}

func recv(t *testing.T, c <-chan []byte) []byte {
	t.Helper()
	select {
	case b := <-c:
		return b
	case <-time.After(hang):
		t.Fatal("reader got nothing (hang)")
	}
	return nil
}

// A file goes into a pipe a pipeful at a time, the offset following what
// moved, and the end of the file is io.EOF with nothing moved; the
// bytes then go on from the pipe exactly.
func TestSpliceFromFileStepsAndEnd(t *testing.T) {
	const size = 200<<10 + 123 // not a multiple of a page
	f := spliceFile(t, size)
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
	f := spliceFile(t, 1000)
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
	f := spliceFile(t, size)
	pr, pw, _ := private(t, size)
	out, in, err := os.Pipe() // non-blocking, on the poller
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	defer in.Close()
	if got := Grow(in, 64<<10); got > 64<<10 {
		t.Fatalf("client pipe of %d bytes: cannot fill it", got)
	}
	var off int64
	n, err := SpliceFromFile(pw, f, &off, size)
	if err != nil || n != size {
		t.Fatalf("SpliceFromFile: %d bytes, %v", n, err)
	}
	moved := make(chan error, 1)
	go func() {
		_, err := SpliceAll(in, nil, pr, n)
		moved <- err
	}()
	// The client pipe fills and SpliceAll waits with bytes left to move.
	deadline := time.Now().Add(hang)
	for queued(int(rawFDOf(t, out))) < 60<<10 {
		if time.Now().After(deadline) {
			t.Fatal("the client pipe never filled (hang)")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-moved:
		t.Fatalf("SpliceAll returned (%v) before its reader made room", err)
	default:
	}
	got := recv(t, drain(out, size))
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pattern(0, size)) {
		t.Fatalf("reader got %d bytes, not the file's %d in order", len(got), size)
	}
}

// A source pipe that is empty (its writer is slow) is waited for; one
// that ends early is io.ErrUnexpectedEOF with the count of what moved.
func TestSpliceAllWaitsForSourceAndReportsShort(t *testing.T) {
	src, feed, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, sink, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	defer sink.Close()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := SpliceAll(sink, nil, src, 5000)
		done <- result{n, err}
	}()
	for i := range 3 {
		// Each piece is written only after the one before has come
		// through: SpliceAll finds the source empty every time.
		feed.Write(pattern(int64(i*1000), 1000))
		if b := recv(t, drain(dst, 1000)); !bytes.Equal(b, pattern(int64(i*1000), 1000)) {
			t.Fatalf("piece %d: got %d bytes, not the 1000 written", i, len(b))
		}
	}
	feed.Close()
	select {
	case r := <-done:
		if r.n != 3000 || !errors.Is(r.err, io.ErrUnexpectedEOF) {
			t.Fatalf("moved %d, %v; want 3000 and io.ErrUnexpectedEOF", r.n, r.err)
		}
	case <-time.After(hang):
		t.Fatal("SpliceAll did not return when its source ended (hang)")
	}
}

// Where splice cannot be used the bytes are copied, with the same result:
// a destination that is no descriptor, an O_APPEND file (the kernel says
// EINVAL), a source that is no pipe.
func TestSpliceFallsBackToCopy(t *testing.T) {
	f := spliceFile(t, 100<<10)

	var buf bytes.Buffer
	var off int64 = 10
	n, err := SpliceFromFile(&buf, f, &off, 1<<20)
	if err != nil || n != spliceCopyBuf || off != 10+int64(n) || !bytes.Equal(buf.Bytes(), pattern(10, n)) {
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
	if _, _, errno := unix.Syscall6(unix.SYS_SPLICE, rawFDOf(t, r), 0, rawFDOf(t, af), 0, 1, 0); errno != unix.EINVAL {
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

func rawFDOf(t *testing.T, f *os.File) uintptr {
	t.Helper()
	fd, ok := rawFD(f)
	if !ok {
		t.Fatal("no descriptor")
	}
	return uintptr(fd)
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
	src, feed, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := WaitQueued(r, 3000)
		done <- result{n, err}
	}()
	for i := range 3 {
		select {
		case res := <-done:
			t.Fatalf("returned %+v with %d of 3000 bytes in the pipe", res, i*1000)
		default:
		}
		w.Write(pattern(int64(i*1000), 1000))
	}
	select {
	case res := <-done:
		if res.err != nil || res.n != 3000 {
			t.Fatalf("WaitQueued: %+v, want 3000 bytes", res)
		}
	case <-time.After(hang):
		t.Fatal("WaitQueued did not return with 3000 bytes in the pipe (hang)")
	}
	go func() {
		n, err := WaitQueued(r, 5000)
		done <- result{n, err}
	}()
	w.Close()
	select {
	case res := <-done:
		if res.err != nil || res.n != 3000 {
			t.Fatalf("WaitQueued after the writer left: %+v, want the 3000 bytes there", res)
		}
	case <-time.After(hang):
		t.Fatal("WaitQueued did not return when the writer left (hang)")
	}
	if _, err := WaitQueued(bytes.NewReader(nil), 1); !errors.Is(err, ErrNotPipe) {
		t.Fatalf("WaitQueued on a bytes.Reader: %v, want ErrNotPipe", err)
	}
}
