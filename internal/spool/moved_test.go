package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Moved input (AppendMoved): the input's bytes go straight into the
// segment files, and after a kill -9 at any moment the files say exactly
// which bytes left the input. "Crash" is opening the directory again
// without Close, as the next process would.

// hang bounds waits: it only catches a hang.
const hang = 10 * time.Second

// fakeInput is input that moves its bytes into a file with pwrite, as
// splice(2) does from a pipe; fail makes MoveTo fail after moving that
// many bytes (a full disk, or a kill in mid-move).
type fakeInput struct {
	data []byte
	fail int // -1: never
}

func newInput(s string) *fakeInput { return &fakeInput{data: []byte(s), fail: -1} }

func (in *fakeInput) MoveTo(f *os.File, off *int64, n int) (int, error) {
	var err error
	if in.fail >= 0 && in.fail < n {
		n, err = in.fail, syscall.ENOSPC
	}
	k, werr := f.WriteAt(in.data[:n], *off)
	*off += int64(k)
	in.data = in.data[k:]
	return k, errors.Join(err, werr)
}

func (in *fakeInput) Read(p []byte) (int, error) {
	n := copy(p, in.data)
	in.data = in.data[n:]
	return n, nil
}

// move offers the first n bytes the input holds to lw, as push does.
func move(t *testing.T, lw *LineWriter, in *fakeInput, n int, ended bool) int {
	t.Helper()
	took, err := lw.Move(append([]byte(nil), in.data[:n]...), ended, in)
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	return took
}

// wantMoved checks what a new consumer of s sees, and the unfinished
// line's start held unseen.
func wantMoved(t *testing.T, s *Spool, visible string, unfinished int64) {
	t.Helper()
	if got := visibleData(t, s); string(got) != visible {
		t.Errorf("the spool shows %s, want %s", short(got), short([]byte(visible)))
	}
	if _, tail := s.Bounds(); tail != int64(len(visible)) {
		t.Errorf("tail %d, want %d", tail, len(visible))
	}
	if n := s.Unfinished(); n != unfinished {
		t.Errorf("%d bytes of an unfinished line held, want %d", n, unfinished)
	}
}

// readers names a new consumer for every visibleData.
var readers atomic.Int64

// visibleData reads everything a new consumer gets, acknowledging
// nothing.
func visibleData(t *testing.T, s *Spool) []byte {
	t.Helper()
	c := s.Consumer(fmt.Sprintf("reader-%d", readers.Add(1)))
	var got []byte
	for c.Available() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		b, err := c.Next(ctx, 1<<20)
		cancel()
		if err != nil {
			t.Fatalf("hang: reading what the spool says it holds: %v", err)
		}
		got = append(got, b.Data...)
	}
	return got
}

// short shows b, or its start and end when it is long.
func short(b []byte) string {
	if len(b) <= 60 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q...%q (%d bytes)", b[:20], b[len(b)-30:], len(b))
}

// TestMovedInputShowsWholeLines: moved bytes become visible up to their
// last line end; an unfinished line is left in the input (short) or held
// unseen in the spool's file (long), until its end arrives.
func TestMovedInputShowsWholeLines(t *testing.T) {
	s := openDurable(t, t.TempDir())
	lw := &LineWriter{S: s}
	in := newInput("one\ntw")
	if took := move(t, lw, in, 6, false); took != 4 {
		t.Fatalf("took %d bytes of %q, want the whole line (4)", took, "one\ntw")
	}
	wantMoved(t, s, "one\n", 0)
	long := bytes.Repeat([]byte("x"), looseAt)
	in.data = append(append(in.data, long...), "o\nthr"...)
	if took := move(t, lw, in, 2+looseAt, false); took != 2+looseAt {
		t.Fatalf("took %d bytes of a long unfinished line, want all %d", took, 2+looseAt)
	}
	wantMoved(t, s, "one\n", 2+looseAt)
	if took := move(t, lw, in, 5, false); took != 2 {
		t.Fatalf("took %d bytes, want the line's end (2)", took)
	}
	wantMoved(t, s, "one\ntw"+string(long)+"o\n", 0)
}

// TestMovedUnfinishedLineSurvivesCrash: after a crash the spool shows the
// moved bytes up to their last line end, holds the rest as the start of a
// line whose end is still in the input, and the line completes.
func TestMovedUnfinishedLineSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	long := string(bytes.Repeat([]byte("y"), looseAt))
	in := newInput("a\nb\n" + long + "rest\n")
	move(t, &LineWriter{S: s}, in, 4+looseAt, false)
	wantMoved(t, s, "a\nb\n", looseAt)
	s2 := openDurable(t, dir)
	wantMoved(t, s2, "a\nb\n", looseAt)
	move(t, &LineWriter{S: s2}, in, 5, false)
	wantMoved(t, s2, "a\nb\n"+long+"rest\n", 0)
}

// TestMovedShortMoveKeepsItsLines: a move cut short (a full disk, or a
// kill in mid-move) shows the lines that did move, and holds the start
// of the one it cut; the rest is moved later.
func TestMovedShortMoveKeepsItsLines(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	lw := &LineWriter{S: s}
	in := newInput("one\ntwo\nthree\n")
	in.fail = 6
	if took, err := lw.Move([]byte("one\ntwo\nthree\n"), false, in); took != 6 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Move with the disk full after 6 bytes: took %d, %v", took, err)
	}
	wantMoved(t, s, "one\n", 2)
	wantMoved(t, openDurable(t, dir), "one\n", 2) // a kill now: the same
	in.fail = -1
	move(t, lw, in, 8, false)
	wantMoved(t, s, "one\ntwo\nthree\n", 0)
}

