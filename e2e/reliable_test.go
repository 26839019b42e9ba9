package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
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

// The fault-injection suite of push --reliable. Every test writes numbered
// lines at a steady rate into the FIFO, injects its fault while they flow,
// and checks at the end that the log host got every line exactly once, in
// order, none torn.

// TestReliableSSHKilled: push's ssh child killed -9 at random intervals of
// 0.2-2 s, at least 30 times.
func TestReliableSSHKilled(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	p := l.push(t)
	w := startRelWriter(t, l.FIFO, 2000, 0)
	k := testlab.StartKiller(testlab.Between(200*time.Millisecond, 2*time.Second), testlab.One(p.sshChild))
	testlab.WaitFor(t, 120*time.Second, func() bool { return k.Kills() >= 30 }, "30 kills")
	kills := k.Stop()
	n := w.Stop(t)
	r := waitAll(t, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("ssh killed -9 %d times: %d lines; %s; writer stalls %d", kills, n, r, w.Stalls())
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "ssh child killed -9 every 0.2-2 s (random)", Lines: n, Faults: kills, Report: r})
	exactlyOnce(t, r, n)
	// Everything is acknowledged: SIGTERM ends push at once, cleanly.
	if err := p.Stop(t, 20*time.Second); err != nil {
		t.Errorf("push exit after SIGTERM: %v, want status 0", err)
	}
}

// TestReliableReceiveKilled: the far side's `sshlogfwd receive` killed -9
// repeatedly (between a write and its state update, mid-frame, mid-fsync:
// wherever it happens to be).
func TestReliableReceiveKilled(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	l.push(t)
	w := startRelWriter(t, l.FIFO, 2000, 0)
	k := testlab.StartKiller(testlab.Between(300*time.Millisecond, 1500*time.Millisecond), func() []int { return receivers(l.Remote) })
	testlab.WaitFor(t, 90*time.Second, func() bool { return k.Kills() >= 20 }, "20 kills")
	kills := k.Stop()
	n := w.Stop(t)
	r := waitAll(t, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("receive killed -9 %d times: %d lines; %s", kills, n, r)
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "`receive` killed -9 every 0.3-1.5 s", Lines: n, Faults: kills, Report: r})
	exactlyOnce(t, r, n)
}

// TestReliablePushKilled: push itself killed -9 and started again 5 times;
// the writer goes on writing into the FIFO while push is dead, and the next
// push reads what waited there. The kill lands when push has read what was
// in the FIFO: a chunk between read(2) and the spool write dies with the
// process (see the README, reliable push, Limits), and this test is about everything
// else push holds at that moment (spool, frames in flight, acks).
func TestReliablePushKilled(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	p := l.push(t)
	w := startRelWriter(t, l.FIFO, 2000, 0)
	const restarts = 5
	for i := range restarts {
		// Kill a push in mid-session, with frames and acks on the way.
		testlab.WaitFor(t, 60*time.Second, func() bool {
			log := readFile(l.Log)
			return countLog(log, "receiver position")+countLog(log, "the receiver has no stream yet") > i
		}, "push %d to have its session", i+1)
		// A different moment of the session each time.
		waitGrowth(t, l.Remote, int64(1000+600*i)*relLineSize, 60*time.Second)
		w.Pause()
		testlab.WaitFor(t, 30*time.Second, func() bool { return w.Queued() == 0 }, "push to read the FIFO empty")
		testlab.WaitFor(t, 30*time.Second, func() bool { return spoolTail(l.Spool) >= int64(w.Written())*relLineSize },
			"push's last read to reach the spool")
		if err := testlab.Kill(p.Pid()); err != nil {
			t.Fatalf("kill push: %v", err)
		}
		w.Resume()
		<-p.done
		p = l.push(t)
	}
	waitGrowth(t, l.Remote, 4000*relLineSize, 60*time.Second)
	diag := w.Describe()
	n := w.Stop(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("before stopping the writer: %s", diag)
			ents, _ := os.ReadDir(l.Spool)
			var names []string
			for _, e := range ents {
				fi, _ := e.Info()
				names = append(names, fmt.Sprintf("%s(%d)", e.Name(), fi.Size()))
			}
			t.Logf("spool %v state %s; receiver state %s", names, readFile(filepath.Join(l.Spool, "state.json")), readFile(filepath.Join(filepath.Dir(l.Remote), ".host.log.sshlogfwd")))
			if os.Getenv("SSHLOGFWD_DEBUG_DUMP") != "" {
				p.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump on stderr
				time.Sleep(time.Second)
			}
		}
	})
	r := waitAll(t, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("push killed -9 and restarted %d times: %d lines; %s; writer stalls %d", restarts, n, r, w.Stalls())
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "push killed -9 and restarted, writer going on", Lines: n, Faults: restarts, Report: r})
	exactlyOnce(t, r, n)
}

