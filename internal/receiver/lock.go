package receiver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
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
	l *fsutil.Lock
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.l.Close() }

// LockOptions configure AcquireLock.
type LockOptions struct {
	// Takeover bounds the wait for a leftover receiver of the same stream
	// to exit after it was asked to (default 10 s); it is killed halfway.
	Takeover time.Duration
	Clock    clock.Clock // default the wall clock
	Logger   *slog.Logger
}

// lockPoll is how often a contended lock is tried again.
const lockPoll = 20 * time.Millisecond

// AcquireLock takes the lock of path for stream. A file another writer of
// ours writes (a pull, see internal/onewriter) is an
// *onewriter.OtherWriterError, before anything is touched. If a receiver of the same
// stream holds it, that one is a leftover of a connection the sender has
// already given up (a silently dropped link that sshd has not noticed): it
// is asked to stop (SIGTERM; it syncs and saves its position), killed if it
// does not, and the lock taken over. A receiver of another stream is never
// disturbed: that is a *BusyError.
//
// The lock file is never followed through a symlink nor taken if it is not
// a regular file of ours (fsutil.ErrUnsafe): it is rewritten with our pid,
// and a planted link would have us overwrite its target.
func AcquireLock(ctx context.Context, path, stream string, opts LockOptions) (*Lock, error) {
	t := &takeover{path: path, stream: stream, wait: opts.Takeover, clock: clock.OrReal(opts.Clock), log: opts.Logger}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.wait <= 0 {
		t.wait = 10 * time.Second
	}
	t.start = t.clock.Now()
	me := onewriter.Holder{Program: onewriter.Receive, Pid: os.Getpid(), Of: stream}
	if err := onewriter.Check(path, me); err != nil {
		return nil, err
	}
	fl, err := fsutil.OpenLock(LockPath(path))
	if err != nil {
		return nil, err
	}
	for {
		ok, err := fl.TryLock()
		if err == nil && !ok {
			err = t.step()
			if err == nil {
				err = clock.Sleep(ctx, t.clock, lockPoll)
			}
		}
		if err != nil {
			fl.Close()
			return nil, err
		}
		if ok {
			break
		}
	}
	// Tell a later receiver who holds the lock.
	if err := fl.SetHolder(me.String()); err != nil {
		fl.Close()
		return nil, err
	}
	return &Lock{l: fl}, nil
}

// takeover is the wait for a lock another receiver holds.
type takeover struct {
	path, stream      string
	wait              time.Duration
	clock             clock.Clock
	log               *slog.Logger
	start             time.Time
	signalled, killed bool
}

// step looks at the holder once more: another writer of ours (a pull) is
// an *onewriter.OtherWriterError; a receiver of another stream, or one
// unknown for too long, is a *BusyError; a leftover of our stream is asked
// to stop, then killed halfway through the wait.
func (t *takeover) step() error {
	h, _ := onewriter.ReadHolder(t.path)
	if h.Program == onewriter.Pull {
		return &onewriter.OtherWriterError{Path: t.path, Me: onewriter.Receive, Other: h, Mark: LockPath(t.path), Running: true}
	}
	pid, holder := h.Pid, h.Of
	waited := clock.Since(t.clock, t.start)
	switch {
	case holder != "" && holder != t.stream:
		return &BusyError{Path: t.path, Pid: pid, Stream: holder}
	case holder == "" && waited > time.Second:
		// Holder unknown (it is just starting, or an older program
		// holds it): do not disturb it.
		return &BusyError{Path: t.path, Pid: pid}
	case holder == t.stream && pid > 0 && !t.signalled && sameProgram(pid):
		t.log.Info("a receiver of the same stream is still running, left over from a connection that is gone; taking over", "path", t.path, "pid", pid)
		// SIGTERM makes it sync and save its position; SIGCONT lets a
		// stopped one act on it.
		syscall.Kill(pid, syscall.SIGTERM)
		syscall.Kill(pid, syscall.SIGCONT)
		t.signalled = true
	case holder == t.stream && t.signalled && !t.killed && waited > t.wait/2 && sameProgram(pid):
		t.log.Warn("the leftover receiver did not stop; killing it", "path", t.path, "pid", pid)
		syscall.Kill(pid, syscall.SIGKILL)
		t.killed = true
	case waited > t.wait:
		return &BusyError{Path: t.path, Pid: pid, Stream: holder}
	}
	return nil
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