// TestMovedMarksAtLineBoundaries: a line of our own waits while a moved
// line is unfinished and follows once it has ended; moved input after it
// goes on after it, also across a crash.
func TestMovedMarksAtLineBoundaries(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	lw := &LineWriter{S: s}
	long := string(bytes.Repeat([]byte("z"), looseAt))
	in := newInput("a\n" + long + "end\nb\n")
	move(t, lw, in, 2+looseAt, false)
	if err := lw.WriteLine([]byte("-- MARK --\n")); err != nil {
		t.Fatal(err)
	}
	wantMoved(t, s, "a\n", looseAt)
	move(t, lw, in, 4, false)
	want := "a\n" + long + "end\n-- MARK --\n"
	wantMoved(t, s, want, 0)
	s2 := openDurable(t, dir)
	wantMoved(t, s2, want, 0)
	move(t, &LineWriter{S: s2}, in, 2, false)
	wantMoved(t, s2, want+"b\n", 0)
}

// TestMovedOwnLineCutOffByKill: a line of our own that a kill cut off in
// mid-write is cut away, not taken for moved input (whose next bytes
// would otherwise be glued to it); one written whole stays.
func TestMovedOwnLineCutOffByKill(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	in := newInput("a\nb\n")
	move(t, &LineWriter{S: s}, in, 2, false)
	// What appendSettled does before its write, then half the write.
	if err := s.recordMoved(2, 11); err != nil {
		t.Fatal(err)
	}
	appendFile(t, lastSegment(t, dir), []byte("-- MAR"))
	s2 := openDurable(t, dir)
	wantMoved(t, s2, "a\n", 0)
	move(t, &LineWriter{S: s2}, in, 2, false)
	wantMoved(t, s2, "a\nb\n", 0)
	// Killed after the write, before the record after it.
	if err := s2.recordMoved(4, 11); err != nil {
		t.Fatal(err)
	}
	appendFile(t, lastSegment(t, dir), []byte("-- MARK --\n"))
	wantMoved(t, openDurable(t, dir), "a\nb\n-- MARK --\n", 0)
}

// TestMovedOverlongLinePassedOn: a line longer than MaxLine is passed on
// as it is, without its end, and stays visible across a crash (it was
// recorded: a destination may have it); lines of our own wait for its
// end.
func TestMovedOverlongLinePassedOn(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	lw := &LineWriter{S: s, MaxLine: 100}
	in := newInput(string(bytes.Repeat([]byte("o"), 120)) + "\n")
	move(t, lw, in, 120, false)
	lw.WriteLine([]byte("-- MARK --\n"))
	wantMoved(t, s, string(bytes.Repeat([]byte("o"), 120)), 0)
	s2 := openDurable(t, dir)
	wantMoved(t, s2, string(bytes.Repeat([]byte("o"), 120)), 0)
	if !s2.InLine() {
		t.Error("after the crash the stream does not say it ends inside a line")
	}
	lw2 := &LineWriter{S: s2}
	lw2.WriteLine([]byte("-- MARK 2 --\n"))
	move(t, lw2, in, 1, false)
	wantMoved(t, s2, string(bytes.Repeat([]byte("o"), 120))+"\n-- MARK 2 --\n", 0)
}

// TestMovedFinalLineAtEndOfInput: at the end of the input its last line
// is passed on without a newline.
func TestMovedFinalLineAtEndOfInput(t *testing.T) {
	s := openDurable(t, t.TempDir())
	lw := &LineWriter{S: s}
	in := newInput("a\nlast")
	move(t, lw, in, 6, true)
	if err := lw.Flush(); err != nil {
		t.Fatal(err)
	}
	wantMoved(t, s, "a\nlast", 0)
}

// TestMovedReleaseKeepsUnfinishedLine: a segment whose visible part is
// all delivered is not released while it holds an unfinished line's start.
func TestMovedReleaseKeepsUnfinishedLine(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	lw := &LineWriter{S: s}
	c := s.Consumer("dest")
	long := string(bytes.Repeat([]byte("w"), looseAt))
	in := newInput("a\n" + long + "\n")
	move(t, lw, in, 2+looseAt, false)
	if got, _ := drain(t, c); string(got) != "a\n" {
		t.Fatalf("delivered %q", got)
	}
	move(t, lw, in, 1, false)
	if got, _ := drain(t, c); string(got) != long+"\n" {
		t.Errorf("after release, the line delivered is %s, want the one moved, %d bytes", short(got), len(long)+1)
	}
}

// TestMovedDiskFailureTakesIntoMemory: when no segment file takes moved
// input, whole lines are taken into memory, as other data is then.
func TestMovedDiskFailureTakesIntoMemory(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Max: 64 << 20, Durable: true, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	lw := &LineWriter{S: s}
	in := newInput("a\nb\n")
	move(t, lw, in, 2, false)
	in.fail = 0
	if took := move(t, lw, in, 2, false); took != 2 {
		t.Fatalf("took %d bytes while the disk fails, want 2", took)
	}
	wantMoved(t, s, "a\nb\n", 0)
}

// TestMovedNeedsDurableSpool: moved input goes into files.
func TestMovedNeedsDurableSpool(t *testing.T) {
	s, _ := Open(Options{Dir: t.TempDir(), Max: 1 << 20})
	if _, err := s.AppendMoved([]byte("x\n"), false, newInput("x\n")); err == nil {
		t.Error("moved input was accepted by a spool that is not durable")
	}
}
