package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestPush100kLinesByteExact: the basic promise, through the real sshd and
// the restricted key.
func TestPush100kLinesByteExact(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	const n, size = 100000, 100
	ln := testlab.Numbered(size)
	w := startFIFOWriter(t, l.FIFO, n, size, 0, false)
	w.Wait(t, 60*time.Second)
	waitFileSize(t, l.Remote, n*size, 60*time.Second)
	if got := readFile(l.Remote); !bytes.Equal(got, ln.Range(0, n)) {
		t.Fatalf("remote file differs: %s", ln.Check(got, n))
	}
	if err := p.Stop(t, 15*time.Second); err != nil {
		t.Errorf("push exit after SIGTERM: %v, want status 0", err)
	}
}

// TestPushSSHKilled kills the ssh child -9 repeatedly under a steady stream
// from a non-blocking writer (as rsyslog writes). The writer must never
// find the FIFO full, the forwarder must come back after every kill and
// log why, and what is lost is only what was inside the dead ssh.
func TestPushSSHKilled(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	const n, size, rate = 30000, 100, 3000 // 10 s
	testlab.WaitFor(t, 10*time.Second, func() bool { return p.sshChild() > 0 }, "first ssh child")
	w := startFIFOWriter(t, l.FIFO, n, size, rate, true)
	k := testlab.StartKiller(testlab.Every(pushKillEvery), testlab.One(p.sshChild))
	w.Wait(t, 60*time.Second)
	kills := k.Stop()
	_, r := waitLines(t, testlab.Numbered(size), func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	perKill := float64(r.Lost) / float64(max(kills, 1))
	t.Logf("ssh killed %d times: %s; lost per kill %.0f lines (bound %d); writer EAGAIN drops %d", kills, r, perKill, pushKillLossBound(size), w.Dropped())
	recordFault(t, faultRow{Mode: "push", Fault: fmt.Sprintf("ssh child killed -9 every %.1f s", pushKillEvery.Seconds()), Lines: n, Faults: kills, Report: r,
		Note: fmt.Sprintf("%.0f lines lost per kill (bound %d)", perKill, pushKillLossBound(size))})
	if kills < 3 {
		t.Errorf("only %d kills happened, want at least 3", kills)
	}
	if w.Dropped() != 0 {
		t.Errorf("the writer found the FIFO full %d times", w.Dropped())
	}
	if r.Duplicated != 0 || r.OutOfOrder != 0 || len(r.Other) != 0 {
		t.Errorf("duplicated, reordered or foreign lines: %s", r)
	}
	if r.Torn > kills {
		t.Errorf("%d torn lines in %d kills: a kill tears at most the line in flight", r.Torn, kills)
	}
	if r.Lost > kills*pushKillLossBound(size) {
		t.Errorf("lost %d lines in %d kills (%.0f per kill): more than a dead ssh holds (%d lines per kill); missing %s",
			r.Lost, kills, perKill, pushKillLossBound(size), r.Gaps(10))
	}
	log := string(readFile(l.Log))
	if got := strings.Count(log, "killed by signal"); got < kills {
		t.Errorf("log explains %d of %d kills:\n%s", got, kills, tail([]byte(log), 20))
	}
	if !strings.Contains(log, "reconnecting") {
		t.Errorf("no reconnect logged")
	}
}

// pushKillEvery is how often TestPushSSHKilled kills the ssh child: the
// lines written between two kills are several times what one kill may
// lose, so that a bound per kill can fail.
const pushKillEvery = 1500 * time.Millisecond

// pushKillLossBound is how many lines of size bytes one kill of a
// compatible push's ssh child may lose: what that ssh had accepted and
// not yet passed on. The worst measured (docs/guarantees.md before its
// tables were generated, -race at load 5-15) was about 0.5 s of traffic
// per kill at 3,000 lines/s, ~150 KB; this allows twice that, 300 KB.
// (At ordinary load a kill loses a few lines: the generated table.)
func pushKillLossBound(size int) int { return 300_000 / size }

// TestPushSSHDDown stops the log host's sshd (listener and sessions) for 10 s
// during a 2,000 lines/s stream from a non-blocking writer: the FIFO must
// never fill, and every line written after the stop must arrive once sshd
// is back. Killing the established session loses what was inside it at
// that moment (compatible mode has no acknowledgements): measured and
// bounded to the lines written just before the stop.
func TestPushSSHDDown(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	testlab.WaitFor(t, 10*time.Second, func() bool { return p.sshChild() > 0 }, "first ssh child")
	const n, size, rate = 30000, 100, 2000 // 15 s
	ln := testlab.Numbered(size)
	w := startFIFOWriter(t, l.FIFO, n, size, rate, true)
	waitFileSize(t, l.Remote, 2000*size, 20*time.Second)
	l.SSHD.Stop(t)
	writtenAtStop := w.Written()
	outage(10 * time.Second)
	l.SSHD.Start(t)
	w.Wait(t, 60*time.Second)
	_, r := waitLines(t, ln, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("sshd down 10 s at %d lines/s: %s (in flight when the session was killed); writer EAGAIN drops %d", rate, r, w.Dropped())
	recordFault(t, faultRow{Mode: "push", Fault: "sshd stopped (session killed) for 10 s", Lines: n, Faults: 1, Report: r})
	if w.Dropped() != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 {
		t.Errorf("want no writer drops, no duplicates, in order: %s, writer drops %d", r, w.Dropped())
	}
	// Everything written after the stop (into the spool) arrived; what a
	// dying ssh still took in its last milliseconds is the slack.
	if len(r.Missing) > 0 && r.Missing[len(r.Missing)-1].Last >= writtenAtStop+rate/10 {
		t.Errorf("lines written after sshd stopped (from %d) are missing: %s", writtenAtStop, r.Gaps(10))
	}
	if r.Torn > 1 {
		t.Errorf("%d torn lines: only the line in flight when the session died may be", r.Torn)
	}
	if r.Lost > 2*rate {
		t.Errorf("lost %d lines: more than 2 s of traffic was in flight", r.Lost)
	}
}

// TestPushRsyslog: a real rsyslogd with our contrib configuration writes
// into the FIFO; sshd is down for 10 s in the middle; every message arrives.
func TestPushRsyslog(t *testing.T) {
	t.Parallel()
	testlab.RequireBinary(t, "/usr/sbin/rsyslogd")
	testlab.RequireBinary(t, "/usr/bin/logger")
	l := newPushLab(t, "remote.log")
	rules := contribRsyslogRules(t, l.FIFO)
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	testlab.WaitFor(t, 10*time.Second, func() bool { return p.sshChild() > 0 }, "first ssh child")
	rs := testlab.StartRsyslog(t, rules)
	const total = 6000
	send := func(from, to int) {
		var msgs []string
		for i := from; i < to; i++ {
			msgs = append(msgs, fmt.Sprintf("msg-%06d", i))
		}
		rs.Send(t, "sshd", "authpriv.info", msgs...)
	}
	send(0, 2000)
	testlab.WaitFor(t, 30*time.Second, func() bool { return bytes.Contains(readFile(l.Remote), []byte("msg-001999")) }, "first messages to arrive")
	l.SSHD.Stop(t)
	down := time.Now()
	send(2000, 4000)
	rs.HUP(t) // log rotation on the host: rsyslog closes and reopens the pipe
	send(4000, 5000)
	outage(10*time.Second - time.Since(down))
	l.SSHD.Start(t)
	send(5000, total)
	testlab.WaitFor(t, 60*time.Second, func() bool { return bytes.Contains(readFile(l.Remote), []byte(fmt.Sprintf("msg-%06d", total-1))) }, "last message to arrive")
	got := readFile(l.Remote)
	missing := 0
	for i := range total {
		if !bytes.Contains(got, []byte(fmt.Sprintf("msg-%06d\n", i))) {
			missing++
		}
	}
	t.Logf("rsyslog: %d messages, sshd down 10 s, %d missing", total, missing)
	if missing != 0 {
		t.Errorf("%d of %d messages missing", missing, total)
	}
	// Messages not selected by the article's rules stay out.
	rs.Send(t, "cron", "cron.info", "not-forwarded")
	rs.Send(t, "sshd", "auth.notice", "forwarded-marker")
	testlab.WaitFor(t, 20*time.Second, func() bool { return bytes.Contains(readFile(l.Remote), []byte("forwarded-marker")) }, "marker")
	if bytes.Contains(readFile(l.Remote), []byte("not-forwarded")) {
		t.Errorf("cron.info was forwarded; the contrib selection is auth, authpriv, crit, emerg, kern")
	}
}

// contribRsyslogRules takes the RainerScript block of
// contrib/syslog.conf.example and points it at the test's FIFO.
func contribRsyslogRules(t *testing.T, fifo string) string {
	t.Helper()
	b, err := os.ReadFile("../contrib/rsyslog.d/sshlogfwd.conf")
	if err != nil {
		t.Fatalf("contrib rsyslog configuration: %v", err)
	}
	return strings.ReplaceAll(string(b), "/run/sshlogfwd/push.fifo", fifo)
}

// TestFIFONoBusyLoop: writers that come and go and rsyslog's SIGHUP must
// not turn into an EOF loop: idle push makes almost no read calls. (Read
// calls, not CPU time: a loop spinning on EOF makes them by the thousand
// whatever share of a loaded machine it gets; 131,456 EOFs in 100 ms were
// measured.)
func TestFIFONoBusyLoop(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	testlab.WaitFor(t, 10*time.Second, func() bool { _, err := os.Stat(l.FIFO); return err == nil }, "fifo")
	for i := range 50 {
		f, err := os.OpenFile(l.FIFO, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "writer %d\n", i)
		f.Close()
	}
	waitFileSize(t, l.Remote, int64(len("writer 0\n")*10+len("writer 10\n")*40), 30*time.Second)
	reads := func() int64 {
		n, err := testlab.ProcessReads(p.Pid())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, cpuBefore := reads(), processCPU(t, p.Pid())
	outage(2 * time.Second) // the idle time measured
	used, cpu := reads()-before, processCPU(t, p.Pid())-cpuBefore
	t.Logf("idle for 2 s after 50 writers came and went: %d read calls, %v CPU", used, cpu)
	if used > 100 {
		t.Errorf("push made %d read calls in 2 idle seconds: an EOF busy loop?", used)
	}
}

func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	d, err := testlab.ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSpoolBoundMarker: the log host is unreachable while far more than
// --spool-max arrives; the oldest lines are dropped, a notice with the exact
// counts arrives first, memory stays bounded, the newest lines arrive.
func TestSpoolBoundMarker(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	l.SSHD.Stop(t)
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "--spool-max", "1MiB", "loghost:"+l.Remote)
	const n, size = 100000, 100 // 10 MB into a 1 MiB spool
	w := startFIFOWriter(t, l.FIFO, n, size, 0, false)
	w.Wait(t, 180*time.Second)
	_, hwm, err := testlab.ProcessRSS(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	l.SSHD.Start(t)
	got, r := waitLines(t, testlab.Numbered(size), func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("10 MB into a 1 MiB spool: %s, peak RSS %d MiB; notices %q", r, hwm>>20, r.Other)
	if len(r.Other) != 1 {
		t.Fatalf("want exactly one notice line, got %q", r.Other)
	}
	var lines, bytesDropped int
	var ts, host, dest string
	if _, err := fmt.Sscanf(r.Other[0], "%s %s sshlogfwd: dropped %d lines (%d bytes) while %s was unreachable", &ts, &host, &lines, &bytesDropped, &dest); err != nil {
		t.Fatalf("notice %q: %v", r.Other[0], err)
	}
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Errorf("notice timestamp %q: %v", ts, err)
	}
	if lines != r.Lost || bytesDropped != r.Lost*size {
		t.Errorf("notice says %d lines (%d bytes), really lost %d lines", lines, bytesDropped, r.Lost)
	}
	if r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn != 0 {
		t.Errorf("%s", r)
	}
	// The notice comes before the surviving lines: the gap is where it was.
	if !bytes.HasPrefix(got, []byte(r.Other[0])) {
		t.Errorf("notice is not at the start of the stream")
	}
	// The bound is on the spool, and memory must not grow with the data
	// dropped (10 MB here). The race detector multiplies memory use.
	limit := int64(40 << 20)
	if testlab.RaceEnabled {
		limit = 160 << 20
	}
	if hwm > limit {
		t.Errorf("peak RSS %d MiB with a 1 MiB spool (limit %d MiB)", hwm>>20, limit>>20)
	}
}

// TestPushHostilePath: a remote path with spaces, quotes, ';' and $(...)
// names one file and runs nothing (key with restrict but no forced
// command, so the client's own command line is what runs).
func TestPushHostilePath(t *testing.T) {
	t.Parallel()
	testlab.RequireBinary(t, "/usr/sbin/sshd")
	dir := t.TempDir()
	sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
	sshd.SetAuthorizedKeys(t, `restrict,from="127.0.0.1" `+sshd.ClientPub)
	name := "a b 'c' \"d\";touch INJECTED;$(touch INJECTED2)`touch INJECTED3`.log"
	remote := filepath.Join(dir, name)
	in := "line one\nline two\n"
	cmd := exec.Command(testlab.Binary(t), "push", "-F", sshd.SSHConfig, "--spool", filepath.Join(dir, "spool"), "loghost:"+remote)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("push from stdin: %v\n%s", err, out)
	}
	if got := readFile(remote); string(got) != in {
		t.Errorf("file %q holds %q", remote, got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "INJECTED") && e.Name() != name {
			t.Errorf("injected command ran: %s exists", e.Name())
		}
	}
	for _, d := range []string{"/root", "/"} {
		for _, f := range []string{"INJECTED", "INJECTED2", "INJECTED3"} {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				t.Errorf("injected command ran: %s", filepath.Join(d, f))
			}
		}
	}
}

// TestPushStdinAndFinalLine: standard input, a final line without newline
// is delivered, and push exits 0 once everything is handed over.
func TestPushStdinAndFinalLine(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	in := "first\n\x00bin\xff\xfe\r\nno newline at end"
	cmd := exec.Command(testlab.Binary(t), "push", "-F", l.SSHD.SSHConfig, "--spool", l.Spool, "loghost:"+l.Remote)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if got := string(readFile(l.Remote)); got != in {
		t.Errorf("remote %q, want %q", got, in)
	}
}

// TestPushExplainsFailures: a key the log host refuses and a remote file
// cat cannot write are logged with their reason, and push keeps retrying.
func TestPushExplainsFailures(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	l.SSHD.SetAuthorizedKeys(t) // nobody may log in
	p := startPush(t, l.SSHD, l.Log, "--spool", l.Spool, "--fifo", l.FIFO, "loghost:"+l.Remote)
	testlab.WaitFor(t, 20*time.Second, func() bool {
		log := string(readFile(l.Log))
		return strings.Count(log, "could not connect or authenticate") >= 2 && strings.Contains(log, "Permission denied")
	}, "two refused attempts logged with the reason")
	// Now a key that works but a file that cannot be created.
	l.SSHD.SetAuthorizedKeys(t, testlab.RestrictedKeyLine(l.SSHD.ClientPub, "127.0.0.1", "cat >> /nonexistent/dir/x.log"))
	f, _ := os.OpenFile(l.FIFO, os.O_WRONLY, 0)
	f.Write([]byte("hello\n"))
	f.Close()
	testlab.WaitFor(t, 30*time.Second, func() bool {
		return strings.Contains(string(readFile(l.Log)), "cannot be created or written")
	}, "cat's failure explained")
	if err := p.Stop(t, 15*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	// The undelivered line stays in the spool for the next start.
	segs, _ := filepath.Glob(filepath.Join(l.Spool, "*.seg"))
	var kept []byte
	for _, s := range segs {
		kept = append(kept, readFile(s)...)
	}
	if !bytes.Contains(kept, []byte("hello\n")) {
		t.Errorf("undelivered line not kept in the spool (%v)", segs)
	}
}

// TestPushSIGTERMDrains: lines spooled while the log host is down are
// delivered on SIGTERM (and on SIGINT, which means the same) when the log
// host comes back within --drain-timeout; then push exits 0 with nothing
// left in the spool.
func TestPushSIGTERMDrains(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		reliable bool
		sig      syscall.Signal
	}{
		{"compat SIGTERM", false, syscall.SIGTERM},
		{"compat SIGINT", false, syscall.SIGINT},
		{"reliable SIGTERM", true, syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n, size = 2000, 100
			var sshd *testlab.SSHD
			var remote string
			var p *pushProc
			args := []string{"--drain-timeout", "60s", "--stats", "50ms", "--mark", "0"}
			if tc.reliable {
				l := newRelLab(t, relLabOptions{})
				sshd, remote = l.SSHD, l.Remote
				sshd.Stop(t)
				p = l.push(t, args...)
			} else {
				l := newPushLab(t, "remote.log")
				sshd, remote = l.SSHD, l.Remote
				sshd.Stop(t)
				p = startPush(t, sshd, l.Log, append(args, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)...)
			}
			w := startFIFOWriter(t, fifoOf(p), n, size, 0, false)
			w.Wait(t, 30*time.Second)
			testlab.WaitFor(t, 30*time.Second, func() bool {
				log := string(readFile(p.Log))
				return strings.Contains(log, fmt.Sprintf("read_lines=%d ", n)) && strings.Contains(log, "Connection refused")
			}, "push to read every line and to fail to connect")
			p.cmd.Process.Signal(tc.sig)
			testlab.WaitFor(t, 10*time.Second, func() bool {
				return strings.Contains(string(readFile(p.Log)), "stopping: delivering buffered lines")
			}, "push to start draining")
			select {
			case <-p.done:
				t.Fatalf("push exited (%v) with the log host still down, before --drain-timeout", p.err)
			default:
			}
			sshd.Start(t)
			select {
			case <-p.done:
			case <-time.After(60 * time.Second):
				t.Fatal("push still runs 60 s after the log host came back (a hang)")
			}
			if p.err != nil {
				t.Errorf("push exit after %v: %v, want status 0", tc.sig, p.err)
			}
			if got := readFile(remote); !bytes.Equal(got, testlab.Numbered(size).Range(0, n)) {
				t.Errorf("remote file after the drain: %s", testlab.Numbered(size).Check(got, n))
			}
			if strings.Contains(string(readFile(p.Log)), "kept in the spool for the next start") {
				t.Errorf("push kept data in the spool although the log host came back within the drain timeout")
			}
		})
	}
}

