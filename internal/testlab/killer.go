package testlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// killWait bounds how long Kill waits for a process to exit after SIGKILL:
// only a process stuck in the kernel takes longer, and then the kill did
// not happen.
const killWait = 10 * time.Second

// errAlreadyDead is Kill's answer for a process that had exited (a
// zombie) before it was signalled.
var errAlreadyDead = errors.New("had already exited")

// Kill sends SIGKILL to pid and waits until it has exited. It returns
// nil only for a kill that happened: the process was running when
// signalled (not a zombie waiting for its parent) and exited since. The
// process is held by a pidfd from before the signal to its exit, so a pid
// reused meanwhile is neither signalled nor mistaken for it.
func Kill(pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	defer unix.Close(fd)
	// A pidfd is readable once its process has exited.
	if exited(fd, 0) {
		return fmt.Errorf("kill %d: %w", pid, errAlreadyDead)
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	if !exited(fd, killWait) {
		return fmt.Errorf("kill %d: still running %v after SIGKILL", pid, killWait)
	}
	return nil
}

// exited reports whether the process behind pidfd fd has exited, waiting
// up to timeout for it.
func exited(fd int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, pollTimeout(deadline))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return false
		}
		return n > 0
	}
}

// pollTimeout is poll(2)'s timeout in milliseconds until deadline, never
// negative: a negative timeout means "wait for ever", which a deadline
// that passed while the caller was descheduled (a loaded machine) would
// otherwise become, and Kill would then wait for the process to exit on
// its own.
func pollTimeout(deadline time.Time) int {
	return max(0, int(time.Until(deadline).Milliseconds()))
}

// Killer kills, again and again at intervals, the processes a function
// finds, and counts the kills that happened (see Kill): a pid found that
// had already exited, or that survived, is no fault injected.
type Killer struct {
	rounds atomic.Int64 // rounds in which at least one process was killed
	procs  atomic.Int64 // processes killed
	stop   chan struct{}
	done   chan struct{}
}

// StartKiller kills what find returns every interval until Stop.
func StartKiller(interval func() time.Duration, find func() []int) *Killer {
	k := &Killer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for {
			select {
			case <-k.stop:
				return
			case <-time.After(interval()):
			}
			k.KillNow(find())
		}
	}()
	return k
}

// Every is an interval of d for StartKiller.
func Every(d time.Duration) func() time.Duration { return func() time.Duration { return d } }

// Between is a random interval in [lo, hi) for StartKiller.
func Between(lo, hi time.Duration) func() time.Duration {
	return func() time.Duration { return lo + rand.N(hi-lo) }
}

// One turns the function that finds one pid (0: none) into a find for
// StartKiller.
func One(find func() int) func() []int {
	return func() []int {
		if pid := find(); pid > 0 {
			return []int{pid}
		}
		return nil
	}
}

// KillNow kills pids at once, counting a round if any of them died, and
// returns how many did.
func (k *Killer) KillNow(pids []int) int {
	n := 0
	for _, pid := range pids {
		if Kill(pid) == nil {
			n++
		}
	}
	if n > 0 {
		k.rounds.Add(1)
		k.procs.Add(int64(n))
	}
	return n
}

// Kills is how many rounds have killed at least one process so far.
func (k *Killer) Kills() int { return int(k.rounds.Load()) }

// Processes is how many processes were killed so far.
func (k *Killer) Processes() int { return int(k.procs.Load()) }

// Stop ends the kills (it may be called more than once) and returns
// Kills.
func (k *Killer) Stop() int {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
	return k.Kills()
}
