package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing directory: %v, want a not-exist error", err)
	}
}

// TestSharedDir: the system's directories and any sticky directory are
// shared; a directory of one's own is not.
func TestSharedDir(t *testing.T) {
	for _, d := range []string{"/", "/tmp", "/var/lib/", "/run", "/usr/local"} {
		if !SharedDir(d, nil) {
			t.Errorf("SharedDir(%s) = false", d)
		}
	}
	own := t.TempDir()
	fi, _ := os.Stat(own)
	if SharedDir(own, fi) {
		t.Errorf("SharedDir(%s, mode %v) = true", own, fi.Mode())
	}
	os.Chmod(own, 0o777|os.ModeSticky)
	fi, _ = os.Stat(own)
	if !SharedDir(own, fi) {
		t.Errorf("a sticky directory (%v) is not shared", fi.Mode())
	}
}
