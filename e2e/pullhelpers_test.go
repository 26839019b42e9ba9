package e2e

// Helpers for the pull and serve tests. Names start with "pl" so that they
// stay apart from the other commands' helpers in this package.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// plGORACE goes into the environment of every sshlogfwd the tests run: a
// binary built with -race otherwise sleeps 1 s before exiting.
const plGORACE = "GORACE=atexit_sleep_ms=0"

// plLineSize is the length of a numbered test line, newline included.
const plLineSize = 48

// plLine returns line i: "P0000042 <letters>\n", plLineSize bytes.
func plLine(i int) []byte {
	b := fmt.Appendf(nil, "P%07d ", i)
	for len(b) < plLineSize-1 {
		b = append(b, byte('a'+(i+len(b))%26))
	}
	return append(b, '\n')
}

// plReport counts what arrived of lines 0..n-1.
type plReport struct {
	Received, Lost, Duplicated, OutOfOrder, Torn, Other int
}

func (r plReport) String() string {
	return fmt.Sprintf("received %d, lost %d, duplicated %d, out of order %d, torn %d, other %d",
		r.Received, r.Lost, r.Duplicated, r.OutOfOrder, r.Torn, r.Other)
}

// exact reports whether every line arrived exactly once and in order.
func (r plReport) exact(n int) bool {
	return r.Received == n && r.Lost == 0 && r.Duplicated == 0 && r.OutOfOrder == 0 && r.Torn == 0 && r.Other == 0
}

func plCheck(data []byte, n int) plReport {
	var r plReport
	seen := make([]bool, n)
	last := -1
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != 'P' {
			r.Other++
			continue
		}
		i, err := strconv.Atoi(string(line[1:min(8, len(line))]))
		if err != nil || i < 0 || i >= n || !bytes.Equal(append(line, '\n'), plLine(i)) {
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
		last = max(last, i)
	}
	for _, s := range seen {
		if !s {
			r.Lost++
		}
	}
	return r
}

// plLab is one sshd whose authorized_keys holds the restricted key pull
// uses, and a directory with the remote log file (the "remote" host is this
// machine).
type plLab struct {
	t    *testing.T
	sshd *testlab.SSHD
	bin  string
	dir  string
	log  string // the followed file
	out  string // pull's --output
}

// newPLLab starts sshd with the key restricted to `sshlogfwd serve LOG`, the
// line our README recommends.
func newPLLab(t *testing.T) *plLab {
	t.Helper()
	l := newPLLabKey(t, nil)
	l.serveKey()
	return l
}

// newPLLabKey starts sshd; keyLine, if not nil, builds the authorized_keys
// line from the client's public key and the lab.
func newPLLabKey(t *testing.T, keyLine func(l *plLab, pub string) string) *plLab {
	t.Helper()
	bin := testlab.Binary(t)
	// A -race binary sleeps 1 s at exit (the race runtime's
	// atexit_sleep_ms), which would hide how fast serve exits. sshd takes
	// only the first SetEnv line, so HOME (an empty one, see testlab's
	// KeepHome) goes on the same line.
	s := testlab.StartSSHD(t, testlab.SSHDOptions{
		KeepHome: true,
		Extra:    []string{"SetEnv HOME=" + t.TempDir() + " " + plGORACE},
	})
	dir := t.TempDir()
	l := &plLab{t: t, sshd: s, bin: bin, dir: dir, log: filepath.Join(dir, "app.log"), out: filepath.Join(dir, "pulled.log")}
	if keyLine != nil {
		s.SetAuthorizedKeys(t, keyLine(l, s.ClientPub))
	}
	return l
}

func (l *plLab) serveKey() {
	l.sshd.SetAuthorizedKeys(l.t, testlab.RestrictedKeyLine(l.sshd.ClientPub, "127.0.0.1", l.bin+" serve "+l.log))
}

// src is pull's SRC argument.
func (l *plLab) src() string { return l.sshd.Alias + ":" + l.log }

// plProc is a running sshlogfwd whose stderr goes to the test log.
type plProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error

	mu     sync.Mutex
	stderr bytes.Buffer
}

