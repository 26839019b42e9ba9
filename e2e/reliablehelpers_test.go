package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// relLineSize is the size of every numbered line in the reliable tests.
const relLineSize = 100

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

// relWriter writes numbered lines into a FIFO the way rsyslog does with
// action.resumeRetryCount="-1": it holds the FIFO open O_RDWR|O_NONBLOCK
// (so it never sees "no reader", and what it wrote survives while push
// restarts), writes whole lines in atomic chunks of at most PIPE_BUF, and
// retries a chunk that finds the pipe full instead of dropping it. So
// every line it counts as written is in the FIFO: whatever does not reach
// the log host was lost by us.
type relWriter struct {
	written atomic.Int64
	stalls  atomic.Int64 // EAGAIN retries: the pipe was full
	stop    chan struct{}
	done    chan struct{}
	err     error // why it ended early; read after done
	diag    func() string
	paused  atomic.Bool
	queued  func() int // bytes waiting in the FIFO
}

// Pause stops writing until Resume; what falls due meanwhile is written
// at once after it.
func (w *relWriter) Pause()  { w.paused.Store(true) }
func (w *relWriter) Resume() { w.paused.Store(false) }

func startRelWriter(t *testing.T, fifo string, rate, limit int) *relWriter {
	t.Helper()
	var f *os.File
	testlab.WaitFor(t, 10*time.Second, func() bool {
		var err error
		f, err = os.OpenFile(fifo, os.O_RDWR|syscall.O_NONBLOCK, 0)
		return err == nil
	}, "open fifo %s", fifo)
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w := &relWriter{stop: make(chan struct{}), done: make(chan struct{})}
	w.diag = func() string {
		var st syscall.Stat_t
		pathIno := uint64(0)
		if err := syscall.Stat(fifo, &st); err == nil {
			pathIno = st.Ino
		}
		var fst syscall.Stat_t
		var queued int
		rc.Control(func(fd uintptr) {
			syscall.Fstat(int(fd), &fst)
			queued, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ)
		})
		return fmt.Sprintf("writer's FIFO inode %d, path's %d, %d bytes queued in it, %d stalls", fst.Ino, pathIno, queued, w.stalls.Load())
	}
	w.queued = func() int {
		n := 0
		rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		return n
	}
	go func() {
		defer close(w.done)
		defer f.Close()
		start := time.Now()
		next := 0
		var chunk []byte
		for limit <= 0 || next < limit {
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if w.paused.Load() {
				continue
			}
			due := int(time.Since(start).Seconds() * float64(rate))
			if limit > 0 {
				due = min(due, limit)
			}
			for next < due {
				chunk = chunk[:0]
				n := 0
				for next+n < due && len(chunk)+relLineSize <= 4096 {
					chunk = append(chunk, numbered(next+n, relLineSize)...)
					n++
				}
				for {
					var werr error
					var wrote int
					if err := rc.Write(func(fd uintptr) bool {
						wrote, werr = syscall.Write(int(fd), chunk)
						return true
					}); err != nil {
						werr = err
					}
					if werr == nil && wrote == len(chunk) {
						break
					}
					if werr == nil {
						w.err = fmt.Errorf("short write of %d of %d bytes into the FIFO", wrote, len(chunk))
						return
					}
					if errors.Is(werr, syscall.EINTR) {
						continue
					}
					if !errors.Is(werr, syscall.EAGAIN) {
						w.err = fmt.Errorf("write into the FIFO: %w", werr)
						return
					}
					w.stalls.Add(1)
					select {
					case <-w.stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
				next += n
				w.written.Store(int64(next))
			}
		}
	}()
	t.Cleanup(func() { w.Stop() })
	return w
}

// Stop ends the writer and returns how many lines it wrote.
func (w *relWriter) Stop() int {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	return int(w.written.Load())
}

// check fails the test if the writer ended early: then the lines after it
// were never written, and what it wrote may have died with the FIFO.
func (w *relWriter) check(t *testing.T) {
	t.Helper()
	<-w.done
	if w.err != nil {
		t.Fatalf("the test's FIFO writer failed after %d lines: %v", w.written.Load(), w.err)
	}
}

// Wait waits for a writer with a limit to finish.
func (w *relWriter) Wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(timeout):
		t.Fatalf("writer not done after %v (%d lines written)", timeout, w.written.Load())
	}
	return int(w.written.Load())
}

// waitAll waits until read() holds n lines' worth of bytes and its last
// line, then checks it. On timeout it reports what is there.
func waitAll(t *testing.T, read func() []byte, n int, timeout time.Duration) lineReport {
	t.Helper()
	want := int64(n * relLineSize)
	last := numbered(n-1, relLineSize)
	ok := pollUntil(timeout, func() bool {
		b := read()
		return int64(len(b)) >= want && bytes.Contains(b[max(0, len(b)-4*relLineSize):], last)
	})
	got := read()
	r := checkLines(got, n, relLineSize)
	if !ok || r.Lost > 0 {
		t.Errorf("missing lines: %s", missingRanges(got, n))
	}
	if !ok {
		t.Fatalf("after %v the log host does not have all %d lines: %s", timeout, n, r)
	}
	return r
}

func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exactlyOnce fails the test unless r is n lines, each exactly once, in
// order and whole, with nothing else in between.
func exactlyOnce(t *testing.T, r lineReport, n int) {
	t.Helper()
	if r.Received != n || r.Lost != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn != 0 || len(r.Other) != 0 {
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

// relKiller kills what find returns at random intervals in [lo, hi).
type relKiller struct {
	kills atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

func startRelKiller(lo, hi time.Duration, find func() []int) *relKiller {
	k := &relKiller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for {
			select {
			case <-k.stop:
				return
			case <-time.After(lo + rand.N(hi-lo)):
			}
			killed := false
			for _, pid := range find() {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed = true
				}
			}
			if killed {
				k.kills.Add(1)
			}
		}
	}()
	return k
}

func (k *relKiller) Stop() int {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
	return int(k.kills.Load())
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
func countLog(log []byte, substr string) int {
	n := 0
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, substr) && !strings.Contains(line, "connection ended") {
			n++
		}
	}
	return n
}

// missingRanges describes which of the lines 0..n-1 are not in data, as
// at most a few ranges, for failure messages.
func missingRanges(data []byte, n int) string {
	seen := make([]bool, n)
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		if len(line) > 9 && line[0] == 'L' {
			if i, err := strconv.Atoi(string(line[1:9])); err == nil && i >= 0 && i < n {
				seen[i] = true
			}
		}
	}
	var out []string
	for i := 0; i < n && len(out) < 8; i++ {
		if seen[i] {
			continue
		}
		j := i
		for j+1 < n && !seen[j+1] {
			j++
		}
		out = append(out, fmt.Sprintf("%d-%d", i, j))
		i = j
	}
	return strings.Join(out, " ")
}
