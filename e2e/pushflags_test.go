package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestPushSpoolLocked: a second push on a spool another push holds is
// refused with status 1 and a message naming the holder; the first goes
// on untouched.
func TestPushSpoolLocked(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	first := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	testlab.WaitFor(t, 10*time.Second, func() bool { return len(readFile(l.Log)) > 0 }, "the first push to start")
	second := runBinary(t, runOpts{stdin: strings.NewReader("second\n")},
		"push", "-F", l.SSHD.SSHConfig, "--spool", l.Spool, "loghost:"+l.Remote)
	holder := fmt.Sprintf("pid %d sshlogfwd push", first.Pid())
	if second.Code != 1 || !strings.Contains(second.Stderr, holder) {
		t.Errorf("second push on the same spool: %s; want status 1 naming %q", second, holder)
	}
	writeFIFO(t, l.FIFO, []byte("first\n"))
	waitFileSize(t, l.Remote, int64(len("first\n")), 30*time.Second)
	if got := string(readFile(l.Remote)); got != "first\n" {
		t.Errorf("remote file %q, want only the first push's line", got)
	}
	if err := first.Stop(t, 15*time.Second); err != nil {
		t.Errorf("the first push after SIGTERM: %v", err)
	}
}

// TestPushStatsAndJSONLog: with --log-format json every line of the log
// is a JSON record with a level and a message, and the status lines
// (--stats) count exactly what went through: N lines read and sent,
// nothing dropped, nothing left in the spool.
func TestPushStatsAndJSONLog(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	const n, size = 5000, 100
	ln := testlab.Numbered(size)
	res := runBinary(t, runOpts{stdin: bytes.NewReader(ln.Range(0, n))}, "push", "-F", l.SSHD.SSHConfig,
		"--spool", l.Spool, "--log", l.Log, "--log-format", "json", "--stats", "100ms", "--mark", "0", "loghost:"+l.Remote)
	if res.Code != 0 {
		t.Fatalf("push: %s", res)
	}
	if got := readFile(l.Remote); !bytes.Equal(got, ln.Range(0, n)) {
		t.Fatalf("remote file: %s", ln.Check(got, n))
	}
	var last map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(string(readFile(l.Log)), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %d is not JSON: %v\n%s", i+1, err, line)
		}
		if _, ok := rec["level"].(string); !ok {
			t.Errorf("log line %d has no level: %s", i+1, line)
		}
		if msg, ok := rec["msg"].(string); !ok || msg == "" {
			t.Errorf("log line %d has no message: %s", i+1, line)
		} else if msg == "status" {
			last = rec
		}
	}
	if last == nil {
		t.Fatalf("no status line in the log:\n%s", readFile(l.Log))
	}
	dest := "sent_bytes[loghost]"
	want := map[string]float64{"read_lines": n, "read_bytes": n * size, "spooled_bytes": 0,
		"dropped_lines": 0, "dropped_bytes": 0, dest: n * size}
	for k, v := range want {
		if got, ok := last[k].(float64); !ok || got != v {
			t.Errorf("the last status line says %s=%v, want %v: %v", k, last[k], v, last)
		}
	}
}

