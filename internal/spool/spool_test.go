package spool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lines(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %08d\n", i) // 14 bytes
	}
	return b.Bytes()
}

// drain reads everything available to c, acknowledging it.
func drain(t *testing.T, c *Consumer) (data []byte, gaps []Gap) {
	t.Helper()
	for c.Available() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		b, err := c.Next(ctx, 4096)
		cancel()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if b.Gap.Bytes > 0 {
			gaps = append(gaps, b.Gap)
		}
		data = append(data, b.Data...)
		c.Ack(b.End)
	}
	return data, gaps
}

func TestOrderAcrossMemoryAndDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Max: 64 << 20, MemMax: 100 << 10, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Consumer("d")
	want := lines(0, 100000) // 1.4 MB: spills to disk
	for i := 0; i < len(want); i += 7000 {
		if err := s.Append(want[i:min(i+7000, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.OnDisk == 0 {
		t.Errorf("nothing went to disk beyond MemMax: %+v", st)
	}
	got, gaps := drain(t, c)
	if !bytes.Equal(got, want) || gaps != nil {
		t.Fatalf("got %d bytes (gaps %v), want %d in order", len(got), gaps, len(want))
	}
	if st := s.Stats(); st.Pending != 0 || st.OnDisk != 0 {
		t.Errorf("after acknowledging everything: %+v", st)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 0 {
		t.Errorf("released segments still on disk: %v", segs)
	}
}

func TestBatchesEndAtLineBoundaries(t *testing.T) {
	s, _ := Open(Options{Max: 1 << 20})
	c := s.Consumer("d")
	s.Append(lines(0, 1000))
	for c.Available() > 0 {
		b, err := c.Next(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(b.Data, []byte("\n")) {
			t.Fatalf("batch %q does not end at a line end", b.Data)
		}
	}
}

func TestBoundDropsOldestAndReportsGap(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Max: 256 << 10, SegmentSize: 64 << 10, MemMax: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Consumer("d")
	all := lines(0, 100000) // 1.4 MB into a 256 KiB spool
	for i := 0; i < len(all); i += 14 * 1000 {
		s.Append(all[i : i+14*1000])
	}
	st := s.Stats()
	if st.Pending > 256<<10 {
		t.Errorf("spool holds %d bytes, bound 256 KiB", st.Pending)
	}
	got, gaps := drain(t, c)
	if len(gaps) != 1 {
		t.Fatalf("gaps %v, want one", gaps)
	}
	g := gaps[0]
	if g.Bytes != st.DroppedBytes || g.Lines != st.DroppedLines || g.Bytes != g.Lines*14 {
		t.Errorf("gap %+v, stats %+v", g, st)
	}
	// What is left is exactly the newest lines, whole and in order.
	if !bytes.Equal(got, all[len(all)-len(got):]) || int64(len(got))+g.Bytes != int64(len(all)) {
		t.Errorf("kept %d bytes, dropped %d, of %d", len(got), g.Bytes, len(all))
	}
}

func TestGapCountsOnlyUnreadPart(t *testing.T) {
	s, _ := Open(Options{Max: 128 << 10, SegmentSize: 64 << 10})
	c := s.Consumer("d")
	first := lines(0, 4000) // 56000 bytes: one segment
	s.Append(first)
	b, _ := c.Next(context.Background(), 14*1000) // read 1000 lines, not acknowledged
	if len(b.Data) != 14000 {
		t.Fatalf("read %d", len(b.Data))
	}
	for i := 4000; i < 20000; i += 4000 {
		s.Append(lines(i, i+4000))
	}
	bt, _ := c.Next(context.Background(), 1<<20)
	if bt.Gap.Lines == 0 {
		t.Fatalf("no gap reported")
	}
	// The first segment's unread 3000 lines count, not the 1000 read.
	if bt.Gap.Lines%4000 != 3000 {
		t.Errorf("gap %+v: want 3000 + whole segments of 4000 lines", bt.Gap)
	}
}

func TestTwoConsumersReleaseAtSlowest(t *testing.T) {
	s, _ := Open(Options{Max: 1 << 20})
	a, b := s.Consumer("a"), s.Consumer("b")
	s.Append(lines(0, 100))
	got, _ := drain(t, a)
	if len(got) != 1400 {
		t.Fatalf("a got %d", len(got))
	}
	if st := s.Stats(); st.Pending != 1400 {
		t.Errorf("released before b read it: pending %d", st.Pending)
	}
	got, _ = drain(t, b)
	if len(got) != 1400 || s.Stats().Pending != 0 {
		t.Errorf("b got %d, pending %d", len(got), s.Stats().Pending)
	}
}

func TestRewindResends(t *testing.T) {
	s, err := Open(Options{Max: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Consumer("d")
	if err := s.Append(lines(0, 10)); err != nil {
		t.Fatal(err)
	}
	next := func() Batch {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, err := c.Next(ctx, 1<<20)
		if err != nil {
			t.Fatalf("Next: %v (a hang if the deadline passed)", err)
		}
		return b
	}
	b1 := next()
	if !bytes.Equal(b1.Data, lines(0, 10)) || b1.Start != 0 {
		t.Fatalf("first batch at %d: %q, want the 10 lines at 0", b1.Start, b1.Data)
	}
	c.Rewind(b1.Start)
	if b2 := next(); !bytes.Equal(b2.Data, b1.Data) || b2.Start != b1.Start {
		t.Errorf("after the rewind: batch at %d %q, want the first batch again", b2.Start, b2.Data)
	}
}

func TestCloseAndReopenKeepsUnsentData(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir, Max: 1 << 20})
	c := s.Consumer("d")
	s.Append(lines(0, 10))
	b, _ := c.Next(context.Background(), 14*4)
	c.Ack(b.End) // 4 lines delivered
	s.Append(lines(10, 20))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Dir: dir, Max: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c2 := s2.Consumer("d")
	s2.Append(lines(20, 25))
	got, _ := drain(t, c2)
	if want := lines(4, 25); !bytes.Equal(got, want) {
		t.Errorf("after restart got\n%s\nwant\n%s", got, want)
	}
	// A new consumer starts at the oldest data kept.
	if head, tail := s2.Bounds(); tail-head != 0 {
		t.Errorf("bounds %d..%d after everything was acknowledged", head, tail)
	}
}

func TestTornSegmentCutAtLastLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", 0)), []byte("a\nb\ntorn"), 0o600)
	s, err := Open(Options{Dir: dir, Max: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := drain(t, s.Consumer("d"))
	if string(got) != "a\nb\n" {
		t.Errorf("got %q", got)
	}
}

func TestNextBlocksUntilAppend(t *testing.T) {
	s, _ := Open(Options{Max: 1 << 20})
	c := s.Consumer("d")
	got := make(chan []byte)
	go func() {
		b, _ := c.Next(context.Background(), 100)
		got <- append([]byte(nil), b.Data...)
	}()
	s.Append([]byte("x\n"))
	select {
	case b := <-got:
		if string(b) != "x\n" {
			t.Errorf("got %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not wake on Append")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Next(ctx, 100); err == nil {
		t.Errorf("Next with a cancelled context returned no error")
	}
}

func TestLineWriter(t *testing.T) {
	s, _ := Open(Options{Max: 1 << 20})
	c := s.Consumer("d")
	w := &LineWriter{S: s, MaxLine: 64}
	w.Write([]byte("one\ntw"))
	w.WriteLine([]byte("MARK\n")) // between lines, never inside "two"
	w.Write([]byte("o\nthr"))
	long := strings.Repeat("x", 100) // over MaxLine: passed on in pieces
	w.Write([]byte(long))
	w.WriteLine([]byte("MARK2\n")) // held until the long line ends
	w.Write([]byte("\nbin\x00\xff\r\n"))
	w.Write([]byte("last"))
	w.Flush()
	got, _ := drain(t, c)
	want := "one\nMARK\ntwo\nthr" + long + "\nMARK2\nbin\x00\xff\r\nlast"
	if string(got) != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestStreamIDKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	id := s.StreamID()
	if len(id) != 32 {
		t.Fatalf("stream id %q", id)
	}
	// Saved at once: a crash before the first Sync keeps it.
	s2, err := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if s2.StreamID() != id {
		t.Errorf("stream id %q after reopening, want %q", s2.StreamID(), id)
	}
	other, _ := Open(Options{Dir: t.TempDir(), Max: 1 << 20})
	if other.StreamID() == id {
		t.Errorf("two spools share stream id %q", id)
	}
}

func TestSkipToLeavesHole(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	c := s.Consumer("d")
	s.Append(lines(0, 10)) // 140 bytes
	s.SkipTo(1000)
	s.Append(lines(10, 20))
	if head, tail := s.Bounds(); head != 0 || tail != 1140 {
		t.Fatalf("bounds %d..%d", head, tail)
	}
	var got []byte
	var starts []int64
	for c.Available() > 0 {
		b, err := c.Next(context.Background(), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Data...)
		starts = append(starts, b.Start)
		c.Ack(b.End)
	}
	if !bytes.Equal(got, lines(0, 20)) || fmt.Sprint(starts) != "[0 1000]" {
		t.Errorf("read %q from %v", got, starts)
	}
	// The hole survives a restart: offsets are never reused.
	s.Sync()
	s.Close()
	s2, _ := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	if _, tail := s2.Bounds(); tail != 1140 {
		t.Errorf("tail %d after restart, want 1140", tail)
	}
	s2.SkipTo(10) // behind the end: nothing happens
	if _, tail := s2.Bounds(); tail != 1140 {
		t.Errorf("tail %d after SkipTo backwards", tail)
	}
}

// TestDurableTailSurvivesCrashAfterRelease: everything was acknowledged and
// released after the last Sync, then the process died. The reopened spool
// must not hand out those offsets again.
func TestDurableTailSurvivesCrashAfterRelease(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	c := s.Consumer("d")
	s.Append(lines(0, 10))
	s.Sync() // state says tail 140
	s.Append(lines(10, 20))
	drain(t, c) // acknowledged up to 280: every segment released
	// Crash: no Sync, no Close.
	s2, err := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if head, tail := s2.Bounds(); head != 280 || tail != 280 {
		t.Errorf("after the crash: bounds %d..%d, want 280..280", head, tail)
	}
}

// TestReleaseKeepsTheEndAtEveryStep: release makes the empty segment file
// that keeps the end of the stream before it removes the last acknowledged
// one, so a kill between the two steps leaves a spool that Open recovers
// with the right end. The other way round, a kill right after the removal
// left no segment file, and the end came from the older saved state.
func TestReleaseKeepsTheEndAtEveryStep(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Max: 1 << 20, Durable: true}) // state says tail 0
	if err != nil {
		t.Fatal(err)
	}
	c := s.Consumer("d")
	s.Append(lines(0, 10))
	var kills []string // the directory as a kill after each removal leaves it
	afterRemove = func() { kills = append(kills, copyDir(t, dir)) }
	t.Cleanup(func() { afterRemove = nil })
	drain(t, c) // acknowledged up to 140: the segment is released
	afterRemove = nil
	if len(kills) == 0 {
		t.Fatal("release removed no segment file")
	}
	for i, k := range kills {
		s2, err := Open(Options{Dir: k, Max: 1 << 20, Durable: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, tail := s2.Bounds(); tail != 140 {
			t.Errorf("killed after removal %d: the stream ends at %d, want 140: offsets a receiver holds would be handed out again", i+1, tail)
		}
		s2.Close()
	}
	s.Close()
}

// copyDir copies the files of dir into a new directory and returns it.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}
