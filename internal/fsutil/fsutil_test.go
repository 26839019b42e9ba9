package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteAtomicReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteAtomic(p, []byte(content), 0o600, true); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries after three replaces, want 1: %v", len(ents), ents)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// A symlink planted at the target is replaced, not followed: its target
// keeps its content.
func TestWriteAtomicDoesNotFollowSymlinkAtTarget(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "other.log")
	os.WriteFile(victim, []byte("precious\n"), 0o644)
	p := filepath.Join(dir, "state")
	os.Symlink(victim, p)
	if err := WriteAtomic(p, []byte("state\n"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("symlink target overwritten: %q", b)
	}
	if fi, _ := os.Lstat(p); fi.Mode()&os.ModeSymlink != 0 {
		t.Fatal("state is still a symlink")
	}
}

func TestWriteAtomicReportsMissingDirectory(t *testing.T) {
	err := WriteAtomic(filepath.Join(t.TempDir(), "no", "state"), []byte("x"), 0o600, true)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func TestReadOwnedRefusesSymlinkFIFOAndLargeFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("{secret"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	if _, err := ReadOwned(link, 1024); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("symlink: err = %v, want ErrUnsafe", err)
	} else if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error leaks the content: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o600)
	if _, err := ReadOwned(fifo, 1024); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("fifo: err = %v, want ErrUnsafe", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 2048), 0o600)
	if _, err := ReadOwned(big, 1024); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("big: err = %v, want ErrUnsafe", err)
	}
	if b, err := ReadOwned(target, 1024); err != nil || string(b) != "{secret" {
		t.Fatalf("regular file: %q, %v", b, err)
	}
	if _, err := ReadOwned(filepath.Join(dir, "missing"), 1024); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: err = %v", err)
	}
}

func TestLockIsExclusiveAndNamesHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	l, err := TryLockFile(p, "pid 42 sshlogfwd push")
	if err != nil {
		t.Fatal(err)
	}
	_, err = TryLockFile(p, "pid 43")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "pid 42 sshlogfwd push" {
		t.Fatalf("second lock: err = %v, want HeldError naming pid 42", err)
	}
	l.Close()
	l2, err := TryLockFile(p, "pid 43")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Close()
}

// TestLockedSeesAHolderWithoutTakingTheLock: Locked tells a held lock
// from a free one, and while it looks the holder keeps the lock and a
// contender still finds it free.
func TestLockedSeesAHolderWithoutTakingTheLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	if held, err := Locked(p); err != nil || held {
		t.Fatalf("missing file: Locked = %v, %v; want false", held, err)
	}
	l, err := TryLockFile(p, "pid 42 sshlogfwd push")
	if err != nil {
		t.Fatal(err)
	}
	if held, err := Locked(p); err != nil || !held {
		t.Fatalf("held: Locked = %v, %v; want true", held, err)
	}
	other := filepath.Join(filepath.Dir(p), "other")
	os.WriteFile(other, nil, 0o600)
	if held, err := Locked(other); err != nil || held {
		t.Fatalf("another file: Locked = %v, %v; want false", held, err)
	}
	l.Close()
	if held, err := Locked(p); err != nil || held {
		t.Fatalf("released: Locked = %v, %v; want false", held, err)
	}
	l2, err := TryLockFile(p, "pid 43")
	if err != nil {
		t.Fatalf("lock after Locked looked: %v", err)
	}
	l2.Close()
}

func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.log")
	os.WriteFile(victim, []byte("keep me\n"), 0o644)
	p := filepath.Join(dir, "lock")
	os.Symlink(victim, p)
	if _, err := TryLockFile(p, "pid 1"); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("err = %v, want ErrUnsafe", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Fatalf("victim changed: %q", b)
	}
}

func TestIDOf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, nil, 0o600)
	a, _ := os.Stat(p)
	os.Rename(p, p+".1")
	b, _ := os.Stat(p + ".1")
	ia, ok1 := IDOf(a)
	ib, ok2 := IDOf(b)
	if !ok1 || !ok2 || ia != ib || ia.Ino == 0 {
		t.Fatalf("identity changed across rename: %v %v", ia, ib)
	}
	if _, ok := IDOf(fakeInfo{}); ok {
		t.Fatal("IDOf accepted a FileInfo without Stat_t")
	}
}

type fakeInfo struct{ os.FileInfo }

func (fakeInfo) Sys() any { return nil }

// DescribeOwner shows what a permission message needs: owner and group by
// name, and the mode; without a FileInfo only the path.
func TestDescribeOwner(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, nil, 0o600)
	os.Chmod(p, 0o640)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := Owner(fi)
	gid, _ := Group(fi)
	want := p + " (owner " + UserName(uid) + ", group " + GroupName(gid) + ", mode 0640)"
	if got := DescribeOwner(p, fi); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := DescribeOwner(p, nil); got != p {
		t.Errorf("nil FileInfo: %q", got)
	}
	if UserName(0) != "root" || GroupName(0) != "root" || UserName(2147483000) != "2147483000" {
		t.Errorf("names: %q %q %q", UserName(0), GroupName(0), UserName(2147483000))
	}
}
