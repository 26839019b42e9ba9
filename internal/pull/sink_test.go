package pull

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

const src = "loghost:/var/log/x.log"

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixture is an output and its cursor file in a temporary directory.
type fixture struct {
	t                *testing.T
	out, cursor, dir string
	clk              *clock.Fake
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	return &fixture{t: t, dir: dir, out: filepath.Join(dir, "x.log"), cursor: filepath.Join(dir, "x.log.cursor"), clk: clock.NewFake(time.Unix(1_000_000, 0))}
}

// open opens a sink as a (re)started pull does. A sink that is never
// closed stands for a pull killed -9.
func (f *fixture) open(fsync time.Duration) *sink {
	f.t.Helper()
	s := &sink{log: testLogger(f.t), clk: f.clk, src: src, cursorPath: f.cursor, fsync: fsync}
	if err := s.open(f.out); err != nil {
		f.t.Fatalf("open sink: %v", err)
	}
	f.t.Cleanup(func() { s.out.close() })
	return s
}

func (f *fixture) record() record {
	f.t.Helper()
	b, err := os.ReadFile(f.cursor)
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := parseRecord(string(b))
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) read(path string) string {
	f.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) id(path string) fsutil.ID {
	f.t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		f.t.Fatal(err)
	}
	id, _ := fsutil.IDOf(fi)
	return id
}

// rc is a position in the remote file.
func rc(off int64) tailer.Cursor { return tailer.Cursor{Dev: 9, Ino: 99, Offset: off} }

func startFrame(c tailer.Cursor) stream.Frame {
	return stream.Frame{Type: stream.Start, Cursor: c, How: stream.HowStart}
}

func dataFrame(end tailer.Cursor, data string) stream.Frame {
	return stream.Frame{Type: stream.Data, Cursor: end, Data: []byte(data)}
}

func heartbeat() stream.Frame { return stream.Frame{Type: stream.Heartbeat} }

func apply(t *testing.T, s *sink, frames ...stream.Frame) {
	t.Helper()
	for _, f := range frames {
		if _, _, err := s.apply(f); err != nil {
			t.Fatalf("apply %v: %v", f.Type, err)
		}
	}
}

// A pull killed between writing data and saving the cursor: on the next
// start the bytes beyond the saved cursor are kept, not cut; serve sends
// them again from the cursor, they are compared instead of written, and so
// every line ends up in the output once.
func TestCrashBetweenWriteAndSave(t *testing.T) {
	f := newFixture(t)
	s := f.open(0)
	apply(t, s, startFrame(rc(0)), dataFrame(rc(4), "one\n"))
	f.clk.Advance(CursorSaveInterval)
	apply(t, s, dataFrame(rc(8), "two\n"))                                 // saved: the interval passed
	apply(t, s, dataFrame(rc(14), "three\n"), dataFrame(rc(19), "four\n")) // not saved
	if got := f.read(f.out); got != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("output before the crash: %q", got)
	}

	s2 := f.open(0)
	if got := f.read(f.out); got != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("output after restart: %q, want it untouched", got)
	}
	c, have := s2.position()
	if !have || c != rc(8) {
		t.Fatalf("position after restart: %v %v, want %v", c, have, rc(8))
	}
	if cmd := RemoteCommand(Options{Src: execssh.Dest{Host: "loghost", Path: "/var/log/x.log"}, RemoteBinary: "sshlogfwd", From: "end"}, c, have); !strings.Contains(cmd, "--cursor 9:99:8") {
		t.Fatalf("request after restart %q does not resume at 9:99:8", cmd)
	}
	// serve sends the same bytes again, cut into other frames, and more.
	apply(t, s2, dataFrame(rc(10), "th"), dataFrame(rc(17), "ree\nfo"), dataFrame(rc(24), "ur\nfive\n"))
	if got := f.read(f.out); got != "one\ntwo\nthree\nfour\nfive\n" {
		t.Fatalf("output after receiving again: %q, want every line once", got)
	}
	if s2.unproven != nil {
		t.Fatal("the bytes were matched but are still unproven")
	}
	if err := s2.stopped(); err != nil {
		t.Fatal(err)
	}
	if r := f.record(); r.Cursor != rc(24) || r.OutputSize != 24 || !r.Stopped {
		t.Fatalf("record after the stop: %+v, want cursor %v, size 24, stopped", r, rc(24))
	}
}

// An output that is not the file the cursor was saved with, or is gone, is
// not cut; the cursor still holds.
func TestReconcileLeavesOtherOutput(t *testing.T) {
	for name, change := range map[string]func(f *fixture){
		"replaced": func(f *fixture) {
			os.Rename(f.out, f.out+".1")
			os.WriteFile(f.out, []byte("a longer file that is not ours\n"), 0o640)
		},
		"missing": func(f *fixture) { os.Remove(f.out) },
		"shorter": func(f *fixture) { os.Truncate(f.out, 2) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			s := f.open(0)
			apply(t, s, startFrame(rc(0)), dataFrame(rc(4), "one\n"))
			if err := s.save(true); err != nil {
				t.Fatal(err)
			}
			change(f)
			before, _ := os.ReadFile(f.out)
			s2 := f.open(0)
			if after, _ := os.ReadFile(f.out); string(after) != string(before) {
				t.Fatalf("output changed from %q to %q", before, after)
			}
			if c, have := s2.position(); !have || c != rc(4) {
				t.Fatalf("position %v %v, want %v", c, have, rc(4))
			}
		})
	}
}