// TestReliableSSHDDown: the log host's sshd stopped (listener and sessions,
// receive included) for 20 s.
func TestReliableSSHDDown(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	l.push(t)
	w := startRelWriter(t, l.FIFO, 2000, 0)
	waitFileSize(t, l.Remote, 2000*relLineSize, 30*time.Second)
	l.SSHD.Stop(t)
	outage(20 * time.Second)
	l.SSHD.Start(t)
	waitGrowth(t, l.Remote, 2000*relLineSize, 60*time.Second)
	n := w.Stop(t)
	r := waitAll(t, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("sshd stopped 1 time for 20 s: %d lines; %s; writer stalls %d", n, r, w.Stalls())
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "sshd stopped (sessions killed) for 20 s", Lines: n, Faults: 1, Report: r})
	exactlyOnce(t, r, n)
	// What push told the administrator meanwhile (issue 13, "push never
	// says it is connected or delivering"): every connect with its time,
	// the failure classified with its fix after a few attempts and then
	// quiet (not once per retry), the recovery with the count, and the
	// backlog once delivered.
	log := string(readFile(l.Log))
	for _, want := range []string{`msg="connected to loghost in `, `msg="cannot connect to loghost: cannot reach the far side`, "fix: check the address, the port and the firewall",
		"after_failed_attempts=", " lines spooled during the outage\""} {
		if !strings.Contains(log, want) {
			t.Errorf("push's log does not say %s:\n%s", want, tail([]byte(log), 40))
		}
	}
	// receive's own lines keep their level, tagged with the far host, and
	// are never shown as ssh's WARN with their time and level inside.
	if !strings.Contains(log, `level=INFO msg="far[loghost]: stream starts"`) {
		t.Errorf("receive's INFO line is not in push's log at INFO as far[loghost]:\n%s", tail([]byte(log), 40))
	}
	noNestedFarLines(t, log)
	if n := strings.Count(log, "cannot connect to loghost"); n < 1 || n > 2 {
		t.Errorf("the failure explained %d times in 20 s of retries every second or so, want once per cause:\n%s", n, tail([]byte(log), 40))
	}
}