// TestPushUsageErrors: bad flags and a DEST that would be an ssh option
// are refused with status 2, touching nothing.
func TestPushUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	os.WriteFile(regular, []byte("keep me\n"), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"push", "--fifo", regular, "h:/x"}, "--fifo"},
		{[]string{"push", "--fifo-mode", "999", "h:/x"}, "--fifo-mode"},
		{[]string{"push", "--spool-max", "lots", "h:/x"}, "--spool-max"},
		{[]string{"push", "--", "-oProxyCommand=sh:/x"}, "begins with '-'"},
		{[]string{"push", "--spool", regular, "h:/x"}, "--spool"},
		{[]string{"push", "--from", "start", "h:/x"}, "--from"},
		{[]string{"push", "--fifo-mode", "0600", "h:/x"}, "--fifo-mode"},
		{[]string{"push", "--fsync", "5s", "h:/x"}, "--fsync"},
		{[]string{"push", "--ack-timeout", "5s", "h:/x"}, "--ack-timeout"},
	} {
		cmd := exec.Command(testlab.Binary(t), tt.args...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !asExit(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
			t.Errorf("%q: %v, output %q; want exit 2 naming %s", tt.args, err, out, tt.want)
		}
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me\n" {
		t.Errorf("a refused path was modified: %q", b)
	}
}

