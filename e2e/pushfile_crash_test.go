package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// The push --file crash tests: a writer appends numbered lines to the
// followed file, push is killed -9 at random moments and started again at
// once with the same flags, and the followed file is rotated (rename +
// create) twice meanwhile.

const (
	crashLineSize = 124  // bytes per numbered line, newline included
	crashRate     = 2000 // lines per second
	crashKills    = 32
	crashRotateAt = crashKills / 3 // and 2*crashRotateAt
)

// crashLines are the numbered lines the crash tests write.
var crashLines = testlab.Numbered(crashLineSize)

// TestPushFileReliableKilled: push --reliable --file killed -9 at random
// moments: every line exactly once, in order, untorn.
func TestPushFileReliableKilled(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	r, n := runFileKills(t, l.SSHD, l.Dir, l.Remote, "--reliable", "--ack-timeout", "10s", "--mark", "0")
	t.Logf("push --reliable --file killed -9 %d times, file rotated twice: %d lines; %s", crashKills, n, r)
	exactlyOnce(t, r, n)
}

// TestPushFileReliableKilledMark: the same with a mark line every second,
// which must never shift the file's bytes against the stream's offsets.
func TestPushFileReliableKilledMark(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	r, n := runFileKills(t, l.SSHD, l.Dir, l.Remote, "--reliable", "--ack-timeout", "10s", "--mark", "1s")
	t.Logf("push --reliable --file --mark 1s killed -9 %d times, file rotated twice: %d lines; %s", crashKills, n, r)
	marks := 0
	for _, o := range r.Other {
		if !strings.HasSuffix(o, "sshlogfwd: -- MARK --") {
			t.Errorf("unexpected line on the log host: %q", o)
		}
		marks++
	}
	if marks == 0 {
		t.Errorf("no mark line arrived")
	}
	r.Other = nil
	exactlyOnce(t, r, n)
}

// TestPushFileCompatKilled: push --file into `cat >>` killed -9 at random
// moments. Killing push does not kill its ssh (own process group): that ssh
// gets the end of its input and delivers what it was given. So no line may
// be read twice from the file, nor skipped.
func TestPushFileCompatKilled(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	r, n := runFileKills(t, l.SSHD, l.Dir, l.Remote, "--mark", "0")
	t.Logf("push --file (cat >>) killed -9 %d times, file rotated twice: %d lines; %s", crashKills, n, r)
	if r.Lost != 0 || r.Duplicated != 0 || len(r.Other) != 0 {
		t.Errorf("want no line lost or duplicated: %s; other lines: %q", r, first(r.Other, 5))
	}
}

// runFileKills follows a file written at crashRate with push (flags, then
// --file, --from start, the spool and the destination), kills push -9
// crashKills times at random intervals of 0.5-1.5 s, starting it again at
// once, rotates the file twice, then waits for every line on the log host
// and stops the last push. It returns what arrived and how many lines were
// written.
func runFileKills(t *testing.T, sshd *testlab.SSHD, dir, remote string, flags ...string) (testlab.Report, int) {
	t.Helper()
	src := filepath.Join(dir, "app.log")
	args := append(flags, "--file", src, "--from", "start", "--spool", filepath.Join(dir, "spool"), sshd.Alias+":"+remote)
	w := startFileWriter(t, src, crashRate)
	ps := &crashPushes{t: t, sshd: sshd, log: filepath.Join(dir, "push.log"), args: args}
	t.Cleanup(ps.cleanup)
	p := ps.start()
	for i := range crashKills {
		time.Sleep(500*time.Millisecond + rand.N(time.Second))
		if i == crashRotateAt || i == 2*crashRotateAt {
			w.rotate(t)
		}
		ps.kill(p)
		p = ps.start()
	}
	n := w.stop(t)
	if got := ps.kills.Load(); got != crashKills {
		t.Fatalf("%d kills confirmed by push's exit status, want %d", got, crashKills)
	}
	if w.rotations != 2 {
		t.Fatalf("%d rotations, want 2", w.rotations)
	}
	if _, ok := crashLines.WaitQuiet(func() []byte { return readFile(remote) }, n-1, 500*time.Millisecond, 90*time.Second); !ok { // quiet < the 1 s between marks
		r := crashLines.Check(readFile(remote), n)
		t.Fatalf("after 90 s the log host does not have the last of %d lines: %s; missing %s", n, r, r.Gaps(20))
	}
	ps.stop(p)
	r := crashLines.Check(readFile(remote), n)
	if r.Lost > 0 {
		t.Errorf("missing lines: %s", r.Gaps(20))
	}
	return r, n
}