// TestReliableNetworkCut: the log host's sshd sits in its own network
// namespace behind a veth pair; the link is taken down for 20 s while lines
// flow. Packets vanish: no reset, no refusal. ssh's keepalives (1 s × 3
// here) and the ack timeout find the dead link; the receive left behind on
// the far side (sshd never notices) must not block the next session: it
// ends when the old connection's close gets through, or the next receive
// takes it over, whichever comes first.
func TestReliableNetworkCut(t *testing.T) {
	t.Parallel()
	ns, near, far, setUp := netnsLink(t)
	l := newRelLab(t, relLabOptions{SSHD: testlab.SSHDOptions{NetNS: ns, ListenAddress: far}, From: near})
	p := l.push(t, "-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=3", "-o", "ConnectTimeout=3", "--ack-timeout", "5s")
	w := startRelWriter(t, l.FIFO, 2000, 0)
	waitFileSize(t, l.Remote, 2000*relLineSize, 30*time.Second)
	setUp(false)
	cut := time.Now()
	testlab.WaitFor(t, 15*time.Second, func() bool { return p.sshChild() == 0 || strings.Contains(string(readFile(l.Log)), "not responding") }, "push to notice the dead link")
	noticed := time.Since(cut)
	leftovers := receivers(l.Remote)
	outage(20*time.Second - time.Since(cut))
	setUp(true)
	waitGrowth(t, l.Remote, 2000*relLineSize, 60*time.Second)
	n := w.Stop(t)
	r := waitAll(t, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	takeovers := countLog(readFile(l.Log), "taking over")
	t.Logf("link down 1 time for 20 s (noticed after %v; %d receivers left behind, %d taken over): %d lines; %s; writer stalls %d",
		noticed.Round(100*time.Millisecond), len(leftovers), takeovers, n, r, w.Stalls())
	recordFault(t, faultRow{Mode: "push --reliable", Fault: fmt.Sprintf("netns veth link down for 20 s (noticed after %v)", noticed.Round(time.Second)), Lines: n, Faults: 1, Report: r})
	exactlyOnce(t, r, n)
	if len(leftovers) != 1 {
		t.Errorf("%d receivers ran while the link was down, want the one left behind", len(leftovers))
	}
	if takeovers > len(leftovers) {
		t.Errorf("%d takeovers of %d receivers left behind", takeovers, len(leftovers))
	}
	if slices.ContainsFunc(receivers(l.Remote), func(pid int) bool { return slices.Contains(leftovers, pid) }) {
		t.Errorf("a receiver left behind (%v) still runs", leftovers)
	}
}

// TestReliableReceiveFrozen: the far side's receive stops (SIGSTOP) three
// times while ssh and sshd stay healthy, so keepalives see nothing wrong.
// push's ack timeout (3 s here) must notice, reconnect, and the new
// receive must take over from the frozen one (SIGTERM does nothing to a
// stopped process: it is killed).
func TestReliableReceiveFrozen(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	l.push(t, "--ack-timeout", "3s")
	w := startRelWriter(t, l.FIFO, 2000, 0)
	const freezes = 3
	frozen := 0
	serving := func() int {
		var pids []int
		testlab.WaitFor(t, 40*time.Second, func() bool {
			pids = receivers(l.Remote)
			return len(pids) == 1 && pids[0] != frozen
		}, "one receive serving the stream, not the frozen one")
		return pids[0]
	}
	for range freezes {
		pid := serving()
		// Freeze it in mid-stream, not while it starts.
		waitFileSize(t, l.Remote, int64(len(readFile(l.Remote)))+1000*relLineSize, 30*time.Second)
		syscall.Kill(pid, syscall.SIGSTOP)
		frozen = pid
	}
	serving()
	waitGrowth(t, l.Remote, 2000*relLineSize, 60*time.Second)
	n := w.Stop(t)
	r := waitAll(t, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	log := readFile(l.Log)
	timeouts, takeovers := countLog(log, "no acknowledgement while data is outstanding"), countLog(log, "taking over")
	t.Logf("receive frozen %d times (%d ack timeouts, %d takeovers): %d lines; %s", freezes, timeouts, takeovers, n, r)
	recordFault(t, faultRow{Mode: "push --reliable", Fault: fmt.Sprintf("`receive` SIGSTOPped (keepalives fine): ack timeout 3 s, takeover (%d timeouts, %d takeovers)", timeouts, takeovers), Lines: n, Faults: freezes, Report: r})
	exactlyOnce(t, r, n)
	if timeouts < freezes || takeovers < freezes {
		t.Errorf("want an ack timeout and a takeover for each of %d freezes", freezes)
	}
}

// TestReliableRotated: the log host's file rotated by rename mid-stream,
// five times: twice like logrotate with "create" (a new empty file at once),
// three times plain rename (receive creates the file itself).
func TestReliableRotated(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	l.push(t)
	w := startRelWriter(t, l.FIFO, 2000, 0)
	const rotations = 5
	for i := 1; i <= rotations; i++ {
		waitFileSize(t, l.Remote, 1000*relLineSize, 30*time.Second)
		if err := os.Rename(l.Remote, fmt.Sprintf("%s.%d", l.Remote, i)); err != nil {
			t.Fatal(err)
		}
		if i <= 2 {
			// logrotate's create: O_EXCL. receive waits for it (up to
			// a second) instead of making the file first; the real
			// logrotate would rename a file in its way to a .backup.
			if f, err := os.OpenFile(l.Remote, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640); err == nil {
				f.Close()
			} else if errors.Is(err, fs.ErrExist) {
				t.Errorf("rotation %d: receive made the file again before logrotate's create", i)
			} else {
				t.Fatal(err)
			}
		}
	}
	waitFileSize(t, l.Remote, 1000*relLineSize, 30*time.Second)
	n := w.Stop(t)
	r := waitAll(t, func() []byte { return rotatedConcat(l.Remote, rotations) }, n, 60*time.Second)
	t.Logf("file rotated by rename %d times: %d lines; %s", rotations, n, r)
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "log host's file renamed mid-stream (2× with create, 3× without)", Lines: n, Faults: rotations, Report: r})
	exactlyOnce(t, r, n)
	for i := 1; i <= rotations; i++ {
		if r := relLines.Check(readFile(fmt.Sprintf("%s.%d", l.Remote, i)), n); r.Torn != 0 {
			t.Errorf("rotated file %d holds a torn line", i)
		}
	}
}