// TestPushSSHOptionBeforeDest: `-oProxyCommand=x` is push's own -o flag,
// an ssh option the user chose, and reaches ssh as one before the "--"
// that ends ssh's options; the destination after it is the host alone.
func TestPushSSHOptionBeforeDest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	argvFile := filepath.Join(dir, "argv")
	fakeSSH := filepath.Join(dir, "ssh")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + shellQuote(argvFile) + ".tmp && mv " + shellQuote(argvFile+".tmp") + " " + shellQuote(argvFile) + "\nexit 255\n"
	if err := os.WriteFile(fakeSSH, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testlab.Binary(t), "push", "--ssh", fakeSSH, "--spool", filepath.Join(dir, "spool"), "--log", filepath.Join(dir, "push.log"), "-oProxyCommand=x", "h:/x")
	cmd.Stdin = strings.NewReader("a line\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testlab.WaitFor(t, 20*time.Second, func() bool { _, err := os.Stat(argvFile); return err == nil }, "push to run ssh (a hang)")
	argv := strings.Split(strings.TrimSuffix(string(readFile(argvFile)), "\n"), "\n")
	t.Logf("ssh argv %q", argv)
	dash := slices.Index(argv, "--")
	opt := slices.Index(argv, "ProxyCommand=x")
	if dash < 0 || opt < 1 || opt > dash || argv[opt-1] != "-o" || dash+1 >= len(argv) || argv[dash+1] != "h" {
		t.Errorf("ssh ran with %q: want -o ProxyCommand=x among the options before --, and the host h after it", argv)
	}
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

var _ = syscall.SIGTERM

// TestPushMarksAndStats: marks arrive as whole lines between the stream's
// lines, and the status line is logged.
func TestPushMarksAndStats(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "--mark", "200ms", "--stats", "300ms", "loghost:"+l.Remote)
	const n, size, rate = 4000, 100, 2000
	w := startFIFOWriter(t, l.FIFO, n, size, rate, true)
	w.Wait(t, 30*time.Second)
	// Not waitLines: marks keep coming, the file never stops growing.
	ln := testlab.Numbered(size)
	testlab.WaitFor(t, 30*time.Second, func() bool { return ln.Contains(readFile(l.Remote), n-1) }, "the last line")
	r := ln.Check(readFile(l.Remote), n)
	marks := 0
	for _, o := range r.Other {
		var ts, host string
		if _, err := fmt.Sscanf(o, "%s %s sshlogfwd: -- MARK --", &ts, &host); err != nil {
			t.Errorf("unexpected line %q", o)
			continue
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("mark %q: %v", o, err)
		}
		marks++
	}
	t.Logf("%s; %d marks", r, marks)
	if marks < 3 || r.Lost != 0 || r.Torn != 0 || r.Duplicated != 0 {
		t.Errorf("want >= 3 marks and every line whole: %s, %d marks", r, marks)
	}
	testlab.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(string(readFile(l.Log)), "msg=status read_lines=")
	}, "a status line")
}

