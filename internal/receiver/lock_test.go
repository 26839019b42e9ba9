package receiver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// holderEnv makes the test binary a leftover receiver: it holds the lock
// of the path in it for streamA, says "locked", says "term" for every
// SIGTERM without stopping, and waits for its stdin to close.
const holderEnv = "RECEIVER_TEST_LOCK_HOLDER"

func TestMain(m *testing.M) {
	if path := os.Getenv(holderEnv); path != "" {
		holdLock(path)
		return
	}
	os.Exit(m.Run())
}

func holdLock(path string) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if _, err := AcquireLock(context.Background(), path, streamA, LockOptions{}); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	go func() {
		for range term {
			fmt.Println("term")
		}
	}()
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// TestTakeoverOfLeftover: a receiver of the same stream that holds the
// lock is asked to stop (SIGTERM), and killed when it has not stopped by
// half the takeover time, on the injected clock; then the lock is ours.
func TestTakeoverOfLeftover(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), holderEnv+"="+path)
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the child is reaped
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "locked" {
		child.Process.Kill()
		t.Fatalf("the leftover did not take the lock: %q, %v", lines.Text(), child.Wait())
	}
	t.Cleanup(func() {
		stdin.Close()
		child.Process.Kill()
		<-exited
	})
	termed := make(chan struct{}) // closed when the child got SIGTERM
	go func() {
		for lines.Scan() {
			if lines.Text() == "term" {
				close(termed)
				break
			}
		}
		io.Copy(io.Discard, stdout)
		child.Wait()
		close(exited)
	}()

	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	type result struct {
		l   *Lock
		err error
	}
	done := make(chan result, 1)
	logs := &countHandler{t: t} // counts the warning that comes with the kill
	go func() {
		l, err := AcquireLock(context.Background(), path, streamA, LockOptions{Takeover: 10 * time.Second, Clock: fc, Logger: slog.New(logs)})
		done <- result{l, err}
	}()
	fc.WaitForWaiters(1) // asked it to stop, and waits
	select {
	case <-termed:
	case <-time.After(10 * time.Second):
		t.Fatal("the leftover got no SIGTERM (hang guard)")
	}
	fc.Advance(5*time.Second - lockPoll)
	fc.WaitForWaiters(1) // looked again, and waits
	if warns, _ := logs.counts(); warns != 0 {
		t.Fatal("the leftover was killed before half the takeover time")
	}
	fc.Advance(2 * lockPoll) // past half: killed
	select {
	case <-exited:
		if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the leftover ended with %v, want killed by SIGKILL", child.ProcessState)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the leftover was not killed halfway through the takeover time (hang guard)")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatalf("AcquireLock after the kill: %v", r.err)
			}
			r.l.Unlock()
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock was not taken after the leftover died (hang guard)")
		}
		if fc.Waiters() > 0 {
			fc.Advance(lockPoll)
		}
		runtime.Gosched()
	}
}
