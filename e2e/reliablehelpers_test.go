package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// relLineSize is the size of every numbered line in the reliable tests.
const relLineSize = 100

// relLines is the reliable tests' numbered stream.
var relLines = testlab.Numbered(relLineSize)

// relLab is a log host whose key may only run `sshlogfwd receive` on one
// file, and the local paths a reliable push needs.
type relLab struct {
	SSHD                   *testlab.SSHD
	Bin                    string
	Dir, Remote, FIFO, Log string
	Spool                  string
}

// relLabOptions vary newRelLab.
type relLabOptions struct {
	SSHD    testlab.SSHDOptions
	From    string // from= of the key; default 127.0.0.1
	MaxSize string // receive --max-size, if set
}

func newRelLab(t *testing.T, o relLabOptions) *relLab {
	t.Helper()
	testlab.RequireBinary(t, "/usr/sbin/sshd")
	testlab.RequireBinary(t, "/usr/bin/ssh")
	dir := t.TempDir()
	l := &relLab{
		Bin:    testlab.Binary(t),
		Dir:    dir,
		Remote: filepath.Join(dir, "remote", "host.log"),
		FIFO:   filepath.Join(dir, "log.fifo"),
		Spool:  filepath.Join(dir, "spool"),
		Log:    filepath.Join(dir, "push.log"),
	}
	if err := os.Mkdir(filepath.Dir(l.Remote), 0o755); err != nil {
		t.Fatal(err)
	}
	l.SSHD = testlab.StartSSHD(t, o.SSHD)
	if o.From == "" {
		o.From = "127.0.0.1"
	}
	l.setKey(t, o.From, o.MaxSize)
	return l
}

// setKey writes the restricted key line as the README recommends it.
func (l *relLab) setKey(t *testing.T, from, maxSize string) {
	t.Helper()
	cmd := l.Bin + " receive"
	if maxSize != "" {
		cmd += " --max-size " + maxSize
	}
	cmd += " " + shellQuote(l.Remote)
	l.SSHD.SetAuthorizedKeys(t, testlab.RestrictedKeyLine(l.SSHD.ClientPub, from, cmd))
}

func (l *relLab) dest() string { return l.SSHD.Alias + ":" + l.Remote }

// push starts `push --reliable --fifo` into the lab (more DESTs and flags
// may follow in args).
func (l *relLab) push(t *testing.T, args ...string) *pushProc {
	t.Helper()
	full := append([]string{"--reliable", "--fifo", l.FIFO, "--spool", l.Spool, "--ack-timeout", "10s"}, args...)
	if !hasDest(args) {
		full = append(full, l.dest())
	}
	return startPush(t, l.SSHD, l.Log, full...)
}

func hasDest(args []string) bool {
	for _, a := range args {
		if strings.Contains(a, ":/") {
			return true
		}
	}
	return false
}

// startRelWriter writes numbered lines into a FIFO the way rsyslog does
// with action.resumeRetryCount="-1", at rate lines/s until limit lines
// (0: until Stop): it holds the FIFO open O_RDWR|O_NONBLOCK (so it never
// sees "no reader", and what it wrote survives while push restarts),
// writes whole lines in atomic chunks of at most PIPE_BUF, and retries a
// chunk that finds the pipe full instead of dropping it. So every line it
// counts as written is in the FIFO: whatever does not reach the log host
// was lost by us.
func startRelWriter(t *testing.T, fifo string, rate, limit int) *testlab.Writer {
	t.Helper()
	w := testlab.OpenWriter(t, fifo, os.O_RDWR, 0, relLines, testlab.WriterOptions{Mode: testlab.Retry})
	w.Start(t, limit, rate, nil)
	return w
}

// waitAll waits until read() holds the last of n lines and has then
// stopped growing (waitLines), and checks it: lost lines are reported
// with their ranges.
func waitAll(t *testing.T, read func() []byte, n int, timeout time.Duration) testlab.Report {
	t.Helper()
	_, r := waitLines(t, relLines, read, n, timeout)
	if r.Lost > 0 {
		t.Errorf("missing lines: %s", r.Gaps(8))
	}
	return r
}