// TestReliableQuota: receive --max-size 1MiB refuses what does not fit;
// push logs it loudly and keeps the data; raising the bound in
// authorized_keys lets everything through.
func TestReliableQuota(t *testing.T) {
	t.Parallel()
	const bound = 1 << 20
	l := newRelLab(t, relLabOptions{MaxSize: "1MiB"})
	l.push(t)
	const n = 30000 // 3 MB
	w := startRelWriter(t, l.FIFO, 10000, n)
	testlab.WaitFor(t, 60*time.Second, func() bool {
		return strings.Contains(string(readFile(l.Log)), "size bound")
	}, "push to log the refusal")
	// Sample the file's size for 4 s while push retries.
	maxSeen := int64(0)
	testlab.Poll(4*time.Second, func() bool {
		if fi, err := os.Stat(l.Remote); err == nil {
			maxSeen = max(maxSeen, fi.Size())
		}
		return false
	})
	w.Wait(t, 30*time.Second)
	if maxSeen > bound {
		t.Errorf("the file grew to %d bytes, beyond --max-size %d", maxSeen, bound)
	}
	refusals := countLog(readFile(l.Log), "the log host refuses more data")
	if refusals == 0 {
		t.Errorf("push did not log the refusal as such:\n%s", tail(readFile(l.Log), 20))
	}
	l.setKey(t, "127.0.0.1", "100MiB")
	r := waitAll(t, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("quota 1MiB reached (file at most %d bytes, %d refusals logged), then raised: %d lines; %s", maxSeen, refusals, n, r)
	recordFault(t, faultRow{Mode: "push --reliable", Fault: fmt.Sprintf("`--max-size 1MiB` reached (file never above %d bytes), then raised", maxSeen), Lines: n, Faults: 1, Report: r})
	exactlyOnce(t, r, n)
}

// TestReliableFanOut: two log hosts; the second is down for the whole run.
// The first gets everything at once; the spool keeps it for the second,
// which gets everything once it is back.
func TestReliableFanOut(t *testing.T) {
	t.Parallel()
	a := newRelLab(t, relLabOptions{})
	b := newRelLab(t, relLabOptions{})
	b.SSHD.Stop(t)
	// b's ssh_config names its alias "loghost" too: give it its own name.
	cfg := filepath.Join(a.Dir, "ssh_config")
	both := strings.Replace(string(readFile(b.SSHD.SSHConfig)), "Host loghost", "Host loghost2", 1) + "\n" + string(readFile(a.SSHD.SSHConfig))
	if err := os.WriteFile(cfg, []byte(both), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testlab.Binary(t)
	cmd := exec.Command(bin, "push", "--log", a.Log, "--log-level", "debug", "-F", cfg, "--backoff-max", "1s",
		"--reliable", "--fifo", a.FIFO, "--spool", a.Spool, a.dest(), "loghost2:"+b.Remote)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("push log:\n%s", tail(readFile(a.Log), 60))
		}
	})
	const n = 20000
	w := startRelWriter(t, a.FIFO, 2000, n)
	w.Wait(t, 60*time.Second)
	ra := waitAll(t, func() []byte { return readFile(a.Remote) }, n, 60*time.Second)
	spooled := dirSize(a.Spool)
	if spooled < n*relLineSize {
		t.Errorf("the spool holds %d bytes while the second host is down, want at least %d", spooled, n*relLineSize)
	}
	b.SSHD.Start(t)
	rb := waitAll(t, func() []byte { return readFile(b.Remote) }, n, 60*time.Second)
	t.Logf("fan-out, second host down for the whole run (1 fault): %d lines; first host: %s; second host after its return: %s", n, ra, rb)
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "2nd of 2 log hosts down for the whole run, back at the end (each host)", Lines: n, Faults: 1, Report: testlab.Report{Lost: ra.Lost + rb.Lost, Duplicated: ra.Duplicated + rb.Duplicated, OutOfOrder: ra.OutOfOrder + rb.OutOfOrder, Torn: ra.Torn + rb.Torn}})
	exactlyOnce(t, ra, n)
	exactlyOnce(t, rb, n)
	testlab.WaitFor(t, 10*time.Second, func() bool { return dirSize(a.Spool) < 64<<10 }, "the spool to be released once both hosts have everything")
}