// TestPushSIGHUPReopensLog: logrotate renames --log and sends SIGHUP; the
// new file gets the lines from then on.
func TestPushSIGHUPReopensLog(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	testlab.WaitFor(t, 10*time.Second, func() bool { return len(readFile(l.Log)) > 0 }, "first log line")
	if err := os.Rename(l.Log, l.Log+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	testlab.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(string(readFile(l.Log)), "SIGHUP: reopened")
	}, "the reopened log to get lines")
	if err := p.Stop(t, 15*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestPushEnvVars: every flag can come from SSHLOGFWD_<FLAG>.
func TestPushEnvVars(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	cmd := exec.Command(testlab.Binary(t), "push", "loghost:"+l.Remote)
	cmd.Env = append(os.Environ(), "SSHLOGFWD_SSH_CONFIG="+l.SSHD.SSHConfig, "SSHLOGFWD_SPOOL="+l.Spool,
		"SSHLOGFWD_LOG="+l.Log, "SSHLOGFWD_MARK=0")
	cmd.Stdin = strings.NewReader("from env\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if got := string(readFile(l.Remote)); got != "from env\n" {
		t.Errorf("remote %q", got)
	}
	if len(readFile(l.Log)) == 0 {
		t.Errorf("SSHLOGFWD_LOG ignored")
	}
	bad := exec.Command(testlab.Binary(t), "push", "loghost:"+l.Remote)
	bad.Env = append(os.Environ(), "SSHLOGFWD_SPOOL_MAX=lots")
	out, err := bad.CombinedOutput()
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "spool-max") {
		t.Errorf("SSHLOGFWD_SPOOL_MAX=lots: %v %q, want exit 2 naming the flag", err, out)
	}
}