// crashPushes starts and kills the push processes of one test.
type crashPushes struct {
	t     *testing.T
	sshd  *testlab.SSHD
	log   string
	args  []string
	kills atomic.Int64 // confirmed by the exit status

	mu   sync.Mutex
	live []*exec.Cmd
}

type crashPush struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (ps *crashPushes) start() *crashPush {
	ps.t.Helper()
	full := append([]string{"push", "--log", ps.log, "--log-level", "debug", "-F", ps.sshd.SSHConfig, "--backoff-max", "1s"}, ps.args...)
	cmd := exec.Command(testlab.Binary(ps.t), full...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		ps.t.Fatalf("start push: %v", err)
	}
	p := &crashPush{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	ps.mu.Lock()
	ps.live = append(ps.live, cmd)
	ps.mu.Unlock()
	return p
}

// signal sends sig to p and waits for its exit.
func (ps *crashPushes) signal(p *crashPush, sig syscall.Signal, timeout time.Duration) {
	ps.t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		ps.t.Fatalf("push did not exit within %v of %v", timeout, sig)
	}
}

// kill sends SIGKILL and counts the kill once the exit status shows it.
func (ps *crashPushes) kill(p *crashPush) {
	ps.t.Helper()
	ps.signal(p, syscall.SIGKILL, 10*time.Second)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			ps.kills.Add(1)
			return
		}
	}
	ps.t.Errorf("push ended by itself before the kill: %v", p.err)
}

// stop ends the last push with SIGTERM, so that nothing arrives after the
// check.
func (ps *crashPushes) stop(p *crashPush) {
	ps.t.Helper()
	ps.signal(p, syscall.SIGTERM, 30*time.Second)
}

func (ps *crashPushes) cleanup() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, c := range ps.live {
		c.Process.Kill()
	}
	if ps.t.Failed() {
		log := readFile(ps.log)
		ps.t.Logf("push log %s (%d restarts logged 'resuming file'):\n%s", ps.log, strings.Count(string(log), "resuming file"), tail(log, 80))
	}
}

// fileWriter appends numbered lines to a log file at a fixed rate, a few
// lines per write, and rotates it the way logrotate does by default.
type fileWriter struct {
	path      string
	mu        sync.Mutex // held while writing and rotating
	f         *os.File
	rotations int
	written   atomic.Int64
	err       error // why it ended early
	stopc     chan struct{}
	done      chan struct{}
}

func startFileWriter(t *testing.T, path string, rate int) *fileWriter {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := &fileWriter{path: path, f: f, stopc: make(chan struct{}), done: make(chan struct{})}
	go w.run(rate)
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *fileWriter) run(rate int) {
	defer close(w.done)
	start := time.Now()
	next := 0
	var buf []byte
	for {
		select {
		case <-w.stopc:
			return
		case <-time.After(2 * time.Millisecond):
		}
		due := int(time.Since(start).Seconds() * float64(rate))
		buf = buf[:0]
		for i := next; i < due; i++ {
			buf = crashLines.Append(buf, i)
		}
		w.mu.Lock()
		_, err := w.f.Write(buf)
		w.mu.Unlock()
		if err != nil {
			w.err = fmt.Errorf("append to %s: %w", w.path, err)
			return
		}
		next = due
		w.written.Store(int64(next))
	}
}

// rotate renames path.1 to path.2 and path to path.1, and creates path
// anew; the writer goes on in the new file.
func (w *fileWriter) rotate(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.f.Close(); err != nil {
		t.Fatal(err)
	}
	if w.rotations > 0 {
		if err := os.Rename(w.path+".1", w.path+".2"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w.f = f
	w.rotations++
}

// stop ends the writer and returns how many lines it wrote.
func (w *fileWriter) stop(t *testing.T) int {
	t.Helper()
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
	if w.err != nil {
		t.Fatalf("the test's file writer failed after %d lines: %v", w.written.Load(), w.err)
	}
	w.mu.Lock()
	w.f.Close()
	w.mu.Unlock()
	return int(w.written.Load())
}
