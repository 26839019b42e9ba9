package receiver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// victim is another log file beside ours, which a local user points a
// planted symlink at. A parse error quoting its first byte would say
// "invalid character 'Z'".
const victim = "Zsecret line of another host\n"

// plant makes a file named victim beside path and a symlink to it at link.
func plant(t *testing.T, path, link string) string {
	t.Helper()
	v := filepath.Join(filepath.Dir(path), "other.log")
	if err := os.WriteFile(v, []byte(victim), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(v, link); err != nil {
		t.Fatal(err)
	}
	return v
}

// serveOnce runs a session that sends one line and returns Serve's
// result, everything written back to the sender, and the log (which
// under sshd is receive's stderr: the client sees it too, unless the
// forced command has --log).
func serveOnce(t *testing.T, path string) (err error, out, log string) {
	t.Helper()
	in := ackproto.AppendHello(nil, ackproto.Hello{Version: 1, Stream: streamA})
	in = ackproto.AppendData(in, 0, []byte("web1 line\n"))
	var o, l bytes.Buffer
	err = Serve(context.Background(), bytes.NewReader(in), &o, Options{Path: path, Logger: slog.New(slog.NewTextHandler(&l, nil))})
	t.Log(l.String())
	return err, o.String(), l.String()
}

// leaks reports whether s holds anything of the victim's content.
func leaks(s string) bool {
	return strings.Contains(s, "'Z'") || strings.Contains(s, "secret") || strings.Contains(s, "invalid character")
}

// TestPlantedSymlinks: a symlink planted at the state file, its old fixed
// temporary name or the lock file never makes receive write through it,
// and what the sender is told holds nothing of the link's target.
func TestPlantedSymlinks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		link     func(path string) string
		refusal  string // the error frame's text; "" for a session that works
		sentinel error
	}{
		{name: "state temp", link: func(p string) string { return StatePath(p) + ".tmp" }},
		{name: "lock", link: LockPath, refusal: "unsafe lock or state file, see the log host's log", sentinel: fsutil.ErrUnsafe},
		{name: "state", link: StatePath, refusal: ErrDamagedState.Error(), sentinel: ErrDamagedState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "remote.log")
			v := plant(t, path, tc.link(path))
			err, out, log := serveOnce(t, path)
			if b, _ := os.ReadFile(v); string(b) != victim {
				t.Errorf("the symlink's target was changed: %q", b)
			}
			if fi, lerr := os.Lstat(tc.link(path)); lerr != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the planted link was replaced or followed")
			}
			if leaks(out) || leaks(log) || (err != nil && leaks(err.Error())) {
				t.Errorf("the sender was shown the target's content: %q, %v, log:\n%s", out, err, log)
			}
			got, _ := os.ReadFile(path)
			if tc.refusal == "" {
				if err != nil || string(got) != "web1 line\n" {
					t.Errorf("a link at the old temporary name broke the session: %v, file %q", err, got)
				}
				return
			}
			if !errors.Is(err, tc.sentinel) || out != "E io "+tc.refusal+"\n" || len(got) > 0 {
				t.Errorf("Serve = %v, said %q, wrote %q; want it refused with %q", err, out, got, tc.refusal)
			}
		})
	}
}

// TestDamagedStateNotEchoed: a state file of ours that is not a state
// file is refused; neither the sender nor the error quotes a byte of it.
func TestDamagedStateNotEchoed(t *testing.T) {
	for _, content := range []string{victim, `{"version":"Zsecret"}`, `{"version":7,"stream":"Zsecret"}`} {
		path := filepath.Join(t.TempDir(), "remote.log")
		os.WriteFile(StatePath(path), []byte(content), 0o600)
		err, out, log := serveOnce(t, path)
		if !errors.Is(err, ErrDamagedState) || leaks(err.Error()) || leaks(log) || out != "E io "+ErrDamagedState.Error()+"\n" {
			t.Errorf("state %q: Serve = %v, said %q, logged:\n%s", content, err, out, log)
		}
	}
}

// TestNewStreamStartsWithGap: a gap to the position is a no-op, except as
// the first frame of a new stream, whose head the sender's spool dropped:
// its notice is written.
func TestNewStreamStartsWithGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path}, streamA)
	s.send(ackproto.AppendGap(nil, 5000, []byte("NOTICE head dropped\n")))
	s.send(ackproto.AppendGap(nil, 5000, []byte("NOTICE head dropped\n")))
	s.send(ackproto.AppendData(nil, 5000, lines(0, 1)))
	s.waitAck(5014)
	if err, _ := s.end(); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("NOTICE head dropped\n"), lines(0, 1)...)
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("file %q, want %q", got, want)
	}
}
