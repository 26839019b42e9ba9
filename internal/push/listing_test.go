package push

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// WriteList: a paragraph per spool, the commands that deliver or discard
// only where no push runs, and why a spool that cannot be read is missing.
func TestWriteList(t *testing.T) {
	var b bytes.Buffer
	WriteList(&b, "/var/lib/sshlogfwd", nil)
	if b.String() != "no spool directories of push in /var/lib/sshlogfwd\n" {
		t.Errorf("no spools: %q", b.String())
	}
	b.Reset()
	held := map[string]spool.Held{"h:/a.log": {Lines: 7, Bytes: 98}}
	WriteList(&b, "/s", []SpoolInfo{
		{Dir: "/s/a", Record: Record{Dests: []string{"h:/a.log"}, Reliable: true}, Held: held},
		{Dir: "/s/b", Record: Record{Dests: []string{"h:/a.log"}}, Held: held, Running: true, Holder: "pid 42 sshlogfwd push"},
		{Dir: "/s/c", Record: Record{Dests: []string{"h:/c.log"}}, Held: map[string]spool.Held{}},
		{Dir: "/s/d", Err: errors.New("permission denied")},
	})
	want := `/s/a
  stopped: nothing delivers its lines, reliable mode
  h:/a.log: 7 lines (98 bytes) held
  deliver: sshlogfwd spool deliver /s/a
  deliver elsewhere: sshlogfwd spool deliver --to DEST /s/a
  discard: sshlogfwd spool discard /s/a
/s/b
  running: pid 42 sshlogfwd push, compatible mode
  h:/a.log: 7 lines (98 bytes) held
/s/c
  stopped, empty, compatible mode
  h:/c.log: 0 lines (0 bytes) held
  discard: sshlogfwd spool discard /s/c
/s/d
  cannot read it: permission denied
`
	if b.String() != want {
		t.Errorf("WriteList:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Discarded.Write says what was held for whom, and whether the directory
// went or why it stays.
func TestDiscardedWrite(t *testing.T) {
	d := Discarded{Record: Record{Dests: []string{"h:/a.log"}}, Held: map[string]spool.Held{"h:/a.log": {Lines: 3, Bytes: 42}},
		Files: []string{"state.json", "push.json", "lock"}, DirRemoved: true}
	var b bytes.Buffer
	d.Write(&b, "/s/a")
	if want := "discarded 3 lines (42 bytes) held for h:/a.log\nremoved /s/a (3 files)\n"; b.String() != want {
		t.Errorf("removed: %q, want %q", b.String(), want)
	}
	b.Reset()
	d.DirRemoved, d.Left = false, []string{"notes", "x"}
	d.Write(&b, "/s/a")
	if want := "removed the spool's 3 files; /s/a stays: it holds other files: notes, x\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("left: %q, want ...%q", b.String(), want)
	}
}

// OwnerHint names the owner of another user's spool, and nothing for our
// own or a missing one.
func TestOwnerHint(t *testing.T) {
	dir := t.TempDir()
	if h := OwnerHint(dir); h != "" {
		t.Errorf("our own spool: %q", h)
	}
	if h := OwnerHint(filepath.Join(dir, "gone")); h != "" {
		t.Errorf("a missing spool: %q", h)
	}
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another user needs root")
	}
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o700)
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if h := OwnerHint(other); !strings.Contains(h, "run the command as that user, e.g. runuser -u ") {
		t.Errorf("another user's spool: %q", h)
	}
}
