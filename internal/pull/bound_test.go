package pull

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
)

// openBounded opens a sink whose output may hold at most max bytes.
func (f *fixture) openBounded(max int64) *sink {
	f.t.Helper()
	s := &sink{log: testLogger(f.t), clk: f.clk, src: src, cursorPath: f.cursor, bound: bound{max: max}}
	if err := s.open(f.out); err != nil {
		f.t.Fatalf("open sink: %v", err)
	}
	f.t.Cleanup(s.close)
	return s
}

func (f *fixture) size() int64 {
	f.t.Helper()
	fi, err := os.Stat(f.out)
	if err != nil {
		f.t.Fatal(err)
	}
	return fi.Size()
}

// At the bound a data frame is written up to its last whole line that
// fits, the cursor stops after that line, and the rest comes back with
// ErrFull; a late frame (its cursor is not the end of its data) fits
// whole or not at all.
func TestBoundCutsDataAtLineEnd(t *testing.T) {
	f := newFixture(t)
	s := f.openBounded(12)
	apply(t, s, startFrame(rc(0)))
	_, rest, err := s.apply(dataFrame(rc(15), "aaaa\nbbbb\ncccc\n"))
	if !errors.Is(err, ErrFull) || string(rest.Data) != "cccc\n" || rest.Cursor != rc(15) {
		t.Fatalf("apply at the bound: rest %q at %v, err %v; want \"cccc\\n\" at %v, ErrFull", rest.Data, rest.Cursor, err, rc(15))
	}
	if got := f.read(f.out); got != "aaaa\nbbbb\n" {
		t.Fatalf("output %q, want the two lines that fit", got)
	}
	if c, _ := s.position(); c != rc(10) {
		t.Fatalf("cursor %v, want %v: after the last line written", c, rc(10))
	}
	late := stream.Frame{Type: stream.Late, Cursor: rc(10), Data: []byte("x\nyz\n")}
	if _, rest, err := s.apply(late); !errors.Is(err, ErrFull) || string(rest.Data) != "x\nyz\n" {
		t.Fatalf("late frame that does not fit: rest %q, err %v", rest.Data, err)
	}
	if f.size() != 10 {
		t.Fatalf("output grew to %d", f.size())
	}
}

// The reliable session holds the connection at the bound, takes nothing
// more (the output never grows beyond the bound), and as soon as the
// output was rotated and reopened applies the rest and goes on.
func TestReliableSessionWaitsForRoom(t *testing.T) {
	f := newFixture(t)
	s := f.openBounded(10)
	r := &reliable{sink: s, log: testLogger(t), clk: f.clk}
	l := newLink()
	res := runReliable(context.Background(), r, l)
	enc := l.far(t)
	enc.Start(rc(0), stream.HowStart)
	enc.Data(rc(15), []byte("aaaa\nbbbb\ncccc\n"))
	waitWaiters(t, f, 1) // waiting for room
	f.clk.Advance(roomPoll)
	waitWaiters(t, f, 1) // still: nothing changed
	if got := f.read(f.out); got != "aaaa\nbbbb\n" {
		t.Fatalf("output at the bound %q", got)
	}
	if err := os.Rename(f.out, f.out+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	// The reopen makes the wait look again at once, without the clock.
	go enc.Data(rc(20), []byte("dddd\n"))
	waitFor(t, func() bool { return f.read(f.out) == "cccc\ndddd\n" }, "the rest written after the rotation")
	f.clk.Advance(CursorSaveInterval)
	l.w.Close()
	waitClosed(t, closedOn(res), "session end")
	if rec := f.record(); rec.Cursor != rc(20) {
		t.Fatalf("cursor %v, want %v", rec.Cursor, rc(20))
	}
}

// waitFor polls cond until it holds; the deadline only catches a hang.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !cond() {
			select {
			case <-t.Context().Done():
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	waitClosed(t, done, what)
}

// In compat mode the lines that fit are written, the rest waits for room
// and is then written: whole lines only, never beyond the bound.
func TestCompatBound(t *testing.T) {
	f := newFixture(t)
	s := &sink{log: testLogger(t), clk: f.clk, src: src, bound: bound{max: 6}}
	if err := s.open(f.out); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	p := &compat{sink: s, log: testLogger(t)}
	l := newLink()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan int64, 1)
	go func() { res <- p.run(ctx, l) }()
	go l.w.Write([]byte("abc\ndef\n"))
	waitWaiters(t, f, 1)
	if got := f.read(f.out); got != "abc\n" {
		t.Fatalf("output %q, want the line that fits", got)
	}
	cancel()
	waitClosed(t, closedOn(res), "compat session end on stop")
	if f.size() > 6 {
		t.Fatalf("output grew to %d bytes beyond the bound", f.size())
	}
}

// The advice for a connection that keeps failing names pull's own fix.
func TestPullExplainsInItsTerms(t *testing.T) {
	o := Options{Src: execssh.Dest{User: "logreader", Host: "web1", Path: "/var/log/auth.log"}}
	if a := o.explain(execssh.PermissionDenied, nil); !strings.Contains(a.Fix, "sshlogfwd authorized-key pull --from <this host's address> --key <key>.pub /var/log/auth.log") {
		t.Errorf("permission denied: fix %q", a.Fix)
	}
	if a := o.explain(execssh.RequestRefused, nil); !strings.Contains(a.Fix, "SRC must match the forced command") {
		t.Errorf("request refused: fix %q", a.Fix)
	}
	if a := o.explain(execssh.HostKeyUnknown, nil); !strings.Contains(a.Fix, "ssh-keyscan web1") {
		t.Errorf("host key unknown: fix %q", a.Fix)
	}
}
