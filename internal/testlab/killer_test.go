package testlab

import (
	"errors"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startSleeper runs `sleep 60`; the cleanup reaps it.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func TestKillCountsOnlyKillsThatHappened(t *testing.T) {
	t.Parallel()
	running := startSleeper(t)
	if err := Kill(running.Process.Pid); err != nil {
		t.Fatalf("kill a running process: %v", err)
	}
	st, err := readStat(running.Process.Pid)
	if err != nil || st.state != 'Z' {
		t.Errorf("after Kill the child is %q (%v), want a zombie waiting for its parent", st.state, err)
	}

	// A zombie was found but is no kill: it had exited already.
	if err := Kill(running.Process.Pid); !errors.Is(err, errAlreadyDead) {
		t.Errorf("kill a zombie: %v, want %v", err, errAlreadyDead)
	}
	running.Wait()
	if err := Kill(running.Process.Pid); err == nil {
		t.Errorf("kill a reaped pid: no error")
	}
}

func TestKillerCountsRounds(t *testing.T) {
	t.Parallel()
	a, b := startSleeper(t), startSleeper(t)
	dead := startSleeper(t)
	dead.Process.Kill()
	WaitFor(t, 10*time.Second, func() bool {
		st, err := readStat(dead.Process.Pid)
		return err == nil && st.state == 'Z'
	}, "the child to become a zombie (a hang)")
	k := &Killer{}
	if n := k.KillNow([]int{dead.Process.Pid}); n != 0 || k.Kills() != 0 {
		t.Errorf("a zombie counted as %d kills, %d rounds", n, k.Kills())
	}
	if n := k.KillNow([]int{a.Process.Pid, b.Process.Pid}); n != 2 || k.Kills() != 1 || k.Processes() != 2 {
		t.Errorf("two processes: %d killed, %d rounds, %d processes; want 2, 1, 2", n, k.Kills(), k.Processes())
	}

	c := startSleeper(t)
	var finds atomic.Int64
	s := StartKiller(Every(time.Millisecond), One(func() int { finds.Add(1); return c.Process.Pid }))
	WaitFor(t, 10*time.Second, func() bool { return s.Processes() > 0 }, "the killer to kill (a hang)")
	// The zombie it leaves is found again and again, and never counts.
	after := finds.Load()
	WaitFor(t, 10*time.Second, func() bool { return finds.Load() >= after+5 }, "five more rounds (a hang)")
	if got := s.Stop(); got != 1 {
		t.Errorf("killer counted %d kills of one process", got)
	}
	s.Stop() // twice is fine
}

// TestPollTimeoutNeverNegative: a deadline already passed is a poll that
// returns at once (0), not poll's "wait for ever" (-1), which made Kill
// hang until a running process exited on its own.
func TestPollTimeoutNeverNegative(t *testing.T) {
	if got := pollTimeout(time.Now().Add(-time.Second)); got != 0 {
		t.Errorf("pollTimeout(a second ago) = %d, want 0", got)
	}
	if got := pollTimeout(time.Now().Add(time.Hour)); got <= 0 {
		t.Errorf("pollTimeout(in an hour) = %d, want > 0", got)
	}
}

// TestExitedZeroTimeoutDoesNotWait: exited(fd, 0) on a running process
// answers at once even when called after its deadline.
func TestExitedZeroTimeoutDoesNotWait(t *testing.T) {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	done := make(chan bool, 1)
	go func() { done <- exited(fd, -time.Second) }()
	select {
	case got := <-done:
		if got {
			t.Error("exited reports this test's own process as exited")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exited with a passed deadline still waits after 10 s (a hang)")
	}
}
