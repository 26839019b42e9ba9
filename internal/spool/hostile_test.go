package spool

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// victimFile makes another user's file outside the spool, for planted
// symlinks to point at.
func victimFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlantedStateLinksNotFollowed: symlinks planted at the state file and
// at its old fixed temporary name are neither written through nor read:
// their targets keep their content and the spool takes no positions or
// stream id from them.
func TestPlantedStateLinksNotFollowed(t *testing.T) {
	const planted = `{"tail":5000,"consumers":{"d":5000},"stream_id":"0123456789abcdef0123456789abcdef"}`
	dir := t.TempDir()
	tmpVictim, stateVictim := victimFile(t, "precious\n"), victimFile(t, planted)
	os.Symlink(tmpVictim, filepath.Join(dir, stateFile+".tmp"))
	os.Symlink(stateVictim, filepath.Join(dir, stateFile))
	s, err := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if id := s.StreamID(); strings.HasPrefix(id, "0123456789") {
		t.Errorf("the stream id was taken from the planted link: %s", id)
	}
	c := s.Consumer("d")
	s.Append(lines(0, 10))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := drain(t, c); !bytes.Equal(got, lines(0, 10)) {
		t.Errorf("consumer read %q: its position came from the planted link", got)
	}
	s.Close()
	if b, _ := os.ReadFile(tmpVictim); string(b) != "precious\n" {
		t.Errorf("the temporary name's link target was overwritten: %q", b)
	}
	if b, _ := os.ReadFile(stateVictim); string(b) != planted {
		t.Errorf("the state link's target was overwritten: %q", b)
	}
}

// TestPlantedSegmentLinkIgnored: a symlink named like a segment, pointing
// at a file with a torn last line, is neither read into the stream (which
// would send that file to the log host) nor cut at its last line.
func TestPlantedSegmentLinkIgnored(t *testing.T) {
	dir := t.TempDir()
	v := victimFile(t, "root:secret\nhalf a line")
	os.Symlink(v, filepath.Join(dir, "00000000000000000000.seg"))
	s, err := Open(Options{Dir: dir, Max: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := drain(t, s.Consumer("d")); len(got) > 0 {
		t.Errorf("the spool holds the link's target: %q", got)
	}
	if b, _ := os.ReadFile(v); string(b) != "root:secret\nhalf a line" {
		t.Errorf("the link's target was cut: %q", b)
	}
}

// TestWideSpoolDirTightened: an existing spool directory others may read
// or write is made 0700, and the log says so.
func TestWideSpoolDirTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	os.Mkdir(dir, 0o755)
	os.Chmod(dir, 0o777)
	var log bytes.Buffer
	s, err := Open(Options{Dir: dir, Max: 1 << 20, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("spool directory mode %v, want 0700", fi.Mode().Perm())
	}
	if !strings.Contains(log.String(), "0777") || !strings.Contains(log.String(), "0700") {
		t.Errorf("no log line about the tightening:\n%s", log.String())
	}
}

// TestSharedSpoolDirRefusedNotTightened: a directory shared with other
// users (sticky, like /tmp) is refused as a spool and keeps its mode: push
// --spool /tmp run as root once made /tmp 0700 for everyone.
func TestSharedSpoolDirRefusedNotTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tmp")
	os.Mkdir(dir, 0o755)
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir, Max: 1 << 20})
	if !errors.Is(err, ErrSharedDir) || !strings.Contains(err.Error(), filepath.Join(dir, "sshlogfwd")) {
		t.Errorf("Open of a sticky 1777 directory: %v, want ErrSharedDir suggesting a directory below it", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("the shared directory's mode changed to %v", fi.Mode())
	}
}

// TestForeignSpoolDirRefused: a spool directory owned by another user is
// refused: its owner could replace the lines waiting in it.
func TestForeignSpoolDirRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	os.Mkdir(dir, 0o700)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir, Max: 1 << 20})
	if !errors.Is(err, ErrForeignDir) || !strings.Contains(err.Error(), "65534") || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open of a spool owned by uid 65534: %v, want a refusal naming the directory and the owner", err)
	}
}

// TestEndOfStreamSurvivesTwoKills: a durable spool whose data was all
// acknowledged keeps the end of its stream on disk (an empty segment file
// named by it) across a start that appends nothing and a second kill. The
// first start used to remove that empty file, and the next took the end
// from the older saved state: offsets a receiver already had were handed
// out again, and the lines appended at them skipped as the receiver's
// (TestPushFIFOKilledReliable lost ~500 lines in a row that way).
func TestEndOfStreamSurvivesTwoKills(t *testing.T) {
	dir := t.TempDir()
	open := func() *Spool {
		s, err := Open(Options{Dir: dir, Max: 1 << 20, Durable: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := open()
	c := s1.Consumer("dest")
	data := []byte(strings.Repeat("a line of the stream\n", 10))
	if err := s1.Append(data); err != nil {
		t.Fatal(err)
	}
	c.Ack(int64(len(data))) // every segment acknowledged: released
	// Killed: no Close, no state saved since Open (its tail is 0).
	s2 := open()
	if _, got := s2.Bounds(); got != int64(len(data)) {
		t.Fatalf("after the first kill the stream ends at %d, want %d", got, len(data))
	}
	// Killed again before anything was appended.
	s3 := open()
	if _, got := s3.Bounds(); got != int64(len(data)) {
		t.Fatalf("after the second kill the stream ends at %d, want %d: offsets a receiver holds would be handed out again", got, len(data))
	}
	s3.Close()
}
