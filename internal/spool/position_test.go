package spool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The input position record: after a kill -9 at any moment, a reopened
// spool holds exactly the input up to the position it recorded last, and
// InputMark says where the input goes on. "Crash" below is opening the
// directory again without Close, as the next process would.

func openDurable(t *testing.T, dir string) *Spool {
	t.Helper()
	s, err := Open(Options{Dir: dir, Max: 64 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// all reads everything a new consumer gets, acknowledging nothing (so
// that nothing is released).
func all(t *testing.T, s *Spool) []byte {
	t.Helper()
	c := s.Consumer(fmt.Sprintf("reader-%p", s))
	var got []byte
	for c.Available() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := c.Next(ctx, 1<<20)
		cancel()
		if err != nil {
			t.Fatalf("hang: reading what the spool says it holds: %v (got %q)", err, got)
		}
		got = append(got, b.Data...)
	}
	return got
}

func mark(n int) string { return fmt.Sprintf("1:2:%d", n) }

// lastSegment is the path of the newest segment file.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment file")
	}
	return segs[len(segs)-1]
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func wantRecovered(t *testing.T, s *Spool, data []byte, m string) {
	t.Helper()
	if got := s.InputMark(); got != m {
		t.Errorf("input position %q after the crash, want %q", got, m)
	}
	if _, tail := s.Bounds(); tail != int64(len(data)) {
		t.Errorf("tail %d after the crash, want %d", tail, len(data))
	}
	if got := all(t, s); !bytes.Equal(got, data) {
		t.Errorf("after the crash the spool holds\n%q\nwant\n%q", got, data)
	}
}

// TestCrashBetweenSegmentWriteAndRecordCutsBack: bytes in a segment file
// beyond the last record were written by a process that died before it
// recorded their position: no consumer saw them, and the input reads them
// again, so they are cut away.
func TestCrashBetweenSegmentWriteAndRecordCutsBack(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	if err := s.AppendInput(mark(140), lines(0, 10)); err != nil {
		t.Fatal(err)
	}
	appendFile(t, lastSegment(t, dir), lines(10, 12)) // no record: killed here
	wantRecovered(t, openDurable(t, dir), lines(0, 10), mark(140))
}

// TestCrashKeepsMarkLinesAtTheirOffsets: lines of our own appended between
// input chunks (marks) stay where they were and the input goes on after
// its last recorded byte: a mark can neither be cut off nor shift the
// input's bytes against the stream's offsets.
func TestCrashKeepsMarkLinesAtTheirOffsets(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	var want []byte
	for i := range 3 {
		chunk := lines(i*10, i*10+10)
		if err := s.AppendInput(mark((i+1)*140), chunk); err != nil {
			t.Fatal(err)
		}
		own := []byte(fmt.Sprintf("-- MARK %d --\n", i))
		if err := s.Append(own); err != nil {
			t.Fatal(err)
		}
		want = append(append(want, chunk...), own...)
	}
	s2 := openDurable(t, dir)
	wantRecovered(t, s2, want, mark(3*140))
	// The input goes on right after: offsets continue without a hole.
	if err := s2.AppendInput(mark(4*140), lines(30, 40)); err != nil {
		t.Fatal(err)
	}
	if _, tail := s2.Bounds(); tail != int64(len(want))+140 {
		t.Errorf("tail %d after the next chunk, want %d", tail, len(want)+140)
	}
}

// TestPositionRecordSlots: records alternate between two slots; the newer
// valid one wins whichever slot it is in, and a torn or garbage slot (a
// crash of the machine in mid-write) leaves the other one in force.
func TestPositionRecordSlots(t *testing.T) {
	for _, tt := range []struct {
		name    string
		records int
		damage  func(b []byte) // the file's two slots
		want    int            // index of the record in force, -1: none
	}{
		{"newest in slot 1", 3, nil, 2},
		{"newest in slot 0", 4, nil, 3},
		{"newest torn", 4, func(b []byte) { b[posHeader] ^= 0xff }, 2},
		{"older torn", 4, func(b []byte) { b[posSlotSize+posHeader] ^= 0xff }, 3},
		{"newest garbage", 3, func(b []byte) { copy(b[posSlotSize:], strings.Repeat("x", posSlotSize)) }, 1},
		{"newest half written", 3, func(b []byte) { clear(b[posSlotSize+16:]) }, 1},
		{"both garbage", 3, func(b []byte) { copy(b, strings.Repeat("\xff", 2*posSlotSize)) }, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.pos")
			p, _, _, err := openPos(path, true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.records {
				if err := p.write(int64(100*i), mark(i)); err != nil {
					t.Fatal(err)
				}
			}
			p.close()
			if tt.damage != nil {
				b, _ := os.ReadFile(path)
				tt.damage(b)
				os.WriteFile(path, b, 0o600)
			}
			_, r, ok, err := openPos(path, false)
			switch {
			case err != nil:
				t.Fatal(err)
			case tt.want < 0 && ok:
				t.Errorf("record %+v read from two damaged slots", r)
			case tt.want >= 0 && (!ok || r.offset != int64(100*tt.want) || r.mark != mark(tt.want)):
				t.Errorf("record %+v (ok %v), want offset %d mark %q", r, ok, 100*tt.want, mark(tt.want))
			}
		})
	}
}

// syncedThenMore returns a spool directory with 10 lines of input synced
// (position mark(140)) and 10 more appended and recorded after the Sync.
func syncedThenMore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := openDurable(t, dir)
	s.AppendInput(mark(140), lines(0, 10))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.AppendInput(mark(280), lines(10, 20))
	return dir
}

