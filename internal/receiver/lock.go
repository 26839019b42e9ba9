package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// BusyError is a lock held by a receiver of another stream.
type BusyError struct {
	Path   string
	Pid    int
	Stream string
}

func (e *BusyError) Error() string {
	holder := "another receiver"
	if e.Pid > 0 {
		holder = fmt.Sprintf("another receiver (pid %d, stream %s)", e.Pid, e.Stream)
	}
	return fmt.Sprintf("%s is being written by %s; one receiver per file: check that no two senders use the same file", e.Path, holder)
}

// Lock is the exclusive right to append to one file.
type Lock struct {
	f *os.File
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.f.Close() }

// LockOptions configure AcquireLock.
type LockOptions struct {
	// Takeover bounds the wait for a leftover receiver of the same stream
	// to exit after it was asked to (default 10 s); it is killed halfway.
	Takeover time.Duration
	Logger   *slog.Logger
}

// AcquireLock takes the lock of path for stream. If a receiver of the same
// stream holds it, that one is a leftover of a connection the sender has
// already given up (a silently dropped link that sshd has not noticed): it
// is asked to stop (SIGTERM; it syncs and saves its position), killed if it
// does not, and the lock taken over. A receiver of another stream is never
// disturbed: that is a *BusyError.
func AcquireLock(ctx context.Context, path, stream string, opts LockOptions) (*Lock, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wait := opts.Takeover
	if wait <= 0 {
		wait = 10 * time.Second
	}
	lp := LockPath(path)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", lp, err)
	}
	tryLock := func() (bool, error) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, unix.EINTR) {
			return false, nil
		}
		return false, fmt.Errorf("lock %s: %w", lp, err)
	}
	start := time.Now()
	var signalled, killed bool
	for {
		ok, err := tryLock()
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			break
		}
		pid, holder := readHolder(lp)
		waited := time.Since(start)
		switch {
		case holder != "" && holder != stream:
			f.Close()
			return nil, &BusyError{Path: path, Pid: pid, Stream: holder}
		case holder == "" && waited > time.Second:
			// Holder unknown (it is just starting, or an older program
			// holds it): do not disturb it.
			f.Close()
			return nil, &BusyError{Path: path, Pid: pid}
		case holder == stream && pid > 0 && !signalled && sameProgram(pid):
			log.Info("a receiver of the same stream is still running, left over from a connection that is gone; taking over", "path", path, "pid", pid)
			// SIGTERM makes it sync and save its position; SIGCONT
			// lets a stopped one act on it.
			syscall.Kill(pid, syscall.SIGTERM)
			syscall.Kill(pid, syscall.SIGCONT)
			signalled = true
		case holder == stream && signalled && !killed && waited > wait/2 && sameProgram(pid):
			log.Warn("the leftover receiver did not stop; killing it", "path", path, "pid", pid)
			syscall.Kill(pid, syscall.SIGKILL)
			killed = true
		case waited > wait:
			f.Close()
			return nil, &BusyError{Path: path, Pid: pid, Stream: holder}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Tell a later receiver who holds the lock.
	info := strconv.Itoa(os.Getpid()) + " " + stream + "\n"
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
	}
	return &Lock{f: f}, nil
}

// readHolder reads "pid stream" from the lock file.
func readHolder(lp string) (int, string) {
	b, err := os.ReadFile(lp)
	if err != nil {
		return 0, ""
	}
	pidS, stream, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok {
		return 0, ""
	}
	pid, err := strconv.Atoi(pidS)
	if err != nil || pid <= 1 {
		return 0, ""
	}
	return pid, stream
}

// sameProgram reports whether pid runs our own executable, so that a
// stale pid in the lock file never gets a signal meant for a receiver.
func sameProgram(pid int) bool {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return false
	}
	other, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && other == self
}
