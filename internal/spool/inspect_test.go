package spool

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// leftSpool leaves in dir what a push stopped with undelivered lines
// leaves: 1,000 lines, of which consumer "a" had the first 400
// acknowledged and "b" none.
func leftSpool(t *testing.T, dir string) {
	t.Helper()
	s, err := Open(Options{Dir: dir, Max: 64 << 20, MemMax: 64 << 10, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	a := s.Consumer("a")
	s.Consumer("b")
	if err := s.Append(lines(0, 1000)); err != nil {
		t.Fatal(err)
	}
	a.Ack(400 * 14)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshot is every file of dir with its content and mode.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fi, _ := e.Info()
		m[e.Name()] = fi.Mode().String() + ":" + string(b)
	}
	return m
}

func TestInspectCountsWhatEachConsumerLacks(t *testing.T) {
	dir := t.TempDir()
	leftSpool(t, dir)
	before := snapshot(t, dir)
	c, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Held{"a": {Bytes: 600 * 14, Lines: 600}, "b": {Bytes: 1000 * 14, Lines: 1000}}
	if len(c.Held) != 2 || c.Held["a"] != want["a"] || c.Held["b"] != want["b"] {
		t.Errorf("Held = %+v, want %+v", c.Held, want)
	}
	if c.Tail != 1000*14 || c.StreamID == "" {
		t.Errorf("Tail = %d, StreamID = %q; want %d and an id", c.Tail, c.StreamID, 1000*14)
	}
	after := snapshot(t, dir)
	if len(before) != len(after) {
		t.Fatalf("Inspect changed the directory: %d files before, %d after", len(before), len(after))
	}
	for name, v := range before {
		if after[name] != v {
			t.Errorf("Inspect changed %s", name)
		}
	}
	// What Inspect counts is what a reopened spool hands out.
	s, err := Open(Options{Dir: dir, Max: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := drain(t, s.Consumer("a")); !bytes.Equal(got, lines(400, 1000)) {
		t.Errorf("reopened: a gets %d bytes, want lines 400..999", len(got))
	}
}

// TestInspectTakesTheResumeRecord: a destination that cannot acknowledge
// (cat >>) moves its resume record past its saved position; what it was
// handed is not held any more.
func TestInspectTakesTheResumeRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Max: 64 << 20, MemMax: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Consumer("cat")
	if err := s.Append(lines(0, 100)); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveResume(90 * 14); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h := got.Held["cat"]; h != (Held{Bytes: 10 * 14, Lines: 10}) {
		t.Errorf("Held[cat] = %+v, want 10 lines, 140 bytes", h)
	}
}

func TestInspectRefusesWhatIsNotASpool(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x\n"), 0o600)
	if _, err := Inspect(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Inspect of a plain directory: %v, want fs.ErrNotExist", err)
	}
	if IsSpool(dir) {
		t.Error("IsSpool of a plain directory")
	}
}

// TestRenameConsumerHandsOverTheLines: the lines held for "a" (after its
// 400 acknowledged ones) go to "c" once renamed, and nothing else.
func TestRenameConsumerHandsOverTheLines(t *testing.T) {
	dir := t.TempDir()
	leftSpool(t, dir)
	if err := RenameConsumer(dir, "a", "b"); err == nil {
		t.Error("renaming onto a consumer the spool knows: no error")
	}
	if err := RenameConsumer(dir, "x", "c"); err == nil {
		t.Error("renaming a consumer the spool does not know: no error")
	}
	if err := RenameConsumer(dir, "a", "c"); err != nil {
		t.Fatal(err)
	}
	c, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Held["a"]; ok || c.Held["c"] != (Held{Bytes: 600 * 14, Lines: 600}) {
		t.Errorf("after the rename: %+v", c.Held)
	}
	s, err := Open(Options{Dir: dir, Max: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := drain(t, s.Consumer("c")); !bytes.Equal(got, lines(400, 1000)) {
		t.Errorf("c gets %d bytes, want lines 400..999", len(got))
	}
}

// TestRemoveTakesOnlySpoolFiles: a file that is not the spool's stays,
// and so does the directory.
func TestRemoveTakesOnlySpoolFiles(t *testing.T) {
	dir := t.TempDir()
	leftSpool(t, dir)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine\n"), 0o600)
	removed, err := Remove(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, "state.json") || !slices.ContainsFunc(removed, func(n string) bool { return filepath.Ext(n) == ".seg" }) {
		t.Errorf("removed %v: want the state and the segments", removed)
	}
	left := snapshot(t, dir)
	if len(left) != 1 || left["notes.txt"] == "" {
		t.Errorf("left %v, want only notes.txt", left)
	}
	if _, err := Remove(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove of what is no spool any more: %v, want fs.ErrNotExist", err)
	}
}

// TestReadInputMark: the mark a running spool recorded is read without
// opening the spool, from the position file and, when that has none, from
// the state file of the last sync; a directory without either has none.
func TestReadInputMark(t *testing.T) {
	dir := t.TempDir()
	if m, err := ReadInputMark(dir); m != "" || err != nil {
		t.Fatalf("empty directory: %q, %v", m, err)
	}
	s, err := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendInput("cursor-1", []byte("a\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendInput("cursor-2", []byte("b\n")); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadInputMark(dir); m != "cursor-2" || err != nil {
		t.Errorf("while the spool is open: %q, %v; want cursor-2", m, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, inputPosFile))
	if m, err := ReadInputMark(dir); m != "cursor-2" || err != nil {
		t.Errorf("from the state file: %q, %v; want cursor-2", m, err)
	}
	os.Symlink("/etc/passwd", filepath.Join(dir, inputPosFile))
	if _, err := ReadInputMark(dir); !errors.Is(err, fsutil.ErrUnsafe) {
		t.Errorf("through a symlink: %v, want ErrUnsafe", err)
	}
}

// TestInspectCountsMovedInput: a spool whose input was moved into its
// segment files (a FIFO) holds that input beyond the position its input
// record names, up to the last line end; what follows is the start of a
// line whose end is still in the FIFO. Inspect counts what a reopened
// spool hands out, after a stop and after a kill (which left the state
// file without the consumer: it is named), also around a line of our own
// (a mark, which moves the record).
func TestInspectCountsMovedInput(t *testing.T) {
	for _, kill := range []bool{false, true} {
		dir := t.TempDir()
		s, err := Open(Options{Dir: dir, Max: 64 << 20, Durable: true, SegmentSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		s.Consumer("dest")
		lw := &LineWriter{S: s}
		in := newInput(string(lines(0, 6000)) + "unfinished")
		move(t, lw, in, 3000*14, false)
		if _, err := lw.Write([]byte("-- MARK --\n")); err != nil {
			t.Fatal(err)
		}
		move(t, lw, in, len(in.data), false)
		if !kill {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		c, err := Inspect(dir, "dest")
		if err != nil {
			t.Fatal(err)
		}
		want := Held{Bytes: 6000*14 + 11, Lines: 6001}
		if h := c.Held["dest"]; h != want {
			t.Errorf("kill %v: Held[dest] = %+v, want %+v", kill, h, want)
		}
		r, err := Open(Options{Dir: dir, Max: 64 << 20, Durable: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := drain(t, r.Consumer("dest")); int64(len(got)) != want.Bytes {
			t.Errorf("kill %v: reopened, the spool hands out %d bytes, Inspect said %d", kill, len(got), want.Bytes)
		}
		r.Close()
	}
}
