package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestServeCursorIntoNeighbour is issue #10's finding 4 as the holder of a
// stolen pull key would try it: the start frame tells them PATH's device
// and inode, so they send cursors for the inodes of PATH's neighbours. A
// private file named PATH.private, a hard link PATH.1 to a private file
// and a file with a rotation name owned by another user must each get
// "lost" and the current file, never a byte of the neighbour; the client
// is not told which neighbour exists, and serve's local log (--log in the
// forced command) is.
func TestServeCursorIntoNeighbour(t *testing.T) {
	t.Parallel()
	local := filepath.Join(t.TempDir(), "serve.log")
	l := newPLLabKey(t, func(l *plLab, pub string) string {
		return testlab.RestrictedKeyLine(pub, "127.0.0.1", l.bin+" --log "+local+" serve "+l.log)
	})
	if err := os.WriteFile(l.log, []byte("served line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logID := sbID(t, l.log)
	secret := filepath.Join(l.dir, "secret")
	neighbours := []struct {
		name    string // the neighbour the local log must name
		target  string // whose inode the client asks for
		content string
		make    func(t *testing.T, name, target string)
	}{
		{l.log + ".private", l.log + ".private", "PRIVATE-NEIGHBOUR-BYTES\n", nil},
		{l.log + ".1", secret, "HARD-LINKED-SECRET-BYTES\n", func(t *testing.T, name, target string) {
			if err := os.Link(target, name); err != nil {
				t.Fatal(err)
			}
		}},
		{l.log + "-20261125", l.log + "-20261125", "NOBODYS-ROTATION-BYTES\n", func(t *testing.T, name, _ string) {
			if err := os.Chown(name, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, nb := range neighbours {
		sbWrite(t, nb.target, nb.content, 0o600)
		if nb.make != nil {
			nb.make(t, nb.name, nb.target)
		}
		id := sbID(t, nb.target)
		for _, off := range []int{0, 8} {
			req := fmt.Sprintf("sshlogfwd serve --cursor %d:%d:%d -- %s", id.Dev, id.Ino, off, l.log)
			out, errOut := sbServe(t, l, req, "served line\n")
			if want := fmt.Sprintf("S %d:%d:0 lost\n", logID.Dev, logID.Ino); !strings.Contains(out, want) {
				t.Errorf("%s: stream does not start with %q:\n%s", req, want, out)
			}
			if strings.Contains(out+errOut, nb.content[off:]) || strings.Contains(out+errOut, "BYTES") {
				t.Errorf("%s: the neighbour's bytes reached the client:\n%s\nstderr:\n%s", req, out, errOut)
			}
			if strings.Contains(errOut, nb.name) || strings.Contains(errOut, nb.target) {
				t.Errorf("%s: the client is told which neighbour it hit:\n%s", req, errOut)
			}
		}
		if s := string(readFile(local)); !strings.Contains(s, "file="+nb.name+" ") {
			t.Errorf("serve's local log does not name the refused neighbour %s:\n%s", nb.name, s)
		}
	}
}

func sbWrite(t *testing.T, name, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func sbID(t *testing.T, name string) fsutil.ID {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fsutil.IDOf(fi)
	return id
}

// sbServe sends req through the lab's sshd with the pull key, reads the
// stream until it holds until (or 10 s), then ends the session and
// returns the stream and ssh's stderr (serve's, through sshd).
func sbServe(t *testing.T, l *plLab, req, until string) (stream, stderr string) {
	t.Helper()
	cmd := l.sshd.Command(req)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut := &sbBuffer{}, &sbBuffer{}
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !testlab.Poll(10*time.Second, func() bool { return strings.Contains(out.String(), until) }) {
		t.Errorf("%s: no %q in the stream after 10 s:\n%s\nstderr:\n%s", req, until, out, errOut)
	}
	stdin.Close() // pull goes away: serve ends
	cmd.Wait()
	return out.String(), errOut.String()
}

// sbBuffer is a buffer an exec.Cmd writes into while the test reads it.
type sbBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *sbBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *sbBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeResumesIntoRotations: the rotations that serve may read still
// resume exactly. pull is stopped, the file is renamed as logrotate does
// (PATH.1, or PATH-YYYYMMDD with dateext) while the writer goes on into
// the renamed file until it reopens, and pull, started again, gets every
// line once: the rest of the renamed file, then the new one.
func TestServeResumesIntoRotations(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{".1", "-" + time.Now().Format("20060102"), "-" + time.Now().Format("2006010215")} {
		t.Run(suffix, func(t *testing.T) {
			t.Parallel()
			const rate, before, total = 2000, 1000, 3000
			l := newPLLab(t)
			w := newPLWriter(t, l.log)
			p := l.startPull("--from", "start")
			w.Run(context.Background(), before, rate, nil)
			waitOutputSize(t, l.out, before*plLineSize, 20*time.Second, p.log)
			if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
				t.Fatalf("pull after SIGTERM: %v", err)
			}
			w.Write(300)
			if err := os.Rename(l.log, l.log+suffix); err != nil {
				t.Fatal(err)
			}
			w.Write(200) // into the renamed file: the daemon has not reopened yet
			w.Reopen()
			w.Write(300)
			p = l.startPull()
			w.Run(context.Background(), total, rate, nil)
			r := waitPulled(t, l.out, total, 30*time.Second, p.log)
			t.Logf("RESUME into %s, %d lines: %s", filepath.Base(l.log+suffix), total, r)
			if !r.Exact(total) {
				t.Fatalf("want every line exactly once in order: %s", r)
			}
			if strings.Contains(p.log(), "remote file of our cursor is gone") {
				t.Errorf("pull reports a lost position although the file was only renamed:\n%s", p.log())
			}
		})
	}
}
