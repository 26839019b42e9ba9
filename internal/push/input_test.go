package push

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// newFollowEngine is a test engine over a durable spool in a directory of
// its own, as push --file has it.
func newFollowEngine(t *testing.T, sopts spool.Options) (*testEngine, *follower) {
	t.Helper()
	if sopts.Dir == "" {
		sopts.Dir = filepath.Join(t.TempDir(), "spool")
	}
	sopts.Durable = true
	te := newTestEngine(t, Options{}, sopts)
	return te, &follower{path: "app.log", lw: te.lw, clock: te.clk, log: te.log}
}

func cursorAt(ino uint64, off int64) tailer.Cursor {
	return tailer.Cursor{Dev: 1, Ino: ino, Offset: off}
}

// TestFollowerRecordsPositionAfterEveryWholeLine: the file position goes
// with the spool after the last whole line spooled, never inside a line,
// so that the position and the spooled data always agree.
func TestFollowerRecordsPositionAfterEveryWholeLine(t *testing.T) {
	te, f := newFollowEngine(t, spool.Options{})
	ctx := context.Background()
	f.take(ctx, tailer.Chunk{Data: []byte("one\ntw"), End: cursorAt(2, 6)})
	if m := te.sp.InputMark(); m != cursorAt(2, 4).String() {
		t.Fatalf("position %q with half a line read, want %q (after the whole line)", m, cursorAt(2, 4))
	}
	f.take(ctx, tailer.Chunk{Data: []byte("o\n"), End: cursorAt(2, 8)})
	if m := te.sp.InputMark(); m != cursorAt(2, 8).String() {
		t.Fatalf("position %q after whole lines, want %q", m, cursorAt(2, 8))
	}
	if _, tail := te.sp.Bounds(); tail != 8 {
		t.Errorf("spool tail %d, want 8", tail)
	}
}

// TestFollowerPositionAcrossRotation: an unfinished last line of a file
// that was rotated keeps the position in that file, so that a restart
// reads it again from there; once the line ends in the next file, the
// position is in the next file. Without a held line a rotation moves the
// position at once.
func TestFollowerPositionAcrossRotation(t *testing.T) {
	te, f := newFollowEngine(t, spool.Options{})
	ctx := context.Background()
	f.take(ctx, tailer.Chunk{Data: []byte("a\nb"), End: cursorAt(2, 3)})
	f.take(ctx, tailer.Chunk{End: cursorAt(3, 0), Event: tailer.EventRotated})
	if m := te.sp.InputMark(); m != cursorAt(2, 2).String() {
		t.Fatalf("position %q after a rotation with a line unfinished, want %q", m, cursorAt(2, 2))
	}
	f.take(ctx, tailer.Chunk{Data: []byte("c\n"), End: cursorAt(3, 2)})
	if m := te.sp.InputMark(); m != cursorAt(3, 2).String() {
		t.Fatalf("position %q once the line ended in the next file, want %q", m, cursorAt(3, 2))
	}
	f.take(ctx, tailer.Chunk{End: cursorAt(4, 0), Event: tailer.EventRotated})
	if m := te.sp.InputMark(); m != cursorAt(4, 0).String() {
		t.Errorf("position %q after a rotation between lines, want %q", m, cursorAt(4, 0))
	}
	if got := string(te.next(t).Data); got != "a\nbc\n" {
		t.Errorf("spooled %q", got)
	}
}