// TestPushStopKeepsSpoolForNextStart: lines read while the log host is
// down stay in the spool at SIGTERM (drain timeout passes) and are sent
// first, in order, by the next start.
func TestPushStopKeepsSpoolForNextStart(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	l.SSHD.Stop(t)
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "--drain-timeout", "1s", "loghost:"+l.Remote)
	const n, size = 20000, 100
	w := startFIFOWriter(t, l.FIFO, n/2, size, 0, false)
	w.Wait(t, 30*time.Second)
	testlab.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(string(readFile(l.Log)), "Connection refused")
	}, "a refused connection")
	start := time.Now()
	if err := p.Stop(t, 20*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	t.Logf("stopped in %v with the log host down", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(string(readFile(l.Log)), "kept in the spool for the next start") {
		t.Errorf("the kept data is not reported")
	}
	l.SSHD.Start(t)
	p2 := startPush(t, l.SSHD, l.Log+".2", "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	// The second half is written only now: it must come after the first.
	f, err := os.OpenFile(l.FIFO, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ln := testlab.Numbered(size)
	for i := n / 2; i < n; i++ {
		f.Write(ln.Line(i))
	}
	f.Close()
	_, r := waitLines(t, ln, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	if r.Lost != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn != 0 {
		t.Errorf("after restart: %s", r)
	}
	if err := p2.Stop(t, 15*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
}
