package journal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// stderrTailLines is how many of journalctl's last stderr lines explain its
// exit.
const stderrTailLines = 5

// child is one journalctl process with a single owner and a fixed order:
// start (in its own process group, so a Ctrl-C reaches us first and we stop
// it in order) → one goroutine drains stderr line by line into the logger →
// the owner reads stdout to EOF → only after stderr is drained, Wait. Waiting
// earlier would lose the lines that explain why journalctl ended.
//
// It is not execssh.Child: that one owns ssh's stdin and explains exit
// statuses in ssh's terms; journalctl has no input and other statuses.
type child struct {
	cmd        *exec.Cmd
	stdout     *os.File
	log        *slog.Logger
	stderrDone chan struct{}
	exited     chan struct{} // closed after Wait
	started    time.Time

	mu   sync.Mutex
	tail []string
}

// startChild starts argv with stdout and stderr on pipes of our own: the
// exec package's pipes are closed by Wait, and we read both to EOF first.
func startChild(argv []string, log *slog.Logger, now time.Time) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	// Pdeathsig: a push killed -9 cannot stop its journalctl, which would
	// otherwise follow on (on a quiet selection, for days) until it next
	// writes into the closed pipe. The kernel sends SIGTERM when the
	// thread that forked it exits, so that thread stays ours for the
	// start (the Go runtime never retires an unlocked thread).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start journalctl: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("start journalctl: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start journalctl: %w", err)
	}
	c := &child{cmd: cmd, stdout: outR, log: log, stderrDone: make(chan struct{}), exited: make(chan struct{}), started: now}
	log.Debug("started", "child", "journalctl", "pid", cmd.Process.Pid, "argv", argv)
	go c.drainStderr(errR)
	return c, nil
}

func (c *child) drainStderr(r *os.File) {
	defer close(c.stderrDone)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		c.log.Warn("journalctl: " + line)
		c.mu.Lock()
		c.tail = append(c.tail, line)
		if len(c.tail) > stderrTailLines {
			c.tail = c.tail[1:]
		}
		c.mu.Unlock()
	}
	// A line over 64 KiB: keep draining so journalctl never blocks on us.
	io.Copy(io.Discard, r)
}

// wait reads what is left of stdout, waits for stderr to be drained, then
// reaps journalctl. It returns nil for exit status 0, an *exitError
// otherwise.
func (c *child) wait() error {
	io.Copy(io.Discard, c.stdout)
	c.stdout.Close()
	<-c.stderrDone
	err := c.cmd.Wait()
	close(c.exited)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return &exitError{err: ee, stderr: append([]string(nil), c.tail...)}
	}
	if err != nil {
		return fmt.Errorf("wait for journalctl: %w", err)
	}
	return nil
}

// terminate asks journalctl's process group to end (SIGTERM), and kills it
// if it has not exited after grace on clk. It does not wait.
func (c *child) terminate(clk clock.Clock, grace time.Duration) {
	c.signal(syscall.SIGTERM)
	go func() {
		t := clk.NewTimer(grace)
		defer t.Stop()
		select {
		case <-c.exited:
		case <-t.C():
			c.log.Warn("journalctl did not exit after SIGTERM; killing it", "grace", grace)
			c.signal(syscall.SIGKILL)
		}
	}()
}

func (c *child) signal(sig syscall.Signal) {
	select {
	case <-c.exited:
		return // reaped: the pid may belong to another process by now
	default:
	}
	if err := syscall.Kill(-c.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		c.log.Warn("signal journalctl", "signal", sig, "err", err)
	}
}

// exitError is a non-zero exit of journalctl, with its last stderr line.
type exitError struct {
	err    *exec.ExitError
	stderr []string
}

func (e *exitError) Unwrap() error { return e.err }

func (e *exitError) Error() string {
	var b strings.Builder
	if ws, ok := e.err.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		fmt.Fprintf(&b, "journalctl killed by signal %s", ws.Signal())
	} else {
		fmt.Fprintf(&b, "journalctl exited with status %d", e.err.ExitCode())
	}
	if n := len(e.stderr); n > 0 {
		fmt.Fprintf(&b, ": %s", e.stderr[n-1])
	}
	return b.String()
}