// TestDamagedRecordFallsBackToSyncedPosition: with both slots unreadable,
// the position saved with the last Sync is used, and the data after it is
// read again rather than trusted.
func TestDamagedRecordFallsBackToSyncedPosition(t *testing.T) {
	dir := syncedThenMore(t)
	os.WriteFile(filepath.Join(dir, inputPosFile), bytes.Repeat([]byte{0xff}, 2*posSlotSize), 0o600)
	wantRecovered(t, openDurable(t, dir), lines(0, 10), mark(140))
}

// TestRecordAheadOfDataFallsBackToSyncedPosition: a crash of the machine
// may keep the record but lose segment data that was not synced; the
// record then claims bytes the spool does not hold, and the position of
// the last Sync (whose data was synced first) is used instead.
func TestRecordAheadOfDataFallsBackToSyncedPosition(t *testing.T) {
	dir := syncedThenMore(t)
	if err := os.Truncate(lastSegment(t, dir), 200); err != nil { // not synced: lost
		t.Fatal(err)
	}
	wantRecovered(t, openDurable(t, dir), lines(0, 10), mark(140))
}

// TestRecoveryIsIdempotent: crashing again right after a recovery (before
// anything new) recovers the same spool.
func TestRecoveryIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	s.AppendInput(mark(140), lines(0, 10))
	s.Append([]byte("own line\n"))
	appendFile(t, lastSegment(t, dir), lines(10, 12))
	want := append(lines(0, 10), "own line\n"...)
	for range 3 {
		wantRecovered(t, openDurable(t, dir), want, mark(140))
	}
}

// TestTempFilesLeftBehindAreRemoved: a process killed between writing the
// state's temporary file and renaming it leaves the temporary file; the
// next Open removes it and keeps the state in force.
func TestTempFilesLeftBehindAreRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	id := s.StreamID()
	s.AppendInput(mark(140), lines(0, 10))
	s.Sync()
	tmp := filepath.Join(dir, "."+stateFile+".0123456789abcdef.tmp")
	os.WriteFile(tmp, []byte(`{"tail":99999,"stream_id":"other"}`), 0o600)
	s2 := openDurable(t, dir)
	if _, err := os.Lstat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file still there: %v", err)
	}
	if s2.StreamID() != id {
		t.Errorf("stream id %q, want %q", s2.StreamID(), id)
	}
	wantRecovered(t, s2, lines(0, 10), mark(140))
}

// TestFailedRecordAppendsNothing: when the position cannot be recorded,
// the data is not appended either (the input keeps it and its position),
// and no consumer sees it.
func TestFailedRecordAppendsNothing(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	s.AppendInput(mark(140), lines(0, 10))
	s.input.f.Close() // the record can no longer be written
	if err := s.AppendInput(mark(280), lines(10, 20)); err == nil {
		t.Fatal("append succeeded without its position recorded")
	}
	if _, tail := s.Bounds(); tail != 140 {
		t.Errorf("tail %d after a failed append, want 140", tail)
	}
	if fi, _ := os.Stat(lastSegment(t, dir)); fi.Size() != 140 {
		t.Errorf("segment file of %d bytes after a failed append, want 140", fi.Size())
	}
	if got := all(t, s); !bytes.Equal(got, lines(0, 10)) {
		t.Errorf("a consumer got %q", got)
	}
}