// TestFollowerResumesAtSavedPosition: a restart goes on reading the file
// where the spool's position says, neither repeating nor skipping.
func TestFollowerResumesAtSavedPosition(t *testing.T) {
	te, _ := newFollowEngine(t, spool.Options{})
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte("sent before\nnot yet sent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fsutil.IDOf(fi)
	if err := te.sp.AppendInput(tailer.Cursor{Dev: id.Dev, Ino: id.Ino, Offset: 12}.String()); err != nil {
		t.Fatal(err)
	}
	f, err := openFollower(te.sp, te.lw, path, false, te.clk, te.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.run(ctx) }()
	if got := string(te.next(t).Data); got != "not yet sent\n" {
		t.Fatalf("resumed with %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follower: %v", err)
	}
	if m := te.sp.InputMark(); m != (tailer.Cursor{Dev: id.Dev, Ino: id.Ino, Offset: 25}).String() {
		t.Errorf("position %q after reading to the end", m)
	}
}

// TestFollowerHoldsChunkWhileSpoolRefuses: when the spool cannot take a
// chunk (here: its directory is gone, so no new segment file can be
// made), the follower keeps the chunk and its position, says so once, and
// spools it when the spool works again, on its own clock.
func TestFollowerHoldsChunkWhileSpoolRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	te, f := newFollowEngine(t, spool.Options{Dir: dir, SegmentSize: 64 << 10})
	ctx := context.Background()
	full := lines(0, (64<<10)/lineLen) // fills the first segment
	f.take(ctx, tailer.Chunk{Data: full, End: cursorAt(2, int64(len(full)))})
	more := lines(10000, 10010)
	end := int64(len(full) + len(more))
	te.holdsWhileSpoolRefuses(t, dir, "the followed file", "chunk",
		func() error { return f.take(ctx, tailer.Chunk{Data: more, End: cursorAt(2, end)}) },
		cursorAt(2, int64(len(full))).String(), cursorAt(2, end).String())
	got := append([]byte(nil), te.next(t).Data...)
	got = append(got, te.next(t).Data...)
	if string(got) != string(full)+string(more) {
		t.Errorf("spooled %d bytes, want the %d of both chunks once", len(got), len(full)+len(more))
	}
}

// TestRunMovesPipedInputThenEnds: standard input that is a pipe has its
// bytes moved into the spool (and says so); at its end its last line,
// without newline, goes too, and everything is delivered.
func TestRunMovesPipedInputThenEnds(t *testing.T) {
	logs := &logRecorder{t: t}
	all := append(lines(0, 20000), "a last line without newline"...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		defer w.Close()
		for rest := all; len(rest) > 0; rest = rest[min(len(rest), 4000):] {
			w.Write(rest[:min(len(rest), 4000)]) // pieces that end inside lines
		}
	}()
	runInputToEnd(t, r, all, logs)
	if n := logs.count("input is a pipe: its bytes move straight into the spool (splice)"); n != 1 {
		t.Errorf("the move of a pipe's bytes was logged %d times, want once", n)
	}
}

// TestInputNotAPipeIsRead: a regular file on standard input is read, and
// the log says so; compatible mode then keeps its spool in memory first,
// as before.
func TestInputNotAPipeIsRead(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "input")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	te := newTestEngine(t, Options{Input: f}, spool.Options{})
	te.pipeSource()
	if te.src != nil || te.durable() {
		t.Errorf("a regular file is moved (%v) or needs a durable spool (%v)", te.src != nil, te.durable())
	}
	if n := te.logs.count("input is not a pipe: reading it (read)"); n != 1 {
		t.Errorf("reading the input was logged %d times, want once", n)
	}
}

// TestPipeInputLeavesUnfinishedLineAtStop: a FIFO's whole lines go into
// the spool; when the run stops, an unfinished last line stays in the
// FIFO, for the next run to take with its end; and compatible mode keeps
// the spool on disk without syncing it.
func TestPipeInputLeavesUnfinishedLineAtStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	fifo, err := pipe.Open(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer fifo.Close()
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	te := newTestEngine(t, Options{Input: fifo}, spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Durable: true})
	te.pipeSource()
	if te.src == nil || !te.durable() || te.syncs() {
		t.Fatalf("a FIFO in compatible mode: moved %v, durable spool %v, synced %v; want moved, durable, not synced", te.src != nil, te.durable(), te.syncs())
	}
	in, err := te.openInput()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("one\ntw")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.run(ctx) }()
	if got := string(te.next(t).Data); got != "one\n" {
		t.Fatalf("spooled %q, want the whole line", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(hang):
		t.Fatalf("hang: the input did not stop within %v", hang)
	}
	in.end()
	if n := te.sp.Unfinished(); n != 0 || te.d.consumer.Available() != 0 {
		t.Errorf("after the stop the spool holds %d more bytes, %d unseen; want none", te.d.consumer.Available(), n)
	}
	if n := pipe.Queued(fifo); n != 2 {
		t.Errorf("the FIFO holds %d bytes after the stop, want the unfinished line's 2", n)
	}
}
