package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// quietAfterLast is how long the received data must have stopped growing
// after its last line before a test checks it: a late duplicate or a
// second notice would arrive within it.
const quietAfterLast = time.Second

// waitLines waits until read's data holds line n-1 of ln and has then
// stopped growing for quietAfterLast, and returns the data and what it
// holds of lines 0..n-1. It fails the test when the last line has not
// arrived within timeout.
func waitLines(t *testing.T, ln testlab.Lines, read func() []byte, n int, timeout time.Duration) ([]byte, testlab.Report) {
	t.Helper()
	data, ok := ln.WaitQuiet(read, n-1, quietAfterLast, timeout+quietAfterLast)
	r := ln.Check(data, n)
	if !ok {
		t.Fatalf("after %v: the last line %d did not arrive, or the data did not stop growing: %s; missing %s", timeout, n-1, r, r.Gaps(8))
	}
	return data, r
}

// logFile is a file a process writes its log into, readable while it runs.
func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// pushProc is a running `sshlogfwd push`.
type pushProc struct {
	cmd  *exec.Cmd
	Log  string // path of its --log file
	done chan struct{}
	err  error
}

// startPush runs the real binary with the lab's ssh config.
func startPush(t *testing.T, sshd *testlab.SSHD, logPath string, args ...string) *pushProc {
	t.Helper()
	return startPushEnv(t, sshd.SSHConfig, logPath, nil, args...)
}

// startPushConfig runs the real binary with the ssh config at sshConfig.
func startPushConfig(t *testing.T, sshConfig, logPath string, args ...string) *pushProc {
	t.Helper()
	return startPushEnv(t, sshConfig, logPath, nil, args...)
}

// startPushEnv runs the real binary with the ssh config at sshConfig and
// env added to the environment.
func startPushEnv(t *testing.T, sshConfig, logPath string, env []string, args ...string) *pushProc {
	t.Helper()
	cmd := exec.Command(testlab.Binary(t), pushArgsConfig(sshConfig, logPath, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	return runPush(t, cmd, logPath)
}

// pushArgs is push's command line with the lab's ssh config, logging to
// logPath, followed by args.
func pushArgs(sshd *testlab.SSHD, logPath string, args ...string) []string {
	return pushArgsConfig(sshd.SSHConfig, logPath, args...)
}

func pushArgsConfig(sshConfig, logPath string, args ...string) []string {
	return append([]string{"push", "--log", logPath, "--log-level", "debug", "-F", sshConfig, "--backoff-max", "1s"}, args...)
}

// runPush starts cmd, a push logging to logPath; the test's end kills it.
func runPush(t *testing.T, cmd *exec.Cmd, logPath string) *pushProc {
	t.Helper()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start push: %v", err)
	}
	p := &pushProc{cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("push log %s:\n%s", logPath, tail(readFile(logPath), 60))
		}
	})
	return p
}

func (p *pushProc) Pid() int { return p.cmd.Process.Pid }

// fifoOf is the --fifo path p was started with.
func fifoOf(p *pushProc) string {
	args := p.cmd.Args
	for i, a := range args[:len(args)-1] {
		if a == "--fifo" {
			return args[i+1]
		}
	}
	return ""
}

// Stop sends SIGTERM and waits for the exit status.
func (p *pushProc) Stop(t *testing.T, timeout time.Duration) error {
	t.Helper()
	// A signal before the handler is installed would kill it outright;
	// it logs its first line after that.
	testlab.WaitFor(t, 10*time.Second, func() bool { return len(readFile(p.Log)) > 0 }, "push to start")
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("push did not exit within %v of SIGTERM", timeout)
		return nil
	}
}

// sshChild returns the pid of push's current ssh child, or 0.
func (p *pushProc) sshChild() int {
	if pids := testlab.ChildPIDs(p.Pid(), "ssh"); len(pids) > 0 {
		return pids[0]
	}
	return 0
}

func tail(b []byte, lines int) string {
	i := len(b)
	for n := 0; n < lines && i > 0; n++ {
		i = bytes.LastIndexByte(b[:i], '\n')
		if i < 0 {
			i = 0
		}
	}
	return string(b[i:])
}

// startFIFOWriter writes lines 0..n-1 of size bytes into the FIFO at rate
// lines/s (0: as fast as it takes them, with blocking writes). With
// nonBlocking it writes the way rsyslog's ompipe does: O_WRONLY|O_NONBLOCK,
// and a write that finds the pipe full is a dropped line (rsyslog would
// discard it), counted, never retried.
func startFIFOWriter(t *testing.T, path string, n, size, rate int, nonBlocking bool) *testlab.Writer {
	t.Helper()
	mode := testlab.Block
	if nonBlocking {
		mode = testlab.Drop
	}
	w := testlab.OpenWriter(t, path, os.O_WRONLY, 0, testlab.Numbered(size), testlab.WriterOptions{Mode: mode, Tick: time.Millisecond})
	w.Start(t, n, rate, nil)
	return w
}

// waitFileSize waits until path holds at least size bytes.
func waitFileSize(t *testing.T, path string, size int64, timeout time.Duration) {
	t.Helper()
	testlab.WaitFor(t, timeout, func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() >= size
	}, "%s to reach %d bytes", path, size)
}

// pushLab is an sshd whose key may only append to one remote file, and the
// local paths a push needs.
type pushLab struct {
	SSHD              *testlab.SSHD
	Dir, Remote, FIFO string
	Spool, Log        string
}

func newPushLab(t *testing.T, remoteName string) *pushLab {
	t.Helper()
	testlab.RequireBinary(t, "/usr/sbin/sshd")
	testlab.RequireBinary(t, "/usr/bin/ssh")
	dir := t.TempDir()
	l := &pushLab{Dir: dir, Remote: filepath.Join(dir, remoteName), FIFO: filepath.Join(dir, "log.fifo"), Spool: filepath.Join(dir, "spool"), Log: filepath.Join(dir, "push.log")}
	l.SSHD = testlab.StartSSHD(t, testlab.SSHDOptions{})
	// The restricted line exactly as the README tells users.
	l.SSHD.SetAuthorizedKeys(t, testlab.RestrictedKeyLine(l.SSHD.ClientPub, "127.0.0.1", "cat >> "+shellQuote(l.Remote)))
	return l
}

func shellQuote(s string) string {
	return "'" + string(bytes.ReplaceAll([]byte(s), []byte("'"), []byte(`'\''`))) + "'"
}
