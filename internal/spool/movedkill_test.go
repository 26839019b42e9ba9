package spool

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
)

// TestMovedInputSurvivesKill: a process moving a FIFO's lines into the
// spool (pipe.Source, LineWriter.Move), with lines of its own in
// between, is killed -9 at random moments, again and again, while lines
// of random length (some far longer than looseAt) are written into the
// FIFO in pieces that end anywhere. After every kill, the spool opened
// again holds, with the start of an unfinished line it keeps unseen,
// exactly what left the FIFO: with what is still in the FIFO, every byte
// written, once, in order; and its own lines whole, between lines.
func TestMovedInputSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 processes")
	}
	dir := t.TempDir()
	fifo, spoolDir := filepath.Join(dir, "fifo"), filepath.Join(dir, "spool")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Held open read-write, as a socket unit holds it: what is in it
	// survives the reader.
	holder, err := os.OpenFile(fifo, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	w := &killWriter{f: holder, rng: rand.New(rand.NewPCG(1, 2))}
	for round := range 30 {
		child := startMoveChild(t, fifo, spoolDir)
		for range 1 + w.rng.IntN(4) {
			w.write(t)
			child.progress(t)
		}
		w.write(t)
		child.progress(t) // about to take it: kill it now
		child.kill()
		got := movedAndHeld(t, spoolDir)
		inPipe := pipe.Queued(holder)
		want := w.written[:len(w.written)-inPipe]
		if own := ownLines(got); !bytes.Equal(own.rest, want) {
			t.Fatalf("round %d: the spool holds %s (without %d lines of its own), the FIFO %d bytes; want the first %d of the %d bytes written, from byte %d on it differs",
				round, short(own.rest), own.n, inPipe, len(want), len(w.written), firstDiff(own.rest, want))
		}
	}
}

// killWriter writes numbered lines of random length into the FIFO, in
// pieces that end anywhere, and keeps what it wrote.
type killWriter struct {
	f       *os.File
	rng     *rand.Rand
	next    int
	pending []byte // written next
	written []byte
}

// write writes up to 64 KiB more into the FIFO.
func (w *killWriter) write(t *testing.T) {
	t.Helper()
	for len(w.pending) < 64<<10 {
		body := 10 + w.rng.IntN(150)
		if w.rng.IntN(20) == 0 {
			body = looseAt + w.rng.IntN(2*looseAt)
		}
		w.pending = fmt.Appendf(w.pending, "L%08d %s\n", w.next, bytes.Repeat([]byte{byte('a' + w.next%26)}, body))
		w.next++
	}
	k := 1 + w.rng.IntN(64<<10)
	n, err := w.f.Write(w.pending[:k]) // the child is alive: it waits while the pipe is full
	if err != nil {
		t.Fatalf("write into the FIFO: %v", err)
	}
	w.written = append(w.written, w.pending[:n]...)
	w.pending = w.pending[n:]
}

// moveChild is a process running TestMoveKillChild.
type moveChild struct {
	cmd   *exec.Cmd
	moves chan struct{} // one per move the child reports
}

func startMoveChild(t *testing.T, fifo, dir string) *moveChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMoveKillChild$")
	cmd.Env = append(os.Environ(), "SPOOL_MOVE_CHILD_FIFO="+fifo, "SPOOL_MOVE_CHILD_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &moveChild{cmd: cmd, moves: make(chan struct{}, 1<<16)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := out.Read(b)
			for range n {
				c.moves <- struct{}{}
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

// progress waits for the child to report a move.
func (c *moveChild) progress(t *testing.T) {
	t.Helper()
	select {
	case <-c.moves:
	case <-time.After(hang):
		c.kill()
		t.Fatalf("hang: the child reported no move within %v", hang)
	}
}

func (c *moveChild) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// movedAndHeld opens the spool as the next process would and returns
// what it shows, followed by the unfinished line's start it holds.
func movedAndHeld(t *testing.T, dir string) []byte {
	t.Helper()
	s := openDurable(t, dir)
	defer s.Close()
	got := visibleData(t, s)
	if s.loose > 0 {
		g := s.segs[len(s.segs)-1]
		held := make([]byte, s.loose)
		if _, err := g.f.ReadAt(held, g.size); err != nil {
			t.Fatalf("read the unfinished line's start: %v", err)
		}
		got = append(got, held...)
	}
	return got
}

// ownLine is what the child writes of its own.
var ownLine = regexp.MustCompile(`^-- MARK \d+ --\n$`)

// ownLinesOut is data without the lines of our own it holds.
type ownLinesOut struct {
	rest []byte
	n    int
}

// ownLines takes the child's own lines out of data. One that was torn or
// glued to another line does not match and stays in: the comparison with
// what was written then fails.
func ownLines(data []byte) ownLinesOut {
	var out ownLinesOut
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data) - 1
		}
		if line := data[:i+1]; ownLine.Match(line) {
			out.n++
		} else {
			out.rest = append(out.rest, line...)
		}
		data = data[i+1:]
	}
	return out
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// TestMoveKillChild is the child of TestMovedInputSurvivesKill: it moves
// the FIFO into the spool as push does, forever, writes a line of its own
// after every second look, and reports each look into the FIFO with a
// byte on standard output, just before it moves what it saw.
func TestMoveKillChild(t *testing.T) {
	fifo := os.Getenv("SPOOL_MOVE_CHILD_FIFO")
	if fifo == "" {
		t.Skip("child of TestMovedInputSurvivesKill")
	}
	s, err := Open(Options{Dir: os.Getenv("SPOOL_MOVE_CHILD_DIR"), Max: 1 << 30, Durable: true, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pipe.Open(fifo, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	src, err := pipe.NewSource(f)
	if err != nil {
		t.Fatal(err)
	}
	lw := &LineWriter{S: s}
	have := 0
	for i := 0; ; i++ {
		head, _, err := src.Peek(have)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(os.Stdout, ".") // the parent may kill it now
		took, err := lw.Move(head, false, src)
		if err != nil {
			t.Fatal(err)
		}
		have = len(head) - took
		if i%2 == 1 {
			if err := lw.WriteLine(fmt.Appendf(nil, "-- MARK %d --\n", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
}