// TestReliableSpoolBound: the log host is down while far more than
// --spool-max arrives. The oldest lines are dropped; a gap frame makes the
// receiver write one notice with the exact count in their place; all the
// rest arrives exactly once, in order.
func TestReliableSpoolBound(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	l.SSHD.Stop(t)
	l.push(t, "--spool-max", "1MiB")
	const n = 50000 // 5 MB into a 1 MiB spool
	w := startRelWriter(t, l.FIFO, 20000, n)
	w.Wait(t, 60*time.Second)
	l.SSHD.Start(t)
	got, r := waitLines(t, relLines, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("5 MB into a 1 MiB spool while the log host was down: %s; notices %q", r, r.Other)
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "5 MB into a 1 MiB spool while the host is down", Lines: n, Faults: 1, Report: testlab.Report{Duplicated: r.Duplicated, OutOfOrder: r.OutOfOrder, Torn: r.Torn},
		Note: fmt.Sprintf("%d dropped by the bound, reported by %d notice(s)", r.Lost, len(r.Other))})
	if len(r.Other) != 1 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn != 0 || r.Received+r.Lost != n {
		t.Fatalf("want one notice and the rest exactly once: %s", r)
	}
	var dropped int
	var ts, host, dest string
	if _, err := fmt.Sscanf(r.Other[0], "%s %s sshlogfwd: dropped %d lines while %s was unreachable", &ts, &host, &dropped, &dest); err != nil || dropped != r.Lost {
		t.Errorf("notice %q (%v): want it to count the %d lost lines", r.Other[0], err, r.Lost)
	}
	if !bytes.HasPrefix(got, []byte(r.Other[0]+"\n")) {
		t.Errorf("the notice is not where the lines were dropped (first)")
	}
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && strings.HasSuffix(fi.Name(), ".seg") {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestReliableStdinByteExact: the plain case, byte for byte, and a second
// run that resumes where the first stopped.
func TestReliableStdinByteExact(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	var want bytes.Buffer
	run := func(from, to int) {
		in := bytes.NewBuffer(relLines.Range(from, to))
		want.Write(in.Bytes())
		cmd := exec.Command(l.Bin, "push", "--log", l.Log, "-F", l.SSHD.SSHConfig, "--reliable", "--spool", l.Spool, l.dest())
		cmd.Stdin = in
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("push: %v\n%s\n%s", err, out, tail(readFile(l.Log), 20))
		}
	}
	run(0, 50000)
	// push exits only once everything is acknowledged: on disk already.
	if got := readFile(l.Remote); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("after the first run: %s", relLines.Check(got, 50000))
	}
	run(50000, 60000)
	if got := readFile(l.Remote); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("after the second run: %s", relLines.Check(got, 60000))
	}
}

