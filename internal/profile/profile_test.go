package profile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A profile is a new file or nothing: an existing file or a symlink is
// refused (and left as it was), saying which profile and that its file
// could not be created.
func TestStartRefusesExistingFiles(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "trail.log")
	os.WriteFile(existing, []byte("keep me\n"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "target"), link)
	for _, tt := range []struct {
		cpu, heap string
		kind      string
	}{
		{"", existing, Heap},
		{existing, "", CPU},
		{link, "", CPU},
		{filepath.Join(dir, "new"), existing, Heap},
	} {
		stop, err := Start(tt.cpu, tt.heap)
		stop()
		var pe *Error
		if !errors.As(err, &pe) || pe.Kind != tt.kind || !pe.Create || !errors.Is(err, syscall.EEXIST) {
			t.Errorf("Start(%q, %q) = %v, want a %s profile that could not be created (EEXIST)", tt.cpu, tt.heap, err, tt.kind)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me\n" {
		t.Errorf("a refused profile changed %s: %q", existing, b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); err == nil {
		t.Error("a refused profile wrote through the symlink")
	}
}

// stop writes the heap profile, private to us, and ends the CPU profile.
func TestStartStop(t *testing.T) {
	dir := t.TempDir()
	cpu, heap := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	stop, err := Start(cpu, heap)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cpu, heap} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want a non-empty file of mode 0600", p, fi, err)
		}
	}
	stop, err = Start("", "")
	if err != nil || stop() != nil {
		t.Errorf("no profiles: %v", err)
	}
}
