package receiver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// countHandler counts log records of warning level and above, and the
// "suppressed" summaries among them; every record also goes to t.Log.
type countHandler struct {
	t          *testing.T
	mu         sync.Mutex
	warns      int
	suppressed []int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countHandler) WithGroup(string) slog.Handler            { return h }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		h.warns++
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			h.suppressed = append(h.suppressed, a.Value.Int64())
		}
		return true
	})
	if h.warns < 50 {
		h.t.Log(r.Level, r.Message)
	}
	return nil
}

func (h *countHandler) counts() (int, []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.warns, append([]int64(nil), h.suppressed...)
}

// countFsyncs counts the data file's fsyncs until the test ends.
func countFsyncs(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	orig := fsyncFile
	fsyncFile = func(f *os.File) error {
		n.Add(1)
		return orig(f)
	}
	t.Cleanup(func() { fsyncFile = orig })
	return &n
}

func inode(t *testing.T, path string) fsutil.ID {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fsutil.IDOf(fi)
	return id
}

// TestNoOpFramesCostNothing: frames that change nothing (an empty gap to
// the position, a gap with a notice to the position, data entirely below
// the position) cost no fsync, no state rewrite and no log line, however
// many a sender sends.
func TestNoOpFramesCostNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path}, streamA)
	s.send(ackproto.AppendData(nil, 0, lines(0, 10)))
	s.waitAck(140)
	s.end()

	fsyncs := countFsyncs(t)
	logs := &countHandler{t: t}
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s = start(t, Options{Path: path, Clock: fc, Logger: slog.New(logs)}, streamA)
	stateID, synced := inode(t, StatePath(path)), fsyncs.Load()
	var frames []byte
	for i := range 10000 {
		switch i % 4 {
		case 0:
			frames = ackproto.AppendGap(frames, 140, nil)
		case 1:
			frames = ackproto.AppendGap(frames, 140, []byte("NOTICE repeated\n"))
		case 2:
			frames = ackproto.AppendData(frames, 0, lines(0, 10))
		case 3:
			frames = ackproto.AppendData(frames, 70, lines(5, 10))
		}
	}
	s.send(frames)
	// One real frame after them: once it is acknowledged, all of them
	// were handled.
	s.send(ackproto.AppendData(nil, 140, lines(10, 11)))
	s.waitAck(154)
	if n := fsyncs.Load() - synced; n != 1 {
		t.Errorf("10,000 frames that change nothing and one that adds a line cost %d fsyncs, want 1", n)
	}
	if id := inode(t, StatePath(path)); id != stateID {
		t.Errorf("the state file was rewritten for frames that change nothing")
	}
	if warns, _ := logs.counts(); warns > 0 {
		t.Errorf("frames that change nothing logged %d warnings", warns)
	}
	s.end()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, lines(0, 11)) {
		t.Errorf("file holds %d bytes, %d of them repeated notices; want lines 0-10 once (%d bytes)",
			len(got), bytes.Count(got, []byte("NOTICE")), 11*14)
	}
}

// TestRepeatedWarningsAreRateLimited: a kind of warning repeated a
// thousand times within a minute gives warnBurst lines, and one line
// counting the rest when the next minute's first one comes.
func TestRepeatedWarningsAreRateLimited(t *testing.T) {
	logs := &countHandler{t: t}
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := newWarnLimiter(slog.New(logs), fc)
	for i := range 1000 {
		w.warn("gap", "i", i)
		w.warn("other")
	}
	if warns, sup := logs.counts(); warns != 2*warnBurst || len(sup) != 0 {
		t.Fatalf("1000 of two kinds within a minute: %d warnings, summaries %v; want %d and none yet", warns, sup, 2*warnBurst)
	}
	fc.Advance(warnWindow)
	w.warn("gap")
	if warns, sup := logs.counts(); warns != 2*warnBurst+2 || len(sup) != 1 || sup[0] != 1000-warnBurst {
		t.Fatalf("next minute: %d warnings, summaries %v; want %d and one of %d", warns, sup, 2*warnBurst+2, 1000-warnBurst)
	}
	w.flush()
	if warns, sup := logs.counts(); warns != 2*warnBurst+3 || len(sup) != 2 || sup[1] != 1000-warnBurst {
		t.Fatalf("flushed: %d warnings, summaries %v; want the other kind's count too", warns, sup)
	}
}

// TestGapWarningsAreRateLimited: every real gap earns a warning, but a
// sender sending many gets warnBurst lines, and one counting the rest
// when the session ends.
func TestGapWarningsAreRateLimited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	logs := &countHandler{t: t}
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := OpenAppender(path, AppenderOptions{Clock: fc, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(streamA, 0, lines(0, 1)); err != nil {
		t.Fatal(err)
	}
	for to := int64(15); to < 15+warnBurst+20; to++ {
		if err := a.Gap(streamA, to, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if warns, sup := logs.counts(); warns != warnBurst+1 || len(sup) != 1 || sup[0] != 20 {
		t.Fatalf("%d gaps: %d warnings, summaries %v; want %d and one of 20", warnBurst+20, warns, sup, warnBurst+1)
	}
	if _, pos := a.Position(); pos != 15+warnBurst+19 {
		t.Errorf("position %d after the gaps, want %d", pos, 15+warnBurst+19)
	}
}

// TestFailedWriteCutsOnlyOwnBytes: a write that fails half way (disk
// full) is cut off again, but bytes someone else appended to the file
// before it (an administrator's echo >>) stay.
func TestFailedWriteCutsOnlyOwnBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	a, err := OpenAppender(path, AppenderOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Write(streamA, 0, lines(0, 10)); err != nil {
		t.Fatal(err)
	}
	admin := []byte("admin: disk almost full\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(admin)
	f.Close()

	orig := writeFile
	writeFile = func(f *os.File, p []byte) (int, error) {
		n, _ := orig(f, p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	t.Cleanup(func() { writeFile = orig })
	if err := a.Write(streamA, 140, lines(10, 20)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write = %v, want ENOSPC", err)
	}
	want := append(lines(0, 10), admin...)
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("after the failed write the file holds\n%q\nwant\n%q", got, want)
	}
}
