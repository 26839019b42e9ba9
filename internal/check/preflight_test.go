package check

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A missing directory is named with the command that creates it for the
// user we run as; an existing one we may write passes.
func TestNeedDir(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "run", "sshlogfwd")
	err := NeedDir(missing, 0o750)
	var fe *FixError
	if !errors.As(err, &fe) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing directory: %v, want a *FixError wrapping ErrNotExist", err)
	}
	want := "directory " + missing + " does not exist (fix, as root: " + FixDir(missing, 0o750) + ")"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if err := NeedDir(dir, 0o750); err != nil {
		t.Errorf("existing directory: %v", err)
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o600)
	if err := NeedDir(file, 0o750); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}
}

// A directory we may not write is handed over to us by the fix, unless it
// is a directory of the system: then the fix is a directory of our own.
func TestNotWritable(t *testing.T) {
	fi, err := os.Stat("/run")
	if err != nil {
		t.Skip(err)
	}
	shared := notWritable("/run", fi, 0o750, syscall.EACCES).Error()
	if !strings.Contains(shared, "cannot create files in /run (owner ") || !strings.Contains(shared, "directory of its own") || strings.Contains(shared, "install") {
		t.Errorf("shared directory: %s", shared)
	}
	dir := t.TempDir()
	fi, _ = os.Stat(dir)
	own := notWritable(dir, fi, 0o750, syscall.EACCES)
	if !strings.Contains(own.Error(), "(fix, as root: "+FixDir(dir, 0o750)+")") || !errors.Is(own, syscall.EACCES) {
		t.Errorf("own directory: %v", own)
	}
}

// WritableFile: a missing file in an existing directory passes, a
// directory or a FIFO at the name is refused, a file we may write passes.
func TestWritableFile(t *testing.T) {
	dir := t.TempDir()
	if err := WritableFile(filepath.Join(dir, "new.log")); err != nil {
		t.Errorf("missing file in a writable directory: %v", err)
	}
	var fe *FixError
	if err := WritableFile(filepath.Join(dir, "no", "new.log")); !errors.As(err, &fe) || !strings.Contains(fe.Fix, "install -d") {
		t.Errorf("missing directory: %v, want a fix that creates it", err)
	}
	if err := WritableFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
	f := filepath.Join(dir, "out.log")
	os.WriteFile(f, nil, 0o600)
	if err := WritableFile(f); err != nil {
		t.Errorf("own file: %v", err)
	}
}

// FIFOPath never accepts something else at the FIFO's name; a FIFO, or a
// free name in a writable directory, passes.
func TestFIFOPath(t *testing.T) {
	dir := t.TempDir()
	if err := FIFOPath(filepath.Join(dir, "push.fifo")); err != nil {
		t.Errorf("free name: %v", err)
	}
	fifo := filepath.Join(dir, "held.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := FIFOPath(fifo); err != nil {
		t.Errorf("a FIFO: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if err := FIFOPath(file); err == nil || !strings.Contains(err.Error(), "not a named pipe; refusing to touch it") {
		t.Errorf("a regular file: %v", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(fifo, link)
	if err := FIFOPath(link); err == nil || !strings.Contains(err.Error(), "symbolic link") && !strings.Contains(err.Error(), "not a named pipe") {
		t.Errorf("a symlink to a FIFO: %v, want refused (Lstat)", err)
	}
}

// PrivateKey refuses a key every user can read, saying how to fix it, and
// a missing one; a key of ours, private, passes.
func TestPrivateKey(t *testing.T) {
	key := filepath.Join(t.TempDir(), "id")
	os.WriteFile(key, []byte("k"), 0o600)
	if err := PrivateKey(key); err != nil {
		t.Errorf("a private key of ours: %v", err)
	}
	os.Chmod(key, 0o644)
	if err := PrivateKey(key); err == nil || !strings.Contains(err.Error(), "readable by every user on this host (mode 0644): chmod 600 it") {
		t.Errorf("a key every user can read: %v", err)
	}
	if err := PrivateKey(key + ".gone"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing key: %v", err)
	}
}

// Followable waits for a missing file and refuses anything but a regular
// file.
func TestFollowable(t *testing.T) {
	dir := t.TempDir()
	if err := Followable(filepath.Join(dir, "later.log")); err != nil {
		t.Errorf("missing file: %v, want nil (it is waited for)", err)
	}
	if err := Followable(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}

// JournalDir wants a directory we may read; JournalFile a regular file we
// may read, or a glob, which journalctl expands.
func TestJournalPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "system.journal")
	os.WriteFile(file, nil, 0o600)
	missing := filepath.Join(dir, "missing")
	for _, tt := range []struct {
		what string
		err  error
		want string // "" = ok, else in the error
	}{
		{"a directory", JournalDir(dir), ""},
		{"a file as directory", JournalDir(file), "not a directory"},
		{"a missing directory", JournalDir(missing), "no such file"},
		{"a file", JournalFile(file), ""},
		{"a glob", JournalFile(filepath.Join(dir, "*.journal")), ""},
		{"a directory as file", JournalFile(dir), "not a journal file"},
		{"a missing file", JournalFile(missing), "no such file"},
	} {
		if (tt.err == nil) != (tt.want == "") || tt.err != nil && !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.what, tt.err, tt.want)
		}
	}
}
