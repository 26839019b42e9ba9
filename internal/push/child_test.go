package push

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// The test binary doubles as a fake ssh (see os/exec's tests) when run
// through a symlink named "fakessh", for the supervisor's own logic with
// a real child process and its real input pipe.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "fakessh" {
		os.Exit(fakeSSH(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeSSH DIR N is `cat >> DIR/far` behind an ssh that dies: the first
// one (DIR/first does not exist yet) appends N bytes of its input and
// exits 255 without reading more; the next ones append all of it.
func fakeSSH(args []string) int {
	if len(args) != 2 {
		return 2
	}
	dir := args[0]
	n, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return 2
	}
	far, err := os.OpenFile(filepath.Join(dir, "far"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 1
	}
	defer far.Close()
	if f, err := os.OpenFile(filepath.Join(dir, "first"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
		if _, err := io.CopyN(far, os.Stdin, n); err != nil {
			return 1
		}
		return 255
	}
	if _, err := io.Copy(far, os.Stdin); err != nil {
		return 1
	}
	return 0
}

// fakeSSHPath returns a path that runs fakeSSH.
func fakeSSHPath(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "fakessh")
	if err := os.Symlink(exe, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAppendResendsWhatADeadChildNeverRead: a real child (through
// execssh) reads part of its input and dies with the rest of a pipeful
// in it. That rest never left this host: the next child gets it, and the
// far side has every byte exactly once.
func TestAppendResendsWhatADeadChildNeverRead(t *testing.T) {
	dir := t.TempDir()
	te := newTestEngine(t, Options{}, spool.Options{Dir: filepath.Join(dir, "spool"), Durable: true})
	te.d.argv = []string{fakeSSHPath(t), dir, strconv.Itoa(10000 + lineLen/2)}
	all := lines(0, 100000) // more than a pipeful (1 MiB)
	te.sp.Append(all)

	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	stop, endStop := context.WithCancel(life)
	ran := make(chan error, 1)
	go func() {
		ran <- te.superviseSSH(life, te.d,
			func(_ context.Context, l Link) bool { return te.appendTo(stop, te.d, l) },
			func(err error) { te.exited(te.d, err) })
	}()
	far := filepath.Join(dir, "far")
	waitFor(t, func() bool {
		te.clk.Advance(50 * time.Millisecond) // the backoff before the next child
		fi, err := os.Stat(far)
		return err == nil && fi.Size() >= int64(len(all))
	}, "%d bytes at the far side", len(all))
	te.drain.begin(life)
	endStop()
	endLife()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(far)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, all) {
		t.Errorf("far side got %d bytes, want the %d spooled, once", len(got), len(all))
	}
}
