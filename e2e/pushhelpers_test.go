package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// numbered returns line i of a test stream: "L00000042 <pad>\n", size bytes
// long including the newline (at least 11).
func numbered(i, size int) []byte {
	b := fmt.Appendf(nil, "L%08d ", i)
	for len(b) < size-1 {
		b = append(b, byte('a'+len(b)%26))
	}
	return append(b, '\n')
}

// lineReport counts what arrived of the lines 0..n-1.
type lineReport struct {
	Received, Lost, Duplicated, OutOfOrder, Torn int
	Other                                        []string // lines that are not ours (marks, notices)
}

func (r lineReport) String() string {
	return fmt.Sprintf("received %d, lost %d, duplicated %d, out of order %d, torn %d, other %d",
		r.Received, r.Lost, r.Duplicated, r.OutOfOrder, r.Torn, len(r.Other))
}

func checkLines(data []byte, n, size int) lineReport {
	var r lineReport
	seen := make([]bool, n)
	last := -1
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != 'L' {
			r.Other = append(r.Other, string(line))
			continue
		}
		i, err := strconv.Atoi(string(line[1:min(9, len(line))]))
		if err != nil || i < 0 || i >= n || !bytes.Equal(append(line, '\n'), numbered(i, size)) {
			r.Torn++
			continue
		}
		r.Received++
		if seen[i] {
			r.Duplicated++
		}
		seen[i] = true
		if i < last {
			r.OutOfOrder++
		}
		last = i
	}
	for _, s := range seen {
		if !s {
			r.Lost++
		}
	}
	return r
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
	bin := testlab.Binary(t)
	full := append([]string{"push", "--log", logPath, "--log-level", "debug", "-F", sshd.SSHConfig, "--backoff-max", "1s"}, args...)
	cmd := exec.Command(bin, full...)
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

// fifoWriter writes numbered lines into a FIFO the way rsyslog's ompipe
// does: O_WRONLY|O_NONBLOCK, and a write that finds the pipe full is a
// dropped line (rsyslog would discard it), counted, never retried.
type fifoWriter struct {
	Written, Dropped atomic.Int64
	stop             chan struct{}
	done             chan struct{}
}

// writeFIFO writes lines 0..n-1 at rate lines/s (0 = as fast as possible,
// blocking writes) and returns when all are written.
func startFIFOWriter(t *testing.T, path string, n, size, rate int, nonBlocking bool) *fifoWriter {
	t.Helper()
	flags := os.O_WRONLY
	if nonBlocking {
		flags |= syscall.O_NONBLOCK
	}
	var f *os.File
	testlab.WaitFor(t, 10*time.Second, func() bool {
		var err error
		f, err = os.OpenFile(path, flags, 0)
		return err == nil
	}, "open fifo %s for writing", path)
	w := &fifoWriter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer f.Close()
		start := time.Now()
		var batch []byte
		for i := 0; i < n; {
			if rate > 0 {
				// Pace: write what is due, then wait a little.
				due := int(time.Since(start).Seconds() * float64(rate))
				if due <= i {
					select {
					case <-w.stop:
						return
					case <-time.After(time.Millisecond):
					}
					continue
				}
				for ; i < min(due, n); i++ {
					w.write(f, numbered(i, size), nonBlocking)
				}
				continue
			}
			batch = batch[:0]
			for j := 0; j < 64 && i < n; j, i = j+1, i+1 {
				batch = append(batch, numbered(i, size)...)
			}
			w.write(f, batch, false)
		}
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			close(w.stop)
			<-w.done
		}
	})
	return w
}

func (w *fifoWriter) write(f *os.File, b []byte, nonBlocking bool) {
	// Raw syscall for the non-blocking case: os.File would park on the
	// poller instead of reporting EAGAIN the way ompipe sees it.
	if nonBlocking {
		rc, _ := f.SyscallConn()
		var werr error
		rc.Write(func(fd uintptr) bool {
			_, werr = syscall.Write(int(fd), b)
			return true
		})
		if errors.Is(werr, syscall.EAGAIN) {
			w.Dropped.Add(1)
			return
		}
		w.Written.Add(1)
		return
	}
	f.Write(b)
	w.Written.Add(int64(bytes.Count(b, []byte{'\n'})))
}

func (w *fifoWriter) Wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(timeout):
		t.Fatalf("writer did not finish within %v", timeout)
	}
}

// waitFileSize waits until path holds at least size bytes.
func waitFileSize(t *testing.T, path string, size int64, timeout time.Duration) {
	t.Helper()
	testlab.WaitFor(t, timeout, func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() >= size
	}, "%s to reach %d bytes", path, size)
}

// killer kills pids found by find every interval until stopped, counting
// the kills.
type killer struct {
	mu    sync.Mutex
	kills int
	stop  chan struct{}
	done  chan struct{}
}

func startKiller(find func() int, every func() time.Duration) *killer {
	k := &killer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for {
			select {
			case <-k.stop:
				return
			case <-time.After(every()):
			}
			if pid := find(); pid > 0 && syscall.Kill(pid, syscall.SIGKILL) == nil {
				k.mu.Lock()
				k.kills++
				k.mu.Unlock()
			}
		}
	}()
	return k
}

func (k *killer) Stop() int {
	close(k.stop)
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kills
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