// SIGHUP after logrotate renamed the output: writing goes on in a new file
// at the name, and the cursor is saved with it at once, so that a pull
// killed right after neither cuts nor repeats anything.
func TestReopenAfterRotation(t *testing.T) {
	f := newFixture(t)
	s := f.open(0)
	apply(t, s, startFrame(rc(0)), dataFrame(rc(4), "one\n"))
	if err := os.Rename(f.out, f.out+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if r := f.record(); r.Output != f.id(f.out) || r.OutputSize != 0 || r.Cursor != rc(4) {
		t.Fatalf("cursor after reopen: %+v, want the new file (%v) at size 0 and %v", r, f.id(f.out), rc(4))
	}
	apply(t, s, dataFrame(rc(8), "two\n")) // not saved: killed -9 now

	s2 := f.open(0)
	apply(t, s2, dataFrame(rc(8), "two\n"))
	if old, cur := f.read(f.out+".1"), f.read(f.out); old != "one\n" || cur != "two\n" {
		t.Fatalf("rotated output %q, new output %q; want %q and %q", old, cur, "one\n", "two\n")
	}
}

// Without an fsync interval the cursor is saved at most every
// CursorSaveInterval; with one, at that interval. A start is saved at once.
func TestCursorSaveInterval(t *testing.T) {
	for _, tc := range []struct{ fsync, interval time.Duration }{
		{0, CursorSaveInterval},
		{time.Second, time.Second},
	} {
		f := newFixture(t)
		s := f.open(tc.fsync)
		apply(t, s, startFrame(rc(0)))
		if r := f.record(); r.Cursor != rc(0) {
			t.Fatalf("fsync %v: start not saved at once: %v", tc.fsync, r.Cursor)
		}
		apply(t, s, dataFrame(rc(4), "one\n"))
		f.clk.Advance(tc.interval - time.Millisecond)
		apply(t, s, heartbeat())
		if r := f.record(); r.Cursor != rc(0) {
			t.Fatalf("fsync %v: cursor saved %v after %v, before the interval", tc.fsync, r.Cursor, tc.interval-time.Millisecond)
		}
		f.clk.Advance(time.Millisecond)
		apply(t, s, heartbeat())
		if r := f.record(); r.Cursor != rc(4) || r.OutputSize != 4 {
			t.Fatalf("fsync %v: cursor %v, output size %d after the interval, want %v and 4", tc.fsync, r.Cursor, r.OutputSize, rc(4))
		}
		// A reconnect's start (here: the cursor was lost) is saved at
		// once, within the interval: a restart must resume there.
		lost := tailer.Cursor{Dev: 9, Ino: 101}
		apply(t, s, stream.Frame{Type: stream.Start, Cursor: lost, How: stream.HowLost})
		if r := f.record(); r.Cursor != lost {
			t.Fatalf("fsync %v: start of a reconnect not saved at once: %v", tc.fsync, r.Cursor)
		}
	}
}

// A remote file that ended inside a line before its rotation gets the line
// ended, so that the next file's first line does not continue it.
func TestRotationEndsCutLine(t *testing.T) {
	f := newFixture(t)
	s := f.open(0)
	next := tailer.Cursor{Dev: 9, Ino: 100}
	apply(t, s, startFrame(rc(0)), dataFrame(rc(3), "cut"),
		stream.Frame{Type: stream.Rotated, Cursor: next}, dataFrame(tailer.Cursor{Dev: 9, Ino: 100, Offset: 4}, "new\n"))
	if got := f.read(f.out); got != "cut\nnew\n" {
		t.Fatalf("output %q", got)
	}
}

// A second pull on the same cursor is refused, naming the holder; so is a
// cursor file that holds another source's position.
func TestRunRefusesCursorInUseOrForeign(t *testing.T) {
	f := newFixture(t)
	dest := execssh.Dest{Host: "loghost", Path: "/var/log/x.log"}
	// If the refusal is broken, Run runs (and fails to start ssh) until
	// this deadline, which only catches that hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lock, err := fsutil.TryLockFile(f.cursor+".lock", "pid 1 sshlogfwd pull")
	if err != nil {
		t.Fatal(err)
	}
	err = Run(ctx, Options{Src: dest, Output: f.out, CursorPath: f.cursor, Logger: testLogger(t)})
	var held *fsutil.HeldError
	if !errors.As(err, &held) || held.Holder != "pid 1 sshlogfwd pull" {
		t.Fatalf("err = %v, want a HeldError naming pid 1", err)
	}
	lock.Close()

	os.WriteFile(f.cursor, []byte(record{Source: "other:/x"}.String()), 0o600)
	err = Run(ctx, Options{Src: dest, Output: f.out, CursorPath: f.cursor, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "other:/x") {
		t.Fatalf("err = %v, want a refusal naming the other source", err)
	}
}
