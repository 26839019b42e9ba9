package testlab

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// smallPipe is a pipe that holds 4096 bytes; both ends are non-blocking
// (os.Pipe's files are, for Go's poller).
func smallPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	rc, _ := w.SyscallConn()
	rc.Control(func(fd uintptr) { _, err = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeBuf) })
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

// untilAsleep waits until the code under test waits on clk again, or done
// is closed; the deadline only catches a hang.
func untilAsleep(t *testing.T, clk *clock.Fake, done <-chan struct{}) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); runtime.Gosched() {
		select {
		case <-done:
			return
		default:
		}
		if clk.Waiters() > 0 {
			return
		}
	}
	t.Fatal("the writer neither waited nor finished within 10 s (hang)")
}

// TestWriterPaced: line i is written i/rate seconds in, whatever the tick;
// a pause holds the lines back and the resume writes them at once; the
// run ends at its limit.
func TestWriterPaced(t *testing.T) {
	t.Parallel()
	f := Numbered(20)
	clk := clock.NewFake(time.Unix(1e9, 0))
	out, err := os.Create(t.TempDir() + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := NewWriter(out, f, WriterOptions{Tick: 10 * time.Millisecond, Clock: clk})
	done := make(chan struct{})
	var nexts []int
	go func() {
		defer close(done)
		if err := w.Run(context.Background(), 50, 1000, func(next int) { nexts = append(nexts, next) }); err != nil {
			t.Error(err)
		}
	}()
	step := func(d time.Duration, want int) {
		t.Helper()
		clk.Advance(d)
		untilAsleep(t, clk, done)
		if got, _ := os.ReadFile(out.Name()); !bytes.Equal(got, f.Range(0, want)) || w.Next() != want || w.Written() != want {
			t.Fatalf("at %v: next %d, written %d, %d bytes; want lines 0..%d", clk.Now().Sub(time.Unix(1e9, 0)), w.Next(), w.Written(), len(got), want-1)
		}
	}
	step(0, 1) // line 0 is due at once
	step(10*time.Millisecond, 11)
	w.Pause()
	step(10*time.Millisecond, 11)
	step(10*time.Millisecond, 11)
	w.Resume()
	step(10*time.Millisecond, 41)
	step(10*time.Millisecond, 50) // the limit
	<-done
	if !slices.Equal(nexts, []int{1, 11, 41, 50}) {
		t.Errorf("during saw %v, want one call per write", nexts)
	}
}

// TestWriterDrop: with nobody reading, a full pipe drops lines and counts
// them; what is in the pipe is exactly the lines not dropped.
func TestWriterDrop(t *testing.T) {
	t.Parallel()
	f := Numbered(100)
	r, pw := smallPipe(t)
	w := NewWriter(pw, f, WriterOptions{Mode: Drop})
	if err := w.Write(100); err != nil {
		t.Fatal(err)
	}
	written, dropped := w.Written(), w.Dropped()
	if written == 0 || dropped == 0 || written+dropped != 100 || w.Next() != 100 {
		t.Fatalf("written %d, dropped %d, next %d: want both, adding up to 100", written, dropped, w.Next())
	}
	pw.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Received: written, Lost: dropped, Missing: []Span{{written, 99}}}
	if got := f.Check(data, 100); !sameReport(got, want) {
		t.Errorf("in the pipe: %s, missing %v; want %s, missing %v", got, got.Missing, want, want.Missing)
	}
}

// TestWriterRetry: a full pipe stalls the writer, which retries after a
// millisecond; every line arrives once, whole, in order.
func TestWriterRetry(t *testing.T) {
	t.Parallel()
	f := Numbered(100)
	r, pw := smallPipe(t)
	clk := clock.NewFake(time.Unix(1e9, 0))
	w := NewWriter(pw, f, WriterOptions{Mode: Retry, Clock: clk})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Write(200); err != nil {
			t.Error(err)
		}
	}()
	var got []byte
	buf := make([]byte, 1500)
	for {
		untilAsleep(t, clk, done)
		select {
		case <-done:
		default:
			if q := w.Queued(); got == nil && q != pipeBuf/f.Size*f.Size {
				t.Fatalf("first stall with %d bytes in the pipe, want one chunk of whole lines", q)
			}
			n, err := r.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:n]...)
			clk.Advance(time.Millisecond)
			continue
		}
		break
	}
	pw.Close()
	rest, _ := io.ReadAll(r)
	got = append(got, rest...)
	if rep := f.Check(got, 200); !rep.Exact(200) || w.Written() != 200 || w.Stalls() == 0 {
		t.Errorf("%s; written %d, stalls %d: want all 200 exactly once after stalls", rep, w.Written(), w.Stalls())
	}
}

// TestOpenWriterReopen: a writer of a path reopens it, as a daemon after
// logrotate; the rotated and the new file together hold every line once.
func TestOpenWriterReopen(t *testing.T) {
	t.Parallel()
	f := Numbered(30)
	path := t.TempDir() + "/app.log"
	w := OpenWriter(t, path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644, f, WriterOptions{})
	w.Write(10)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.Write(5) // into the renamed file
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write(5)
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !bytes.Equal(old, f.Range(0, 15)) || !bytes.Equal(cur, f.Range(15, 20)) {
		t.Errorf("rotated file %d bytes, new file %d bytes: want lines 0..14 and 15..19", len(old), len(cur))
	}
}

// TestWriterDropReopen: a write-only writer of a FIFO whose reader went
// away drops the line that met EPIPE and closes the pipe (what was unread
// in it is gone), drops lines while no reader is there, and writes again
// into the FIFO once a new reader opened it.
func TestWriterDropReopen(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/log.fifo"
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	f := Numbered(20)
	r := open()
	w := OpenWriter(t, path, os.O_WRONLY, 0, f, WriterOptions{Mode: Drop, Reopen: true})
	w.Write(2)
	r.Close() // the reader dies with lines 0 and 1 unread
	w.Write(3)
	if w.Written() != 2 || w.Dropped() != 3 {
		t.Fatalf("without a reader: written %d, dropped %d; want 2 and 3 (EPIPE, then no reader)", w.Written(), w.Dropped())
	}
	r = open()
	defer r.Close()
	w.Write(2)
	got := make([]byte, 100)
	n, _ := r.Read(got)
	if w.Written() != 4 || !bytes.Equal(got[:n], f.Range(5, 7)) {
		t.Errorf("with a new reader: written %d, the reader got %q; want 4 and lines 5-6 only (the first two died with the pipe)", w.Written(), got[:n])
	}
}