// TestPushFanOutCompat: two log hosts with `cat >>`; the second is down
// for the first half of the stream and a while after. Each gets every line exactly once, in
// order: the spool keeps the first half for the second host.
func TestPushFanOutCompat(t *testing.T) {
	t.Parallel()
	a, b := newPushLab(t, "a.log"), newPushLab(t, "b.log")
	b.SSHD.Stop(t)
	cfg := filepath.Join(a.Dir, "ssh_config")
	both := strings.Replace(string(readFile(b.SSHD.SSHConfig)), "Host loghost", "Host loghost2", 1) + "\n" + string(readFile(a.SSHD.SSHConfig))
	if err := os.WriteFile(cfg, []byte(both), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPushConfig(t, cfg, a.Log, "--fifo", a.FIFO, "--spool", a.Spool, "--mark", "0", "loghost:"+a.Remote, "loghost2:"+b.Remote)
	const n, size = 10000, 100
	ln := testlab.Numbered(size)
	w := testlab.OpenWriter(t, a.FIFO, os.O_WRONLY, 0, ln, testlab.WriterOptions{})
	if err := w.Write(n / 2); err != nil {
		t.Fatal(err)
	}
	waitFileSize(t, a.Remote, n/2*size, 30*time.Second)
	// The second host stays down until the first has long counted the
	// first half as delivered (settle, 1 s): only the second host's need
	// keeps it in the spool.
	outage(3 * time.Second)
	b.SSHD.Start(t)
	if err := w.Write(n / 2); err != nil {
		t.Fatal(err)
	}
	_, ra := waitLines(t, ln, func() []byte { return readFile(a.Remote) }, n, 60*time.Second)
	_, rb := waitLines(t, ln, func() []byte { return readFile(b.Remote) }, n, 60*time.Second)
	t.Logf("compat fan-out, second host down for the first half: first %s; second %s", ra, rb)
	exactlyOnce(t, ra, n)
	exactlyOnce(t, rb, n)
	if err := p.Stop(t, 15*time.Second); err != nil {
		t.Errorf("push after SIGTERM: %v", err)
	}
}

// TestPushWritesNothingBeforeConnected: while ssh cannot get through
// (a TCP proxy in front of sshd accepts each connection and drops it a
// moment later, as a host that hangs in the key exchange and then resets),
// lines keep arriving; none may go into an ssh that then fails, so once
// the proxy lets connections through every line arrives.
func TestPushWritesNothingBeforeConnected(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	proxy := startHoldProxy(t, l.SSHD)
	p := startPushConfig(t, proxy.sshConfig, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "--mark", "0", "loghost:"+l.Remote)
	const n, size = 2000, 100
	ln := testlab.Numbered(size)
	w := startFIFOWriter(t, l.FIFO, n, size, 1000, false)
	testlab.WaitFor(t, 60*time.Second, func() bool { return proxy.dropped.Load() >= 3 }, "three connections dropped by the proxy")
	w.Wait(t, 60*time.Second)
	if got := readFile(l.Remote); len(got) != 0 {
		t.Fatalf("the remote file got %d bytes while no connection could get through", len(got))
	}
	proxy.pass.Store(true)
	_, r := waitLines(t, ln, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("%d connections dropped before the first got through: %s", proxy.dropped.Load(), r)
	exactlyOnce(t, r, n)
	if err := p.Stop(t, 15*time.Second); err != nil {
		t.Errorf("push after SIGTERM: %v", err)
	}
}

// holdProxy is a TCP proxy in front of an sshd: until pass is set it
// accepts a connection, holds it for a moment and drops it; then it
// forwards connections to sshd.
type holdProxy struct {
	sshConfig string // an ssh_config whose loghost goes through the proxy
	pass      atomic.Bool
	dropped   atomic.Int64
}

func startHoldProxy(t *testing.T, sshd *testlab.SSHD) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	port := ln.Addr().(*net.TCPAddr).Port
	// The host key, known at the proxy's port as well.
	kh := strings.Replace(string(readFile(sshd.KnownHosts)), fmt.Sprintf("]:%d ", sshd.Port), fmt.Sprintf("]:%d ", port), 1)
	p := &holdProxy{sshConfig: filepath.Join(t.TempDir(), "ssh_config")}
	khPath := p.sshConfig + ".known_hosts"
	cfg := strings.Replace(string(readFile(sshd.SSHConfig)), fmt.Sprintf("Port %d", sshd.Port), fmt.Sprintf("Port %d", port), 1)
	cfg = strings.Replace(cfg, sshd.KnownHosts, khPath, 1)
	if err := os.WriteFile(khPath, []byte(kh), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.sshConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(sshd.Addr, fmt.Sprint(sshd.Port))
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c, target) })
		}
	})
	return p
}

// holdFor is how long the proxy keeps a connection it is going to drop:
// ssh has started and waits for the server's banner meanwhile.
const holdFor = 500 * time.Millisecond

func (p *holdProxy) serve(c net.Conn, target string) {
	defer c.Close()
	if !p.pass.Load() {
		outage(holdFor)
		p.dropped.Add(1)
		return
	}
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, s); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// TestReliableMarksProbeIdleLink: with no input, the marks are what finds
// a receive that stopped answering (SIGSTOP: ssh and sshd stay healthy,
// so keepalives see nothing): a mark waits for its acknowledgement, the
// ack timeout ends the session, and the next receive takes over from the
// frozen one, all before any new line is written. The lines written then
// arrive exactly once.
func TestReliableMarksProbeIdleLink(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	l.push(t, "--mark", "500ms", "--ack-timeout", "2s")
	marked := func() bool {
		return len(receivers(l.Remote)) == 1 && bytes.Contains(readFile(l.Remote), []byte("-- MARK --"))
	}
	testlab.WaitFor(t, 30*time.Second, marked, "a first mark at the log host")
	frozen := receivers(l.Remote)[0]
	if err := syscall.Kill(frozen, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(frozen, syscall.SIGCONT) })
	testlab.WaitFor(t, 60*time.Second, func() bool {
		log := readFile(l.Log)
		return countLog(log, "no acknowledgement while data is outstanding") > 0 && countLog(log, "taking over") > 0
	}, "push to find the frozen receive with its marks, and to take over")
	const n = 1000
	w := startRelWriter(t, l.FIFO, 0, n)
	w.Wait(t, 30*time.Second)
	// Not waitLines: the marks keep coming, the file never stops growing.
	// A mark after the last line shows the stream went on past it.
	testlab.WaitFor(t, 60*time.Second, func() bool {
		data := readFile(l.Remote)
		i := bytes.Index(data, relLines.Line(n-1))
		return i >= 0 && bytes.Contains(data[i:], []byte("-- MARK --"))
	}, "the last line, and a mark after it")
	r := relLines.Check(readFile(l.Remote), n)
	t.Logf("frozen receive found by the marks of an idle link: %s", r)
	if r.Received != n || r.Lost != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn != 0 {
		t.Errorf("want every line exactly once: %s", r)
	}
	for _, o := range r.Other {
		if !strings.HasSuffix(o, "sshlogfwd: -- MARK --") {
			t.Errorf("unexpected line %q", o)
		}
	}
}
