package serve

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// lockedBuffer collects a log for assertions.
type lockedBuffer = testlab.SyncBuffer

func bufLogger(t *testing.T, b *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), b), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const nobody = 65534

// A cursor is a request from the client: serve resumes into a neighbour of
// PATH only if it is one of PATH's rotations (a rotation name, a regular
// file with PATH's owner, no other names). Any other neighbour's inode
// gets "lost" and the current file; not a byte of the neighbour reaches
// the client, and only the local log says which neighbour it was.
func TestResumeOnlyIntoRotations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// make puts the neighbour beside path and returns the name the
		// local log must give for it (for a refused one) and the file
		// whose inode the client asks for.
		make   func(t *testing.T, path string) (shown, target string)
		resume bool
	}{
		{".1", sibling(".1"), true},
		{".0 (savelog)", sibling(".0"), true},
		{"-YYYYMMDD", sibling("-20261125"), true},
		{"-YYYYMMDDHH", sibling("-2026112510"), true},
		{"-YYYYMMDD-N", sibling("-20261125-1764066600"), true},
		{".private", sibling(".private"), false},
		{"-backup", sibling("-backup"), false},
		{".pos", sibling(".pos"), false},
		{".1.gz", sibling(".1.gz"), false},
		{"hard link .1 to a private file", func(t *testing.T, path string) (string, string) {
			private := filepath.Join(filepath.Dir(path), "private")
			writeFile(t, private, "NEIGHBOUR\n")
			if err := os.Link(private, path+".1"); err != nil {
				t.Fatal(err)
			}
			return path + ".1", private
		}, false},
		{"symlink .1 to a private file", func(t *testing.T, path string) (string, string) {
			private := filepath.Join(t.TempDir(), "private")
			writeFile(t, private, "NEIGHBOUR\n")
			if err := os.Symlink(private, path+".1"); err != nil {
				t.Fatal(err)
			}
			return "", private
		}, false},
		{".1 owned by another user", func(t *testing.T, path string) (string, string) {
			if os.Geteuid() != 0 {
				t.Skip("changing a file's owner needs root")
			}
			writeFile(t, path+".1", "NEIGHBOUR\n")
			if err := os.Chown(path+".1", nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return path + ".1", path + ".1"
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "fwd.log")
			shown, target := tc.make(t, path)
			cur := at(idOf(t, target), 0)
			now := writeFile(t, path, "current\n")
			pub, local := &lockedBuffer{}, &lockedBuffer{}
			c := serveTest(t, path, request.ServeRequest{Cursor: &cur}, func(o *Options) {
				o.Logger, o.LocalLogger = bufLogger(t, pub), bufLogger(t, local)
			})
			if tc.resume {
				c.start(cur, stream.HowResume)
				c.data("NEIGHBOUR\n", at(idOf(t, target), 10))
				return
			}
			c.start(at(now, 0), stream.HowLost)
			c.data("current\n", at(now, 8))
			if strings.Contains(pub.String(), target) || (shown != "" && strings.Contains(pub.String(), shown)) {
				t.Errorf("the log that reaches the client names the neighbour:\n%s", pub)
			}
			if shown != "" && !strings.Contains(local.String(), "file="+shown+" ") {
				t.Errorf("the local log does not say which neighbour was refused:\n%s", local)
			}
		})
	}
}

// sibling makes a neighbour path+suffix; the client asks for its inode.
func sibling(suffix string) func(t *testing.T, path string) (string, string) {
	return func(t *testing.T, path string) (string, string) {
		writeFile(t, path+suffix, "NEIGHBOUR\n")
		return path + suffix, path + suffix
	}
}

// Without a local log, a refused neighbour is not named anywhere.
func TestRefusalNotLoggedWithoutLocalLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fwd.log")
	writeFile(t, path+".private", "NEIGHBOUR\n")
	cur := at(idOf(t, path+".private"), 0)
	now := writeFile(t, path, "current\n")
	pub := &lockedBuffer{}
	c := serveTest(t, path, request.ServeRequest{Cursor: &cur}, func(o *Options) { o.Logger = bufLogger(t, pub) })
	c.start(at(now, 0), stream.HowLost)
	c.data("current\n", at(now, 8))
	if strings.Contains(pub.String(), path+".private") {
		t.Errorf("the log that reaches the client names the neighbour:\n%s", pub)
	}
	if !strings.Contains(pub.String(), tailer.Cursor(cur).String()) {
		t.Errorf("the lost position is not logged:\n%s", pub)
	}
}