// TestInputPositionNeedsDurableSpool: a spool in memory would lose data a
// recorded position claims.
func TestInputPositionNeedsDurableSpool(t *testing.T) {
	s, _ := Open(Options{Dir: t.TempDir(), Max: 1 << 20})
	if err := s.AppendInput(mark(1), []byte("x\n")); err == nil {
		t.Error("an input position was accepted by a spool that is not durable")
	}
}

// TestResumeRecordSurvivesCrash: what a consumer that cannot acknowledge
// handed over is recorded at once; a crash restarts it there, also when
// the record went back (what was handed turned out not delivered).
func TestResumeRecordSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	c := s.Consumer("dest")
	s.Append(lines(0, 10))
	s.Sync() // saved position 0
	b, _ := c.Next(context.Background(), 14*4)
	if err := c.SaveResume(b.End); err != nil {
		t.Fatal(err)
	}
	if read, _ := openDurable(t, dir).Consumer("dest").Position(); read != b.End {
		t.Errorf("after the crash the consumer starts at %d, want %d", read, b.End)
	}
	if err := c.SaveResume(14); err != nil {
		t.Fatal(err)
	}
	if read, _ := openDurable(t, dir).Consumer("dest").Position(); read != 14 {
		t.Errorf("after moving back and a crash the consumer starts at %d, want 14", read)
	}
}

// TestResumeRecordBeyondTailIsMovedBack: a record that names offsets the
// spool no longer has (memory segments die with the process) is moved
// back to the tail at once: new data takes those offsets, and a second
// crash must not skip it.
func TestResumeRecordBeyondTailIsMovedBack(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir, Max: 1 << 20})
	s.Append(lines(0, 10)) // in memory
	s.Consumer("dest").SaveResume(140)
	// Crash: the memory is lost. From now on segments go to disk.
	onDisk := Options{Dir: dir, Max: 1 << 20, MemMax: 1}
	s2, _ := Open(onDisk)
	if read, _ := s2.Consumer("dest").Position(); read != 0 {
		t.Fatalf("consumer at %d, want the tail 0", read)
	}
	s2.Append(lines(10, 20)) // at offsets 0-139 again, not handed yet
	s3, _ := Open(onDisk)    // crash again
	if read, _ := s3.Consumer("dest").Position(); read != 0 {
		t.Errorf("after a second crash the consumer starts at %d, want 0: lines appended after the first were never handed", read)
	}
}

// TestHandoverCountSurvivesCrash: the count of a batch being handed over
// lives in the record file (the kernel advances it, see pipe.SendFile and
// pipe.Feed); a crash restarts the consumer at the batch's start plus that
// count. The word holds the offset in the file the bytes are moved from:
// from a memory file it starts at 0, from a segment file at the batch's
// offset in it. A count beyond the batch (a damaged word) leaves the
// record before it in force.
func TestHandoverCountSurvivesCrash(t *testing.T) {
	for _, from := range []int64{0, 14} {
		dir := t.TempDir()
		s := openDurable(t, dir)
		c := s.Consumer("dest")
		s.Append(lines(0, 10))
		if err := c.SaveResume(14); err != nil {
			t.Fatal(err)
		}
		taken, err := c.BeginHandover(14, 56, from)
		if err != nil {
			t.Fatal(err)
		}
		if got := atomic.LoadInt64(taken); got != from {
			t.Errorf("from %d: the word starts at %d", from, got)
		}
		if read, _ := openDurable(t, dir).Consumer("dest").Position(); read != 14 {
			t.Errorf("from %d: a crash before anything was taken starts the consumer at %d, want 14", from, read)
		}
		atomic.StoreInt64(taken, from+30) // what splice(2) does
		if read, _ := openDurable(t, dir).Consumer("dest").Position(); read != 44 {
			t.Errorf("from %d: a crash with 30 of 56 bytes taken starts the consumer at %d, want 44", from, read)
		}
		atomic.StoreInt64(taken, from+57)
		if read, _ := openDurable(t, dir).Consumer("dest").Position(); read != 14 {
			t.Errorf("from %d: with a count beyond the batch the consumer starts at %d, want 14 (the record before)", from, read)
		}
	}
	s := openDurable(t, t.TempDir())
	if _, err := s.Consumer("dest").BeginHandover(10, 5, 11); err == nil {
		t.Error("a handover from a file offset beyond its stream offset was taken")
	}
}