// startPL starts the binary with args; the test's cleanup kills it if it
// still runs.
func (l *plLab) start(name string, args ...string) *plProc {
	t := l.t
	t.Helper()
	cmd := exec.Command(l.bin, args...)
	cmd.Env = append(os.Environ(), plGORACE)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := &plProc{cmd: cmd, done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			t.Log(name + ": " + sc.Text())
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		select {
		case <-read:
		case <-time.After(2 * time.Second):
		}
		r.Close()
		<-read
	})
	return p
}

// startPull runs `sshlogfwd pull -F CONFIG --output OUT [args] loghost:LOG`.
func (l *plLab) startPull(args ...string) *plProc {
	l.t.Helper()
	all := append([]string{"pull", "-F", l.sshd.SSHConfig, "--output", l.out, "--backoff-max", "1s"}, args...)
	return l.start("pull", append(all, l.src())...)
}

func (p *plProc) pid() int { return p.cmd.Process.Pid }

func (p *plProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// stop sends sig and waits for the exit; it returns the exit error.
func (p *plProc) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("process %d still running %v after %v", p.pid(), timeout, sig)
		return nil
	}
}

// sshChildren are the ssh processes pull runs.
func (p *plProc) sshChildren() []int { return testlab.ChildPIDs(p.pid(), "ssh") }

// servePIDs finds the `sshlogfwd serve LOG` processes sshd started for this
// lab.
func (l *plLab) servePIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(argv) >= 3 && argv[0] == l.bin && argv[1] == "serve" && argv[len(argv)-1] == l.log {
			pids = append(pids, pid)
		}
	}
	return pids
}

// plWriter appends numbered lines to a file like a logging daemon: through
// one descriptor opened O_APPEND, which it reopens only when asked.
type plWriter struct {
	t    *testing.T
	path string

	mu   sync.Mutex
	f    *os.File
	next int
}

func newPLWriter(t *testing.T, path string) *plWriter {
	w := &plWriter{t: t, path: path}
	w.reopen()
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.f.Close()
	})
	return w
}

// reopen closes the descriptor and opens the name again (creating it), as
// a daemon does after logrotate's signal.
func (w *plWriter) reopen() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Error(err)
		return
	}
	w.f = f
}

// write appends the next n lines in one write.
func (w *plWriter) write(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := make([]byte, 0, n*plLineSize)
	for range n {
		b = append(b, plLine(w.next)...)
		w.next++
	}
	if _, err := w.f.Write(b); err != nil {
		w.t.Error(err)
	}
}

func (w *plWriter) written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// run writes until total lines are written at rate lines per second, in
// batches every 10 ms; during is called after each batch with the number of
// lines written so far. It returns when done or ctx ends.
func (w *plWriter) run(ctx context.Context, total, rate int, during func(written int)) {
	const tick = 10 * time.Millisecond
	start := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	for w.written() < total {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due := min(total, int(time.Since(start).Seconds()*float64(rate)))
		if n := due - w.written(); n > 0 {
			w.write(n)
		}
		if during != nil {
			during(w.written())
		}
	}
}

// waitOutputSize waits until path has exactly size bytes (more fails at
// once: something was written twice).
func waitOutputSize(t *testing.T, path string, size int64, timeout time.Duration, why func() string) {
	t.Helper()
	var got int64
	ok := plPoll(timeout, func() bool {
		fi, err := os.Stat(path)
		if err == nil {
			got = fi.Size()
		}
		return got >= size
	})
	switch {
	case !ok:
		t.Fatalf("after %v: output %s has %d bytes, want %d: %s\n%s", timeout, path, got, size, plCheck(readPL(path), int(size/plLineSize)), why())
	case got > size:
		t.Fatalf("output %s has %d bytes, more than the %d written: %s", path, got, size, plCheck(readPL(path), int(size/plLineSize)))
	}
}

// plPoll is testlab.WaitFor without the failure, for messages that must
// show the state at the deadline.
func plPoll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func readPL(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// every calls f every d until the returned stop is called; stop returns how
// many times f ran.
func every(d time.Duration, f func()) (stop func() int) {
	done := make(chan struct{})
	var n int
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
				n++
			}
		}
	}()
	return func() int {
		close(done)
		<-finished
		return n
	}
}

func killAll(pids []int) int {
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGKILL)
	}
	return len(pids)
}
