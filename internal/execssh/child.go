package execssh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stderrTailLines is how many of the child's last stderr lines are kept to
// explain its exit.
const stderrTailLines = 5

// Child is one running ssh process. It has a single owner: the goroutine
// started by Start drains stderr line by line into the logger, and only
// after stderr is at EOF calls Wait, so the lines that explain a failure are
// never lost; the result is recorded once and Done is closed.
type Child struct {
	Name   string // how the child appears in our log, e.g. "ssh[loghost]"
	Pid    int
	Stdin  io.WriteCloser
	Stdout io.ReadCloser // nil unless requested

	started time.Time
	log     *slog.Logger
	cmd     *exec.Cmd

	done      chan struct{}
	err       error // set before done is closed
	exited    time.Time
	mu        sync.Mutex
	tail      []string
	stdinOnce sync.Once
	ready     chan struct{}
	marker    string
	stderr    *stderrLog

	connectOnce sync.Once
	connected   atomic.Bool
	onConnected func(took time.Duration)
}

// StartOptions describe a child to start.
type StartOptions struct {
	Argv       []string
	Name       string
	Logger     *slog.Logger
	WantStdout bool
	Env        []string // added to the inherited environment
	// ReadyMarker is the stderr line that closes Ready (see
	// Options.ReadyMarker); it is not logged.
	ReadyMarker string
	// OnConnected, if set, is called once the session says the far side
	// answered (Connected), with the time since the start.
	OnConnected func(took time.Duration)
	// Quiet, if set, tells while stderr lines are to be kept (for
	// StderrTail) but not logged.
	Quiet func() bool
}

// Start starts the child in its own process group, so that a Ctrl-C on our
// terminal reaches us first and we stop the child in order instead of
// having it die under us with data in flight.
func Start(o StartOptions) (*Child, error) {
	if len(o.Argv) == 0 {
		return nil, errors.New("start ssh: empty command line")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cmd := exec.Command(o.Argv[0], o.Argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	// Our own pipe for stdin too: cmd.StdinPipe is closed by Wait, and
	// with it what ssh never read, which a session can count only while
	// it holds the write end (push resends it to the next child). The
	// write end stays open until CloseStdin or Stop.
	inR, stdin, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: stdin pipe: %w", o.Name, err)
	}
	cmd.Stdin = inR
	c := &Child{Name: o.Name, Stdin: stdin, log: log, cmd: cmd, done: make(chan struct{}), ready: make(chan struct{}), marker: o.ReadyMarker,
		stderr: newStderrLog(log, o.Name, o.Quiet), onConnected: o.OnConnected}
	if o.ReadyMarker == "" {
		close(c.ready)
	}
	// Our own pipe for stdout too: cmd.StdoutPipe is closed by Wait,
	// which would lose what ssh wrote just before it exited. The read end
	// stays open until the child is stopped.
	var outW *os.File
	if o.WantStdout {
		var outR *os.File
		if outR, outW, err = os.Pipe(); err != nil {
			inR.Close()
			stdin.Close()
			return nil, fmt.Errorf("start %s: stdout pipe: %w", o.Name, err)
		}
		cmd.Stdout = outW
		c.Stdout = outR
	}
	// Our own pipe for stderr (not StderrPipe): we read it to EOF before
	// calling Wait, which StderrPipe forbids.
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		stdin.Close()
		if outW != nil {
			outW.Close()
			c.Stdout.Close()
		}
		return nil, fmt.Errorf("start %s: stderr pipe: %w", o.Name, err)
	}
	cmd.Stderr = errW
	if err := cmd.Start(); err != nil {
		inR.Close()
		stdin.Close()
		errR.Close()
		errW.Close()
		if outW != nil {
			outW.Close()
			c.Stdout.Close()
		}
		return nil, fmt.Errorf("start %s: %w", o.Name, err)
	}
	inR.Close()
	errW.Close()
	if outW != nil {
		outW.Close()
	}
	c.Pid = cmd.Process.Pid
	c.started = time.Now()
	log.Debug("started", "child", o.Name, "pid", c.Pid)
	go c.own(errR)
	return c, nil
}

func (c *Child) own(stderr *os.File) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 4096), 64*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if c.marker != "" && line == c.marker {
			c.log.Debug(c.Name+": connected", "after", time.Since(c.started).Round(time.Millisecond))
			close(c.ready)
			c.marker = ""
			continue
		}
		c.stderr.line(line)
		c.mu.Lock()
		c.tail = append(c.tail, line)
		if len(c.tail) > stderrTailLines {
			c.tail = c.tail[1:]
		}
		c.mu.Unlock()
	}
	stderr.Close()
	c.stderr.end()
	err := c.cmd.Wait()
	c.exited = time.Now()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = &ExitError{Name: c.Name, Err: ee, Stderr: c.StderrTail()}
		} else {
			err = fmt.Errorf("wait for %s: %w", c.Name, err)
		}
	}
	c.err = err
	close(c.done)
}

// Connected is what the session calls once the far side answered (the
// receiver's hello, serve's start, ssh's ready marker): the connection is
// up. Only the first call counts.
func (c *Child) Connected() {
	c.connectOnce.Do(func() {
		c.connected.Store(true)
		if c.onConnected != nil {
			c.onConnected(time.Since(c.started))
		}
	})
}

