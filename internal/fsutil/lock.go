package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// HeldError is a lock another process holds. Holder is what that process
// wrote into the lock file (e.g. "pid 4242 sshlogfwd push"), "" if unknown.
type HeldError struct {
	Path, Holder string
}

func (e *HeldError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("%s is held by another process", e.Path)
	}
	return fmt.Sprintf("%s is held by %s", e.Path, e.Holder)
}

// Lock is an open lock file; the flock(2) lock, once taken, lasts until
// Close (or the process's death: nothing stale is ever left).
type Lock struct {
	f    *os.File
	path string
}

// OpenLock opens (creating, mode 0600) the lock file path without taking
// the lock, refusing a symlink or anything but a regular file of ours.
func OpenLock(path string) (*Lock, error) {
	f, err := CreateOwned(path, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	return &Lock{f: f, path: path}, nil
}

// TryLock tries once to take the exclusive lock without waiting; false
// means another process holds it.
func (l *Lock) TryLock() (bool, error) {
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EWOULDBLOCK), errors.Is(err, unix.EINTR):
		return false, nil
	}
	return false, &fs.PathError{Op: "lock", Path: l.path, Err: err}
}

// SetHolder records who holds the lock, for the error a later contender
// gets. Call it only while holding the lock.
func (l *Lock) SetHolder(holder string) error {
	if err := l.f.Truncate(0); err != nil {
		return &fs.PathError{Op: "truncate", Path: l.path, Err: err}
	}
	if _, err := l.f.WriteAt([]byte(holder+"\n"), 0); err != nil {
		return &fs.PathError{Op: "write", Path: l.path, Err: err}
	}
	return nil
}

// Close releases the lock.
func (l *Lock) Close() error { return l.f.Close() }

// Holder reads what the holder of the lock file path wrote ("" if
// nothing readable).
func Holder(path string) string {
	b, err := ReadOwned(path, 4096)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// TryLockFile takes the exclusive lock path at once and records holder in
// it; a lock held by another process is a *HeldError naming its holder.
func TryLockFile(path, holder string) (*Lock, error) {
	l, err := OpenLock(path)
	if err != nil {
		return nil, err
	}
	ok, err := l.TryLock()
	if err == nil && !ok {
		err = &HeldError{Path: path, Holder: Holder(path)}
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	if err := l.SetHolder(holder); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// procLocks lists the file locks held on this machine (proc(5)).
var procLocks = "/proc/locks"

// Locked reports whether some process (this one included) holds a flock
// lock on the file at path, without taking it: a contender that tried
// the lock, even for an instant, could make the rightful holder's own
// attempt fail. A missing file is not locked.
func Locked(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	id, ok := IDOf(fi)
	if !ok {
		return false, fmt.Errorf("%s: no inode", path)
	}
	b, err := os.ReadFile(procLocks)
	if err != nil {
		return false, err
	}
	// "1: FLOCK  ADVISORY  WRITE 2516 fe:00:9988210 0 EOF": the device's
	// major and minor numbers in hex, the inode in decimal.
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(id.Dev), unix.Minor(id.Dev), id.Ino)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == want {
			return true, nil
		}
	}
	return false, nil
}
