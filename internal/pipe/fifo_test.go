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