// IsConnected reports whether Connected was called.
func (c *Child) IsConnected() bool { return c.connected.Load() }

// Ready is closed once ssh reported that it is connected and
// authenticated (at once when no ReadyMarker was asked for).
func (c *Child) Ready() <-chan struct{} { return c.ready }

// Done is closed once the child has exited and been reaped.
func (c *Child) Done() <-chan struct{} { return c.done }

// AwaitReady waits until ssh is in (true) or has ended without getting in
// (false). A child that got in and ended before the caller looked has both
// Ready and Done closed, and a select would pick either at random; the
// marker is read from stderr before the child is reaped, so Ready being
// closed then means it came first.
func (c *Child) AwaitReady() bool {
	select {
	case <-c.ready:
		return true
	case <-c.done:
		select {
		case <-c.ready:
			return true
		default:
			return false
		}
	}
}

// Err is the child's result once Done is closed: nil for exit status 0,
// an *ExitError otherwise.
func (c *Child) Err() error {
	<-c.done
	return c.err
}

// Uptime is how long the child ran (so far, if still running).
func (c *Child) Uptime() time.Duration {
	select {
	case <-c.done:
		return c.exited.Sub(c.started)
	default:
		return time.Since(c.started)
	}
}

// StderrTail returns the last few lines the child wrote to stderr.
func (c *Child) StderrTail() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.tail...)
}

// CloseStdin closes the child's standard input: the remote command sees EOF,
// writes what it has and exits, and ssh exits after it. Until then, and
// also after the child exited, Stdin stays open: what the child never
// read is still in the pipe, and pipe.Unread can count it.
func (c *Child) CloseStdin() {
	c.stdinOnce.Do(func() { c.Stdin.Close() })
}

// Stop ends the child in order: close stdin so the remote side flushes and
// exits, wait up to grace, then SIGTERM the child's process group, and
// SIGKILL it a second later. It returns once the child is reaped.
func (c *Child) Stop(grace time.Duration) error {
	defer c.closeStdout()
	c.CloseStdin()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err
	case <-t.C:
	}
	c.log.Warn(c.Name+": did not exit after its input was closed; terminating it", "grace", grace)
	c.signalGroup(syscall.SIGTERM)
	t.Reset(time.Second)
	select {
	case <-c.done:
		return c.err
	case <-t.C:
	}
	c.signalGroup(syscall.SIGKILL)
	<-c.done
	return c.err
}

// Kill ends the child's process group at once and reaps it.
func (c *Child) Kill() error {
	defer c.closeStdout()
	c.signalGroup(syscall.SIGKILL)
	<-c.done
	return c.err
}

func (c *Child) closeStdout() {
	if c.Stdout != nil {
		c.Stdout.Close()
	}
}

func (c *Child) signalGroup(sig syscall.Signal) {
	// Negative pid: the whole process group (ssh and a ProxyCommand it
	// may have started).
	if err := syscall.Kill(-c.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		c.log.Warn(c.Name+": signal failed", "signal", sig, "err", err)
	}
}

// ExitError is a non-zero exit of an ssh child, with its status explained.
type ExitError struct {
	Name   string
	Err    *exec.ExitError
	Stderr []string
}

// Code is the exit status, or -1 if the child was killed by a signal.
func (e *ExitError) Code() int { return e.Err.ExitCode() }

// SSHFailed reports exit status 255: ssh's own failure (could not connect,
// authenticate, or the link died) — or, indistinguishably, a remote command
// that itself exited 255.
func (e *ExitError) SSHFailed() bool { return e.Code() == 255 }

func (e *ExitError) Unwrap() error { return e.Err }

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s ", e.Name)
	if ws, ok := e.Err.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		fmt.Fprintf(&b, "killed by signal %s", ws.Signal())
	} else {
		fmt.Fprintf(&b, "exited with status %d", e.Code())
	}
	fmt.Fprintf(&b, " (%s)", ExitReason(e.Err))
	if n := len(e.Stderr); n > 0 {
		last := e.Stderr[n-1]
		// A log line of our far side was logged at its own level as
		// far[host]: its message says why, without the time and level
		// that made the WARN "ssh[...]: time=... level=ERROR ...".
		if l := parseFarLine(last); l.ours {
			last = l.msg
		}
		fmt.Fprintf(&b, ": %s", last)
	}
	return b.String()
}

// ExitReason explains an ssh exit status in plain words.
func ExitReason(ee *exec.ExitError) string {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "ssh was killed; data it had accepted but not sent is lost"
	}
	switch code := ee.ExitCode(); code {
	case 255:
		return "ssh could not connect or authenticate, or the link died"
	case 127:
		return "the remote command was not found on the far side: install its program there at the path the key's forced command names (for sshlogfwd: /usr/local/bin/sshlogfwd unless authorized-key was given --sshlogfwd-path)"
	case 126:
		return "the remote command could not be executed on the far side: the account may not run its program (check its mode and directories)"
	case 1, 2:
		// dash exits 2 and bash 1 when a redirection fails.
		return "the remote command failed: for cat >> FILE the remote file cannot be created or written; for sshlogfwd serve/receive the far side refused the request (its reason is logged above)"
	default:
		return fmt.Sprintf("the remote command failed with status %d", code)
	}
}

// Sleep waits for d or until ctx is done, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