// exactlyOnce fails the test unless r is n lines, each exactly once, in
// order and whole, with nothing else in between.
func exactlyOnce(t *testing.T, r testlab.Report, n int) {
	t.Helper()
	if !r.Exact(n) {
		t.Errorf("want %d lines exactly once, in order, none torn: %s; other lines: %q", n, r, first(r.Other, 5))
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// receivers returns the pids of running `sshlogfwd receive` processes for
// path.
func receivers(path string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "sshlogfwd" && args[1] == "receive" && args[len(args)-2] == path {
			pids = append(pids, pid)
		}
	}
	return pids
}

// outage lets a fault (or a measured idle time) last d. It is the one
// sleep of the end-to-end tests: how long the fault lasts is what they
// inject, not a guess at how long something takes.
func outage(d time.Duration) { time.Sleep(d) }

// waitGrowth waits until the file at path has grown by n bytes from now:
// the stream flows again, or has flowed for a while.
func waitGrowth(t *testing.T, path string, n int64, timeout time.Duration) {
	t.Helper()
	var start int64
	if fi, err := os.Stat(path); err == nil {
		start = fi.Size()
	}
	waitFileSize(t, path, start+n, timeout)
}

// spoolTail is the stream offset after the last byte in the spool
// directory's segment files (named by the offset they start at), or -1.
func spoolTail(dir string) int64 {
	tail := int64(-1)
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, name := range names {
		start, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(name), ".seg"), 10, 64)
		fi, serr := os.Stat(name)
		if err == nil && serr == nil {
			tail = max(tail, start+fi.Size())
		}
	}
	return tail
}

// ip runs /usr/sbin/ip and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("/usr/sbin/ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// vethSeq numbers veth pairs within this test process.
var vethSeq atomic.Int64

// netnsLink puts a network namespace behind a veth pair with a /30 of
// 10.213.0.0/16 (chosen by pid, so that concurrent test processes do not
// collide) and returns the namespace, both addresses and a function that
// takes the link down or up from inside the namespace: packets then vanish
// silently, nothing is refused or reset.
func netnsLink(t *testing.T) (ns, nearAddr, farAddr string, setUp func(up bool)) {
	t.Helper()
	testlab.RequireBinary(t, "/usr/sbin/ip")
	ns = testlab.CreateNetNS(t) // fails the test under CI=true when not permitted
	seq := vethSeq.Add(1)
	pid := os.Getpid()
	near, far := fmt.Sprintf("slr%d%da", pid%100000, seq), fmt.Sprintf("slr%d%db", pid%100000, seq)
	third, fourth := pid%250, int(seq%60)*4
	nearAddr = fmt.Sprintf("10.213.%d.%d", third, fourth+1)
	farAddr = fmt.Sprintf("10.213.%d.%d", third, fourth+2)
	ip(t, "link", "add", near, "type", "veth", "peer", "name", far, "netns", ns)
	t.Cleanup(func() { exec.Command("/usr/sbin/ip", "link", "del", near).Run() })
	ip(t, "addr", "add", nearAddr+"/30", "dev", near)
	ip(t, "link", "set", near, "up")
	ip(t, "-n", ns, "addr", "add", farAddr+"/30", "dev", far)
	ip(t, "-n", ns, "link", "set", far, "up")
	var mu sync.Mutex
	return ns, nearAddr, farAddr, func(up bool) {
		mu.Lock()
		defer mu.Unlock()
		state := "down"
		if up {
			state = "up"
		}
		ip(t, "-n", ns, "link", "set", far, state)
	}
}

// rotatedConcat reads the rotated files path.1 … path.N (oldest first, as
// rotate names them) and then path.
func rotatedConcat(path string, n int) []byte {
	var b []byte
	for i := 1; i <= n; i++ {
		b = append(b, readFile(fmt.Sprintf("%s.%d", path, i))...)
	}
	return append(b, readFile(path)...)
}

// relBuf is a bytes.Buffer safe for a child's output and a polling test.
type relBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *relBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *relBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// countLog counts the log lines containing substr, leaving out the lines
// that only quote a child's last stderr line when it ended.
// noNestedFarLines fails the test for a line of log that carries one of
// the far side's log lines whole, with its own time and level inside
// (issue 13: `level=WARN msg="ssh[...]: time=... level=INFO msg=\"stream
// starts\"..."`): those are logged once, at their own level, as far[host].
func noNestedFarLines(t *testing.T, log string) {
	t.Helper()
	for l := range strings.Lines(log) {
		if strings.Count(l, "level=") > 1 {
			t.Errorf("a far-side line inside another: %s", l)
		}
	}
}

func countLog(log []byte, substr string) int {
	n := 0
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, substr) && !strings.Contains(line, "connection ended") {
			n++
		}
	}
	return n
}
