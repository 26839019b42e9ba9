package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// lab is the one sshd every measurement of a run shares, the binary under
// test and a scratch directory.
type lab struct {
	tb   testing.TB
	sshd *testlab.SSHD
	bin  string
	dir  string
	seq  atomic.Int64
	has  Binary
	// reliableRemote are the push flags that make the far side run our
	// receive (the binary is not on sshd's PATH).
	reliableRemote func(remote string) []string
	// watch, if set, is called as a measured transfer begins, with the
	// sshlogfwd under test, and what it returns when the transfer is over
	// (BenchmarkPipes: wake-ups and system calls of each process).
	watch func(p *proc) (done func())
}

// sshdExtra raises the connection limits for the scale runs (sshd takes
// the first value of a keyword, and testlab writes these before its own)
// and keeps sshd's per-connection log short.
var sshdExtra = []string{"MaxStartups 1000", "MaxSessions 10", "LogLevel INFO"}

func newLab(tb testing.TB) *lab {
	tb.Helper()
	l := &lab{tb: tb, bin: *flagBin, dir: tb.TempDir()}
	if l.bin == "" {
		l.bin = testlab.Binary(tb)
	}
	l.sshd = testlab.StartSSHD(tb, testlab.SSHDOptions{Extra: sshdExtra})
	// restrict without command=: the client chooses the command (cat >>,
	// tail, serve, receive), as every mode needs its own.
	l.sshd.SetAuthorizedKeys(tb, "restrict "+l.sshd.ClientPub)
	l.detect()
	return l
}

// detect asks the binary which commands it has: other parts of the program
// may still be in progress when the harness runs.
func (l *lab) detect() {
	help := func(args ...string) (string, bool) {
		out, err := exec.Command(l.bin, args...).CombinedOutput()
		return string(out), err == nil
	}
	if out, ok := help("pull", "--help"); ok {
		l.has.Pull = true
		l.has.PullCompat = strings.Contains(out, "--compat")
	}
	if out, ok := help("push", "--help"); ok && strings.Contains(out, "--reliable") {
		l.has.PushReliable = true
		if strings.Contains(out, "--remote-sshlogfwd") {
			l.reliableRemote = func(string) []string { return []string{"--remote-sshlogfwd", l.bin} }
		} else {
			l.reliableRemote = func(remote string) []string {
				return []string{"--remote-command", l.bin + " receive " + shellQuote(remote)}
			}
		}
	}
}

// path returns a fresh path in the scratch directory.
func (l *lab) path(format string, args ...any) string {
	return filepath.Join(l.dir, fmt.Sprintf("%03d-", l.seq.Add(1))+fmt.Sprintf(format, args...))
}

// sshArgs is a bare ssh to the lab's sshd running remote.
func (l *lab) sshArgs(compress bool, extra []string, remote string) []string {
	args := []string{"-F", l.sshd.SSHConfig, "-T"}
	if compress {
		args = append(args, "-C")
	}
	args = append(args, extra...)
	return append(args, "--", l.sshd.Alias, remote)
}

// proc is a running sshlogfwd.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start runs the binary with args against the lab's sshd; its log (and
// stderr) go to a file.
func (l *lab) start(args ...string) *proc {
	l.tb.Helper()
	return l.startConfig(l.sshd.SSHConfig, args...)
}

// startConfig is start with another ssh_config.
func (l *lab) startConfig(sshConfig string, args ...string) *proc {
	l.tb.Helper()
	logPath := l.path("%s.log", args[0])
	lf, err := os.Create(logPath)
	if err != nil {
		l.tb.Fatal(err)
	}
	defer lf.Close()
	full := []string{args[0], "--log", logPath, "--log-level", "debug", "-F", sshConfig}
	if *flagProfile != "" {
		// Profiles of the binary (its hidden --cpuprofile and --memprofile,
		// cmd/sshlogfwd/profile.go), one pair per process, named like its log.
		base := filepath.Join(*flagProfile, strings.TrimSuffix(filepath.Base(logPath), ".log"))
		full = append(full, "--cpuprofile", base+".cpu.prof", "--memprofile", base+".mem.prof")
	}
	full = append(full, args[1:]...)
	cmd := exec.Command(l.bin, full...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		l.tb.Fatalf("start sshlogfwd %s: %v", args[0], err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	l.tb.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits; a process that outstays timeout is killed.
func (p *proc) stop(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("sshlogfwd (pid %d) did not exit within %v of SIGTERM", p.pid(), timeout)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the process's log, to explain a failure.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// sshChild is the pid of the process's ssh, or 0.
func (p *proc) sshChild() int {
	if pids := testlab.ChildPIDs(p.pid(), "ssh"); len(pids) > 0 {
		return pids[0]
	}
	return 0
}

// cpu returns the CPU time used by the process (and, separately, by its ssh
// child) so far; zero for what cannot be read.
func (p *proc) cpu() (self, ssh time.Duration) {
	self, _ = testlab.ProcessCPU(p.pid())
	if c := p.sshChild(); c > 0 {
		ssh, _ = testlab.ProcessCPU(c)
	}
	return self, ssh
}

func (p *proc) hwm() int64 {
	_, hwm, _ := testlab.ProcessRSS(p.pid())
	return hwm
}

func (p *proc) rss() int64 {
	rss, _, _ := testlab.ProcessRSS(p.pid())
	return rss
}

// waitFile waits until path exists: the remote cat (or receive) created it,
// so the connection is up and the command runs.
func waitFile(path string, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("sshlogfwd exited before %s appeared: %v\n%s", path, p.err, p.tail())
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s did not appear within %v", path, timeout)
			if p != nil {
				msg += "\n" + p.tail()
			}
			return errors.New(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openFIFO opens a FIFO push holds open for writing, blocking writes (on
// Go's poller) like a syslog daemon that waits.
func openFIFO(path string, timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			return f, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("open fifo %s: %w", path, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
