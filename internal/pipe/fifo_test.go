package pipe

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCreatesWithExactMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.fifo")
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	created, err := Ensure(path, 0o620)
	if err != nil || !created {
		t.Fatalf("Ensure: %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeNamedPipe || fi.Mode().Perm() != 0o620 {
		t.Errorf("mode %v, want named pipe 0620 despite umask 077", fi.Mode())
	}
}

func TestKeepsExistingFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	p, err := Open(path, 0o620)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) || after.Mode().Perm() != 0o600 {
		t.Errorf("existing FIFO was replaced or changed: %v -> %v", before.Mode(), after.Mode())
	}
}

func TestRefusesOtherFileTypes(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "regular")
	os.WriteFile(reg, []byte("precious\n"), 0o600)
	os.Symlink(reg, filepath.Join(dir, "link"))
	for _, tt := range []struct{ path, want string }{
		{reg, "regular file"},
		{dir, "directory"},
		{filepath.Join(dir, "link"), "symbolic link"},
		{filepath.Join(dir, "missing", "x.fifo"), "no such file"},
	} {
		_, err := Open(tt.path, 0o620)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("Open(%s) = %v, want an error naming the path and %q", tt.path, err, tt.want)
		}
	}
	if b, _ := os.ReadFile(reg); string(b) != "precious\n" {
		t.Errorf("regular file changed: %q", b)
	}
}

// TestNoEOFWhenWritersLeave: a reader that opened O_RDONLY gets EOF each
// time the last writer closes and spins; ours must block quietly instead.
func TestNoEOFWhenWritersLeave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.fifo")
	p, err := Open(path, 0o620)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Size() < 64<<10 {
		t.Errorf("pipe buffer %d, want at least the default 64 KiB (enlarged when allowed)", p.Size())
	}
	buf := make([]byte, 100)
	for i := range 3 {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("hello\n"))
		w.Close()
		n, err := p.Read(buf)
		if err != nil || string(buf[:n]) != "hello\n" {
			t.Fatalf("round %d: %q, %v", i, buf[:n], err)
		}
		// No writer now: Read must block, not return EOF.
		p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err = p.Read(buf)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("round %d: read without writers = %d, %v; want it to block until the deadline", i, n, err)
		}
		p.SetReadDeadline(time.Time{})
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	p, err := Open(filepath.Join(t.TempDir(), "log.fifo"), 0o620)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := p.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read block; Close must work either way
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

// TestRefusesFIFOOthersCanUse: an existing FIFO that other users may read
// (they would see the log lines) or write (they could forge lines) is
// refused, with the fix in the error, and left as it was.
func TestRefusesFIFOOthersCanUse(t *testing.T) {
	for _, mode := range []fs.FileMode{0o666, 0o622, 0o604, 0o602} {
		path := filepath.Join(t.TempDir(), "log.fifo")
		syscall.Mkfifo(path, 0)
		os.Chmod(path, mode)
		_, err := Open(path, 0o620)
		if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod") {
			t.Errorf("mode %04o: Open = %v, want ErrUnsafe naming the path and the fix", mode, err)
		}
		if fi, _ := os.Lstat(path); fi.Mode().Perm() != mode || fi.Mode().Type() != fs.ModeNamedPipe {
			t.Errorf("mode %04o: the FIFO was changed: %v", mode, fi.Mode())
		}
	}
	// Owner and group only: fine (the syslog daemon writes as its group).
	for _, mode := range []fs.FileMode{0o600, 0o620, 0o640, 0o660} {
		path := filepath.Join(t.TempDir(), "log.fifo")
		syscall.Mkfifo(path, 0)
		os.Chmod(path, mode)
		p, err := Open(path, 0o620)
		if err != nil {
			t.Errorf("mode %04o: %v", mode, err)
			continue
		}
		p.Close()
	}
}

// TestRefusesFIFOOfAnotherUser: a FIFO owned by another user (not root)
// is refused: its owner can read or forge lines whatever its mode says.
func TestRefusesFIFOOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a FIFO to another user")
	}
	path := filepath.Join(t.TempDir(), "log.fifo")
	syscall.Mkfifo(path, 0o600)
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, 0o620)
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "65534") || !strings.Contains(err.Error(), "chown") {
		t.Errorf("Open = %v, want ErrUnsafe naming the owner and the fix", err)
	}
}

// TestRefusesWideModeForNewFIFO: a mode that would let others read or
// write a FIFO we create is refused before anything is created.
func TestRefusesWideModeForNewFIFO(t *testing.T) {
	for _, mode := range []fs.FileMode{0o666, 0o662, 0o664, 0o700, 0o1620} {
		if err := CheckMode(mode); !errors.Is(err, ErrUnsafe) {
			t.Errorf("CheckMode(%04o) = %v, want ErrUnsafe", mode, err)
		}
		path := filepath.Join(t.TempDir(), "log.fifo")
		if _, err := Ensure(path, mode); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Ensure(%04o) = %v, want ErrUnsafe", mode, err)
		}
		if _, err := os.Lstat(path); err == nil {
			t.Errorf("Ensure(%04o) created the FIFO", mode)
		}
	}
	for _, mode := range []fs.FileMode{0o600, 0o620, 0o640, 0o660} {
		if err := CheckMode(mode); err != nil {
			t.Errorf("CheckMode(%04o) = %v", mode, err)
		}
	}
}