// TestReliableReceiveRefusesRequests: through the restricted key, a request
// other than "sshlogfwd receive [--] PATH" is refused with exit status 2
// and touches nothing.
func TestReliableReceiveRefusesRequests(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	other := filepath.Join(l.Dir, "other.log")
	for _, req := range []string{
		"cat >> " + other,
		"sshlogfwd receive " + other,
		"sshlogfwd receive -- " + shellQuote(l.Remote) + " " + other,
		"sshlogfwd receive " + shellQuote(l.Remote) + " " + shellQuote(l.Remote),
		"sshlogfwd receive --max-size 0 " + shellQuote(l.Remote),
		"sshlogfwd receive " + shellQuote(l.Remote) + "; touch " + other,
		"sshlogfwd serve " + shellQuote(l.Remote),
	} {
		out, err := l.SSHD.SSH(t, req)
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "refus") {
			t.Errorf("request %q: %v, output %q; want exit status 2 and a refusal", req, err, out)
		}
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("a refused request created %s", other)
	}
	if _, err := os.Stat(l.Remote); err == nil {
		t.Errorf("a refused request created the remote file")
	}
}

// TestReliableReceiveLock: one receiver per file. A second receiver for
// another stream gets a clear error; one for the same stream (the sender
// reconnected while the old session still hangs) takes over.
func TestReliableReceiveLock(t *testing.T) {
	t.Parallel()
	bin := testlab.Binary(t)
	path := filepath.Join(t.TempDir(), "host.log")
	const streamA, streamB = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	start := func(stream string) (*exec.Cmd, *relBuf, *os.File) {
		cmd := exec.Command(bin, "receive", path)
		out := &relBuf{}
		cmd.Stdout = out
		cmd.Stderr = out
		r, w, _ := os.Pipe()
		cmd.Stdin = r
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		fmt.Fprintf(w, "sshlogfwd-push 1 %s\n", stream)
		t.Cleanup(func() { w.Close(); cmd.Process.Kill(); cmd.Wait() })
		return cmd, out, w
	}
	first, firstOut, firstIn := start(streamA)
	testlab.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(firstOut.String(), "sshlogfwd-receive 1") }, "first receiver's hello")
	fmt.Fprintf(firstIn, "D 0 6\nline1\n")

	other, otherOut, _ := start(streamB)
	done := make(chan error, 1)
	go func() { done <- other.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(otherOut.String(), "E busy") || !strings.Contains(otherOut.String(), "is being written by another receiver") {
			t.Errorf("receiver for another stream: %v\n%s", err, otherOut)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("receiver for another stream did not give up")
	}

	_, sameOut, _ := start(streamA)
	testlab.WaitFor(t, 15*time.Second, func() bool { return strings.Contains(sameOut.String(), "sshlogfwd-receive 1 "+streamA+" 6") }, "the same stream's receiver to take over at offset 6")
	if err := first.Wait(); err != nil {
		t.Errorf("the receiver taken over exited with %v\n%s", err, firstOut)
	}
	if got := string(readFile(path)); got != "line1\n" {
		t.Errorf("file %q", got)
	}
}

