package pull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
)

// crashed leaves the fixture as a pull killed -9 would: "one\ntwo\n"
// saved, "three\n" written after the save.
func crashed(t *testing.T, f *fixture) {
	t.Helper()
	s := f.open(0)
	apply(t, s, startFrame(rc(0)), dataFrame(rc(8), "one\ntwo\n"))
	f.clk.Advance(CursorSaveInterval)
	apply(t, s, heartbeat())
	apply(t, s, dataFrame(rc(14), "three\n"))
	if r := f.record(); r.OutputSize != 8 || r.Stopped {
		t.Fatalf("record before the crash: %+v, want size 8, running", r)
	}
}

// appendTo appends p to path as another program would.
func appendTo(t *testing.T, path, p string) {
	t.Helper()
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(p); err != nil {
		t.Fatal(err)
	}
}

// openErr opens a sink that must be refused.
func (f *fixture) openErr() error {
	f.t.Helper()
	s := &sink{log: testLogger(f.t), clk: f.clk, src: src, cursorPath: f.cursor}
	err := s.open(f.out)
	if err == nil {
		s.close()
	}
	return err
}

// Another program appended after a killed pull's own unsaved bytes: pull's
// bytes are proven as serve sends them again, the other's are not what
// serve sends, and pull stops there: nothing cut, nothing appended, the
// cursor file ends at pull's own bytes, and the run is ended with the
// refusal.
func TestForeignAppendAfterCrashIsRefusedNotCut(t *testing.T) {
	f := newFixture(t)
	crashed(t, f)
	appendTo(t, f.out, "FOREIGN LINE\n")
	before := f.read(f.out)

	s := f.open(0)
	var stopped error
	s.stop = func(err error) { stopped = err }
	apply(t, s, dataFrame(rc(14), "three\n")) // pull's own: proven
	_, _, err := s.apply(dataFrame(rc(19), "four\n"))
	var no *NotOursError
	if !errors.As(err, &no) || !errors.Is(stopped, ErrNotOurs) || no.Saved != 8 || !no.MaybeOurs {
		t.Fatalf("err = %v, stop(%v); want a *NotOursError from offset 8 that ends the run", err, stopped)
	}
	if _, _, err := s.apply(dataFrame(rc(24), "five\n")); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("a frame after the refusal: err = %v, want ErrNotOurs again", err)
	}
	if err := s.stopped(); err != nil {
		t.Fatal(err)
	}
	if got := f.read(f.out); got != before {
		t.Fatalf("output changed from %q to %q", before, got)
	}
	if r := f.record(); r.Cursor != rc(14) || r.OutputSize != 14 || r.Stopped {
		t.Fatalf("record after the refusal: %+v, want pull's own bytes only (cursor %v, size 14), not stopped", r, rc(14))
	}
	if err := f.openErr(); err != nil {
		t.Fatalf("restart after the refusal: %v (the foreign bytes are checked against serve again)", err)
	}
}

// Bytes appended by another program after pull stopped cleanly are
// refused at start, before anything is written: after a clean stop no
// byte beyond the saved size can be pull's.
func TestForeignAppendAfterCleanStopIsRefusedAtStart(t *testing.T) {
	f := newFixture(t)
	s := f.open(0)
	apply(t, s, startFrame(rc(0)), dataFrame(rc(4), "one\n"))
	if err := s.stopped(); err != nil {
		t.Fatal(err)
	}
	s.close()
	appendTo(t, f.out, "x")
	err := f.openErr()
	var no *NotOursError
	if !errors.As(err, &no) || no.MaybeOurs || no.Saved != 4 || no.Size != 5 {
		t.Fatalf("err = %v, want a *NotOursError for 1 foreign byte after offset 4", err)
	}
	if got := f.read(f.out); got != "one\nx" {
		t.Fatalf("output %q, want it untouched", got)
	}
}

// An output whose bytes before the saved size were replaced (same file,
// same size or longer, other content) is refused at start: its last bytes
// are not the ones pull wrote (the record's checksum).
func TestRewrittenOutputIsRefused(t *testing.T) {
	for name, rewrite := range map[string]string{"same size": "ONE\n", "longer": "ONE\nmore\n"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			s := f.open(0)
			apply(t, s, startFrame(rc(0)), dataFrame(rc(4), "one\n"))
			if err := s.save(true); err != nil {
				t.Fatal(err)
			}
			w, err := os.OpenFile(f.out, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			w.WriteString(rewrite)
			w.Close()
			if err := f.openErr(); !errors.Is(err, ErrNotOurs) {
				t.Fatalf("err = %v, want ErrNotOurs", err)
			}
			if got := f.read(f.out); got != rewrite {
				t.Fatalf("output %q, want it untouched", got)
			}
		})
	}
}

// A cursor file of version 1 (no checksum, no state) after a crash: the
// bytes beyond its size are proven against serve's data as well.
func TestVersion1RecordAfterCrash(t *testing.T) {
	f := newFixture(t)
	os.WriteFile(f.out, []byte("one\ntwo\n"), 0o640)
	id := f.id(f.out)
	v1 := fmt.Sprintf("sshlogfwd-pull-cursor 1\nsource %s\ncursor 9:99:4\noutput %s:4\n", src, id)
	os.WriteFile(f.cursor, []byte(v1), 0o600)
	s := f.open(0)
	apply(t, s, dataFrame(rc(8), "two\n"), dataFrame(rc(14), "three\n"))
	if got := f.read(f.out); got != "one\ntwo\nthree\n" {
		t.Fatalf("output %q", got)
	}
}

// A receiver's state file beside the output: pull refuses to start, naming
// it, and leaves the output alone.
func TestRunRefusesReceiversFile(t *testing.T) {
	f := newFixture(t)
	os.WriteFile(f.out, []byte("acknowledged by receive\n"), 0o640)
	os.WriteFile(onewriter.HiddenPath(f.out), []byte(`{"version":1}`), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // catches a hang only
	defer cancel()
	err := Run(ctx, Options{Src: execssh.Dest{Host: "loghost", Path: "/var/log/x.log"}, Output: f.out, CursorPath: f.cursor, Logger: testLogger(t)})
	var other *onewriter.OtherWriterError
	if !errors.As(err, &other) || other.Other.Program != onewriter.Receive {
		t.Fatalf("err = %v, want an OtherWriterError naming receive", err)
	}
	if got := f.read(f.out); got != "acknowledged by receive\n" {
		t.Fatalf("output %q", got)
	}
}
