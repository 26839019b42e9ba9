package pipe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openFIFO opens a FIFO as push does, and a writer on it.
func openFIFO(t *testing.T) (*FIFO, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fifo")
	f, err := Open(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return f, w
}

// newSource makes a Source of r whose waits end after hang: a wait that
// never ends fails the test.
func newSource(t *testing.T, r io.Reader) *Source {
	t.Helper()
	src, err := NewSource(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	src.SetReadDeadline(time.Now().Add(hang))
	return src
}

func write(t *testing.T, w *os.File, s string) {
	t.Helper()
	if _, err := w.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// peek calls Peek, which must not fail.
func peek(t *testing.T, src *Source, have int) (string, bool) {
	t.Helper()
	head, ended, err := src.Peek(have)
	if err != nil {
		t.Fatalf("Peek(%d): %v", have, err)
	}
	return string(head), ended
}

// TestSourcePeekLeavesMoveTakes: Peek shows the pipe's bytes and leaves
// them there; MoveTo takes exactly the first n into the file at the
// offset, which it advances.
func TestSourcePeekLeavesMoveTakes(t *testing.T) {
	f, w := openFIFO(t)
	src := newSource(t, f)
	write(t, w, "abc\ndef")
	if head, _ := peek(t, src, 0); head != "abc\ndef" {
		t.Fatalf("Peek: %q", head)
	}
	if n := Queued(src.conn); n != 7 {
		t.Fatalf("after Peek the pipe holds %d bytes, want all 7", n)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	out.WriteString("xy")
	off := int64(2)
	if n, err := src.MoveTo(out, &off, 4); n != 4 || err != nil || off != 6 {
		t.Fatalf("MoveTo: %d, %v, offset %d; want 4 bytes, offset 6", n, err, off)
	}
	if b, _ := os.ReadFile(out.Name()); string(b) != "xyabc\n" {
		t.Errorf("file holds %q, want %q", b, "xyabc\n")
	}
	if head, _ := peek(t, src, 0); head != "def" {
		t.Errorf("the pipe holds %q after the move, want %q", head, "def")
	}
}

// TestSourceWaitsForMore: Peek returns only once the pipe holds more than
// the caller has seen; a FIFO we hold read-write never ends.
func TestSourceWaitsForMore(t *testing.T) {
	f, w := openFIFO(t)
	src := newSource(t, f)
	write(t, w, "abc")
	w.Close() // the last other writer: we still hold it
	src.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if head, ended, err := src.Peek(3); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Peek(3) with 3 bytes in the pipe: %q, ended %v, %v; want it to wait until the deadline", head, ended, err)
	}
	src.SetReadDeadline(time.Now().Add(hang))
	w2, err := os.OpenFile(f.Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	write(t, w2, "de")
	if head, ended := peek(t, src, 3); head != "abcde" || ended {
		t.Errorf("Peek(3) after 2 more bytes: %q, ended %v; want %q, not ended", head, ended, "abcde")
	}
}

// TestSourceEndsWithoutWriters: a pipe whose writers are gone (standard
// input at its end) ends, also with an unfinished line left in it, and
// then with nothing.
func TestSourceEndsWithoutWriters(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := newSource(t, r)
	write(t, w, "x\ny")
	w.Close()
	if head, ended := peek(t, src, 3); head != "x\ny" || !ended {
		t.Fatalf("Peek(3) after the writer closed: %q, ended %v; want %q, ended", head, ended, "x\ny")
	}
	out, _ := os.Create(filepath.Join(t.TempDir(), "seg"))
	defer out.Close()
	var off int64
	if n, err := src.MoveTo(out, &off, 3); n != 3 || err != nil {
		t.Fatalf("MoveTo: %d, %v", n, err)
	}
	if head, ended := peek(t, src, 0); head != "" || !ended {
		t.Errorf("Peek(0) on an empty pipe without writers: %q, ended %v; want nothing, ended", head, ended)
	}
}

// TestSourceReopensBlockingPipe: standard input is a blocking pipe that
// the poller does not take; the Source opens it again, non-blocking, and
// leaves the mode of the descriptor it was given (shared with others)
// alone.
func TestSourceReopensBlockingPipe(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	stdin := os.NewFile(uintptr(p[0]), "stdin")
	defer stdin.Close()
	w := os.NewFile(uintptr(p[1]), "writer")
	defer w.Close()
	src := newSource(t, stdin)
	if src.own == nil {
		t.Fatal("a blocking pipe was not opened again")
	}
	if fl, _ := unix.FcntlInt(uintptr(p[0]), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
		t.Error("the descriptor given was made non-blocking")
	}
	write(t, w, "line\n")
	if head, _ := peek(t, src, 0); head != "line\n" {
		t.Errorf("Peek through the pipe opened again: %q", head)
	}
}

// TestSourceNotAPipe: anything but a pipe (a file or a terminal on
// standard input) is left to the caller to read.
func TestSourceNotAPipe(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0) // a terminal's master side
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	for name, r := range map[string]io.Reader{
		"regular file": file,
		"terminal":     tty,
		"reader":       strings.NewReader("x\n"),
		"buffer":       &bytes.Buffer{},
	} {
		if _, err := NewSource(r); !errors.Is(err, ErrNotPipe) {
			t.Errorf("%s: %v, want ErrNotPipe", name, err)
		}
	}
}

// TestSourceReadNeverWaits: Read takes what Peek showed into memory, and
// never waits for bytes that are not there (another reader took them).
func TestSourceReadNeverWaits(t *testing.T) {
	f, w := openFIFO(t)
	src := newSource(t, f)
	write(t, w, "abc\n")
	peek(t, src, 0)
	b := make([]byte, 8)
	if n, err := src.Read(b[:4]); n != 4 || err != nil || string(b[:4]) != "abc\n" {
		t.Fatalf("Read: %d, %v, %q", n, err, b[:n])
	}
	if n, err := src.Read(b); n != 0 || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Read of an empty pipe: %d, %v; want 0 at once, EAGAIN", n, err)
	}
}