// TestReliableThroughput measures push --reliable against the bare
// `ssh loghost 'cat >> f'` pipe on loopback, without compression, with the
// same input file (1M lines of 124 bytes). It is a measurement, not a
// guarantee, and runs only with SSHLOGFWD_BENCH=1 (and without -race).
func TestReliableThroughput(t *testing.T) {
	if os.Getenv("SSHLOGFWD_BENCH") == "" {
		t.Skip("a measurement: set SSHLOGFWD_BENCH=1 to run it")
	}
	const n, size = 1000000, 124
	l := newRelLab(t, relLabOptions{})
	l.SSHD.SetAuthorizedKeys(t, l.SSHD.ClientPub)
	in := filepath.Join(l.Dir, "in")
	ln := testlab.Numbered(size)
	all := ln.Range(0, n)
	if err := os.WriteFile(in, all, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, argv ...string) time.Duration {
		f, _ := os.Open(in)
		defer f.Close()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = f
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out.Bytes())
		}
		d := time.Since(start)
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		t.Logf("%-18s %6.2fs %8.0f lines/s %6.1f MB/s (cpu of the command and its children %.2fs)", name, d.Seconds(), n/d.Seconds(), float64(n*size)/d.Seconds()/1e6, cpu.Seconds())
		return d
	}
	for round := range 3 {
		bare := filepath.Join(l.Dir, fmt.Sprintf("bare%d.log", round))
		rel := filepath.Join(l.Dir, fmt.Sprintf("rel%d.log", round))
		tb := run("ssh 'cat >> f'", "ssh", "-F", l.SSHD.SSHConfig, "-o", "Compression=no", l.SSHD.Alias, "cat >> "+shellQuote(bare))
		remote := []string{"--remote-sshlogfwd", l.Bin}
		var profile []string
		if dir := os.Getenv("SSHLOGFWD_BENCH_PROFILE"); dir != "" {
			profile = []string{"--cpuprofile", filepath.Join(dir, fmt.Sprintf("push%d.prof", round))}
			// sshlogfwd refuses to profile under sshd; the lab's key is
			// not restricted, its client chooses the command anyway.
			remote = []string{"--remote-command", "env -u SSH_CONNECTION " + l.Bin + " --cpuprofile " + shellQuote(filepath.Join(dir, fmt.Sprintf("receive%d.prof", round))) + " receive " + shellQuote(rel)}
		}
		args := append([]string{l.Bin, "push"}, profile...)
		args = append(args, "--log", l.Log, "-F", l.SSHD.SSHConfig, "--no-compress", "--reliable",
			"--spool", filepath.Join(l.Dir, fmt.Sprintf("spool%d", round)))
		tr := run("push --reliable", append(append(args, remote...), l.SSHD.Alias+":"+rel)...)
		t.Logf("round %d: push --reliable / bare ssh = %.2f", round+1, tb.Seconds()/tr.Seconds())
		if !bytes.Equal(readFile(rel), all) {
			t.Errorf("round %d: %s", round+1, ln.Check(readFile(rel), n))
		}
	}
}

// TestReliableDiskFull: the log host's disk fills up (a 256 KiB tmpfs).
// receive writes whole frames only, cuts off a partial write, says
// "nospace" and exits; once there is room again, the next session resumes
// exactly where the file ends.
func TestReliableDiskFull(t *testing.T) {
	t.Parallel()
	bin := testlab.Binary(t)
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a small tmpfs: %v\n%s (CI=true, not skipping)", err, out)
		}
		t.Skipf("mount a small tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	path := filepath.Join(mnt, "host.log")
	const stream = "cccccccccccccccccccccccccccccccc"
	all := relLines.Range(0, 6000) // 600 KB: more than the disk holds
	session := func(from int64) (string, error) {
		cmd := exec.Command(bin, "receive", path)
		in, _ := cmd.StdinPipe()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(in, "sshlogfwd-push 1 %s\n", stream)
		for off := from; off < int64(len(all)); off += 64 * relLineSize {
			end := min(off+64*relLineSize, int64(len(all)))
			fmt.Fprintf(in, "D %d %d\n", off, end-off)
			if _, err := in.Write(all[off:end]); err != nil {
				break // receive gave up
			}
		}
		in.Close()
		err := cmd.Wait()
		return out.String(), err
	}
	out, err := session(0)
	if err == nil || !strings.Contains(out, "E nospace") {
		t.Fatalf("disk full: %v\n%s", err, out)
	}
	got := readFile(path)
	if len(got)%relLineSize != 0 || !bytes.Equal(got, all[:len(got)]) {
		t.Fatalf("after the disk filled, the file holds %d bytes that are not whole lines of the stream", len(got))
	}
	if out, err := exec.Command("mount", "-o", "remount,size=2m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v\n%s", err, out)
	}
	out, err = session(int64(len(got)))
	if err != nil || !strings.Contains(out, fmt.Sprintf("sshlogfwd-receive 1 %s %d", stream, len(got))) {
		t.Fatalf("with room again: %v\n%s", err, out)
	}
	r := relLines.Check(readFile(path), 6000)
	t.Logf("disk full at %d bytes, then room again: %s", len(got), r)
	recordFault(t, faultRow{Mode: "push --reliable", Fault: "256 KiB tmpfs fills up, then grows", Lines: 6000, Faults: 1, Report: r})
	exactlyOnce(t, r, 6000)
}
