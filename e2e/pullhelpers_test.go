package e2e

// Helpers for the pull and serve tests. Names start with "pl" so that they
// stay apart from the other commands' helpers in this package.

import (
	"bufio"
	"bytes"
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

// plLines is the pull tests' numbered stream.
var plLines = testlab.Numbered(plLineSize)

// plLab is one sshd whose authorized_keys holds the restricted key pull
// uses, and a directory with the remote log file (the "remote" host is this
// machine).
type plLab struct {
	t    *testing.T
	sshd *testlab.SSHD
	bin  string
	dir  string
	log  string   // the followed file
	out  string   // pull's --output
	env  []string // added to the environment of what start runs
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
	cmd.Env = append(append(os.Environ(), plGORACE), l.env...)
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

// newPLWriter appends numbered lines to path like a logging daemon:
// through one descriptor opened O_APPEND, which it reopens only when asked
// (Reopen); it writes the lines that fell due every 10 ms in one write.
func newPLWriter(t *testing.T, path string) *testlab.Writer {
	return testlab.OpenWriter(t, path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644, plLines, testlab.WriterOptions{Tick: 10 * time.Millisecond})
}

// waitOutputSize waits until path has exactly size bytes (more fails at
// once: something was written twice).
func waitOutputSize(t *testing.T, path string, size int64, timeout time.Duration, why func() string) {
	t.Helper()
	var got int64
	ok := testlab.Poll(timeout, func() bool {
		fi, err := os.Stat(path)
		if err == nil {
			got = fi.Size()
		}
		return got >= size
	})
	switch {
	case !ok:
		t.Fatalf("after %v: output %s has %d bytes, want %d: %s\n%s", timeout, path, got, size, plLines.Check(readFile(path), int(size/plLineSize)), why())
	case got > size:
		t.Fatalf("output %s has %d bytes, more than the %d written: %s", path, got, size, plLines.Check(readFile(path), int(size/plLineSize)))
	}
}

// waitPulled waits until the output holds all n lines written, as
// waitOutputSize, and then until it has stopped growing for quietAfterLast:
// a late duplicate fails too. It returns what the output holds.
func waitPulled(t *testing.T, path string, n int, timeout time.Duration, why func() string) testlab.Report {
	t.Helper()
	waitOutputSize(t, path, int64(n)*plLineSize, timeout, why)
	data, ok := plLines.WaitQuiet(func() []byte { return readFile(path) }, n-1, quietAfterLast, timeout)
	r := plLines.Check(data, n)
	switch {
	case !ok:
		t.Fatalf("after %v the output %s did not stop growing: %s\n%s", timeout, path, r, why())
	case len(data) != n*plLineSize:
		t.Fatalf("output %s has %d bytes after settling, not the %d written: %s", path, len(data), n*plLineSize, r)
	}
	return r
}
