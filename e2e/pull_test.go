package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// The kill tests append plKillLines numbered lines at plKillRate lines/s.
const (
	plKillLines = 100_000
	plKillRate  = 5_000
)

// TestPullReliableSSHKilled: the pull's ssh child is killed -9 every 2 s
// while 100,000 lines are appended at 5,000/s; every line arrives exactly
// once and in order.
func TestPullReliableSSHKilled(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	p := l.startPull("--from", "start")
	k := testlab.StartKiller(testlab.Every(2*time.Second), p.sshChildren)
	start := time.Now()
	w.Run(context.Background(), plKillLines, plKillRate, nil)
	kills := k.Stop()
	r := waitPulled(t, l.out, plKillLines, 60*time.Second, p.log)
	t.Logf("reliable, ssh killed -9 %d times: %s (%v)", kills, r, time.Since(start).Round(time.Millisecond))
	recordFault(t, faultRow{Mode: "pull", Fault: "ssh child killed -9 every 2 s", Lines: plKillLines, Faults: kills, Report: r})
	if !r.Exact(plKillLines) || kills < 3 {
		t.Fatalf("want every line exactly once in order with at least 3 kills: %s, kills %d", r, kills)
	}
	if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("pull after SIGTERM: %v", err)
	}
}

// TestPullCompatSSHKilled: what the compatible mode loses or repeats
// under the same kills, with our own `tail -F -n 0` and with the article's
// forced command="tail -f FILE" key. It promises whole lines (a line cut
// by a kill is ended with a newline: at most one torn line per kill), no
// line twice and the order kept (the article's tail -f repeats its last
// 10 lines on every reconnect), and loses only the lines written while it
// reconnects.
func TestPullCompatSSHKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  func(l *plLab, pub string) string
		// repeats is how many lines one reconnect may repeat.
		repeats int
	}{
		{"tail -F -n 0", func(l *plLab, pub string) string { return `restrict,from="127.0.0.1" ` + pub }, 0},
		{"article forced tail -f", func(l *plLab, pub string) string {
			return testlab.RestrictedKeyLine(pub, "127.0.0.1", "tail -f "+l.log)
		}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newPLLabKey(t, tc.key)
			w := newPLWriter(t, l.log)
			w.Write(1) // tail -f needs the file to exist
			p := l.startPull("--compat")
			// Wait until the stream carries lines before counting.
			testlab.WaitFor(t, 10*time.Second, func() bool { w.Write(1); return len(readFile(l.out)) > 0 }, "nothing arrives\n%s", p.log())
			k := testlab.StartKiller(testlab.Every(2*time.Second), p.sshChildren)
			first := w.Next()
			w.Run(context.Background(), first+plKillLines, plKillRate, nil)
			kills := k.Stop()
			// The last lines may be lost too: go on writing lines until
			// one of them arrives, then count only the numbered ones.
			end := w.Next()
			testlab.WaitFor(t, 30*time.Second, func() bool {
				w.Write(1)
				return plLines.TailMax(readFile(l.out), 8) >= end
			}, "stream did not recover after the kills\n%s", p.log())
			if err := p.stop(t, syscall.SIGTERM, 10*time.Second); err != nil {
				t.Errorf("pull after SIGTERM: %v", err)
			}
			// Lines before first were the warm-up; lines at or past end
			// are the recovery probe.
			r := plLines.CheckRange(readFile(l.out), first, end)
			t.Logf("COMPAT (%s), ssh killed -9 %d times, %d lines at %d/s: %s; lost per kill %.0f (bound %d)",
				tc.name, kills, plKillLines, plKillRate, r, float64(r.Lost)/float64(max(kills, 1)), compatPullLossBound)
			recordFault(t, faultRow{Mode: "pull --compat", Fault: fmt.Sprintf("ssh child killed -9 every 2 s (%s)", tc.name), Lines: plKillLines, Faults: kills, Report: r,
				Note: fmt.Sprintf("%.0f lines lost per kill (bound %d)", float64(r.Lost)/float64(max(kills, 1)), compatPullLossBound)})
			if kills < 3 {
				t.Errorf("only %d kills happened, want at least 3", kills)
			}
			if r.Duplicated > kills*tc.repeats || r.OutOfOrder > kills*tc.repeats {
				t.Errorf("%d duplicated and %d out of order in %d kills, want at most %d per kill", r.Duplicated, r.OutOfOrder, kills, tc.repeats)
			}
			if r.Torn > kills {
				t.Errorf("%d torn lines in %d kills: only the line a kill cuts may be torn", r.Torn, kills)
			}
			if r.Lost > kills*compatPullLossBound {
				t.Errorf("lost %d lines in %d kills: more than %d per reconnect; missing %s", r.Lost, kills, compatPullLossBound, r.Gaps(10))
			}
		})
	}
}

// compatPullLossBound is how many lines one reconnect of a compatible
// pull may lose at plKillRate: those written from the kill until the new
// tail runs. Measured (docs/guarantees.md): 0.4-0.5 s of lines per
// reconnect (backoff plus connection setup); this allows 1.2 s, under
// -race on a loaded machine, well below the 2 s between kills.
const compatPullLossBound = plKillRate * 12 / 10

// TestPullFromStartAndBasics: --from start reads what is there, then
// follows; SIGTERM exits 0 and the cursor file is written.
func TestPullFromStartAndBasics(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	w.Write(100)
	p := l.startPull("--from", "start")
	waitOutputSize(t, l.out, 100*plLineSize, 20*time.Second, p.log)
	w.Write(50)
	waitOutputSize(t, l.out, 150*plLineSize, 10*time.Second, p.log)
	if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("pull after SIGTERM: %v", err)
	}
	if r := plLines.Check(readFile(l.out), 150); !r.Exact(150) {
		t.Fatal(r)
	}
	b, err := os.ReadFile(l.out + ".cursor")
	if err != nil || !strings.Contains(string(b), "cursor ") {
		t.Fatalf("cursor file: %q, %v", b, err)
	}
	fi, _ := os.Stat(l.out)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("output mode %v, want 0640", fi.Mode().Perm())
	}
}

// TestPullRestartedKill9: pull itself is killed -9 three times while the
// lines are appended, and started again each time; every line arrives
// exactly once and in order (the restarted pull cuts the output back to the
// saved cursor and fetches the rest again).
func TestPullRestartedKill9(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	p := l.startPull("--from", "start")
	restarts := 0
	var logs []string
	w.Run(context.Background(), plKillLines, plKillRate, func(n int) {
		if restarts < 3 && n >= (restarts+1)*plKillLines/4 {
			if err := testlab.Kill(p.pid()); err != nil {
				t.Fatalf("kill pull: %v", err)
			}
			<-p.done
			logs = append(logs, p.log())
			restarts++
			p = l.startPull("--from", "start")
		}
	})
	r := waitPulled(t, l.out, plKillLines, 60*time.Second, p.log)
	// A restart finds bytes written after the last cursor save: it cuts
	// them back (pull in cmd) or proves them its own against what serve
	// sends again (internal/pull).
	handled := 0
	for _, s := range append(logs, p.log()) {
		handled += strings.Count(s, "removing the output's last bytes") + strings.Count(s, "were pull's own")
	}
	t.Logf("reliable, pull killed -9 and restarted %d times (bytes after the saved cursor handled %d times): %s", restarts, handled, r)
	recordFault(t, faultRow{Mode: "pull", Fault: "pull killed -9 and restarted", Lines: plKillLines, Faults: restarts, Report: r,
		Note: fmt.Sprintf("bytes written after the last cursor save found by %d restarts", handled)})
	if !r.Exact(plKillLines) || restarts != 3 {
		t.Fatalf("want every line exactly once in order after 3 restarts: %s", r)
	}
	// At 5,000 lines/s a kill lands after some data was written past the
	// last cursor save (every 200 ms): a restart must have met it.
	if handled == 0 {
		t.Errorf("no restart found bytes after the saved cursor: the kills did not test that case")
	}
	if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("pull after SIGTERM: %v", err)
	}
}

// TestPullServeKilled: the far side's serve is killed -9 every 2 s.
func TestPullServeKilled(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	p := l.startPull("--from", "start")
	k := testlab.StartKiller(testlab.Every(2*time.Second), l.servePIDs)
	w.Run(context.Background(), plKillLines, plKillRate, nil)
	kills := k.Stop()
	r := waitPulled(t, l.out, plKillLines, 60*time.Second, p.log)
	t.Logf("reliable, serve killed -9 %d times: %s", kills, r)
	recordFault(t, faultRow{Mode: "pull", Fault: "`serve` killed -9 every 2 s on the far side", Lines: plKillLines, Faults: kills, Report: r})
	if !r.Exact(plKillLines) || kills < 3 {
		t.Fatalf("want every line exactly once in order with at least 3 kills: %s, kills %d", r, kills)
	}
}

// copytruncates is how many copytruncate rotations TestPullRotation does.
const copytruncates = 5

// TestPullRotation rotates the followed file in each of the usual ways
// while lines are appended at 2,000/s.
func TestPullRotation(t *testing.T) {
	t.Parallel()
	const rate, before, total = 2000, 3000, 6000
	for _, tc := range []struct {
		name string
		// rotate runs once before lines are written; it may stop and
		// restart pull.
		rotate func(t *testing.T, l *plLab, w *testlab.Writer, p **plProc)
		exact  bool
	}{
		{"rename+create", func(t *testing.T, l *plLab, w *testlab.Writer, p **plProc) {
			// logrotate's default: rename, create an empty file, signal the
			// daemon; until it reopens, it writes to the renamed file.
			if err := os.Rename(l.log, l.log+".1"); err != nil {
				t.Fatal(err)
			}
			w.Write(200)
			if err := os.WriteFile(l.log, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			w.Write(200)
			w.Reopen()
		}, true},
		{"delete+recreate", func(t *testing.T, l *plLab, w *testlab.Writer, p **plProc) {
			if err := os.Remove(l.log); err != nil {
				t.Fatal(err)
			}
			w.Write(200) // into the deleted file, still open
			w.Reopen()
		}, true},
		{"copytruncate", func(t *testing.T, l *plLab, w *testlab.Writer, p **plProc) {
			// Five copytruncate rotations while the writer goes on: what
			// it writes between pull's last read and the truncation is
			// lost to pull (it is only in the copy). The writer runs
			// until all five are done.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				w.Run(ctx, 0, 5*rate, nil)
			}()
			defer func() { cancel(); <-done }()
			for i := range copytruncates {
				mark := w.Next() + 300
				testlab.WaitFor(t, 30*time.Second, func() bool { return w.Next() >= mark }, "the writer to write 300 lines (a hang)")
				b, err := os.ReadFile(l.log)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(fmt.Sprintf("%s.%d", l.log, i+1), b, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(l.log, 0); err != nil {
					t.Fatal(err)
				}
			}
		}, false},
		{"rename+create while disconnected", func(t *testing.T, l *plLab, w *testlab.Writer, p **plProc) {
			if err := (*p).stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
				t.Fatalf("pull after SIGTERM: %v", err)
			}
			w.Write(300)
			if err := os.Rename(l.log, l.log+".1"); err != nil {
				t.Fatal(err)
			}
			w.Write(200)
			w.Reopen()
			w.Write(300)
			*p = l.startPull()
		}, true},
		{"two rotations while disconnected", func(t *testing.T, l *plLab, w *testlab.Writer, p **plProc) {
			if err := (*p).stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
				t.Fatalf("pull after SIGTERM: %v", err)
			}
			for gen := range 2 {
				w.Write(300)
				if gen == 1 {
					if err := os.Rename(l.log+".1", l.log+".2"); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Rename(l.log, l.log+".1"); err != nil {
					t.Fatal(err)
				}
				w.Write(100)
				w.Reopen()
			}
			// Rotations are hours apart in real life; written within a
			// millisecond here, the generations would share one mtime
			// tick, and the tailer orders missed generations by mtime.
			now := time.Now()
			for i, name := range []string{l.log + ".2", l.log + ".1"} {
				mt := now.Add(-time.Duration(2-i) * time.Hour)
				if err := os.Chtimes(name, mt, mt); err != nil {
					t.Fatal(err)
				}
			}
			w.Write(300)
			*p = l.startPull()
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newPLLab(t)
			w := newPLWriter(t, l.log)
			p := l.startPull("--from", "start")
			w.Run(context.Background(), before, rate, nil)
			waitOutputSize(t, l.out, before*plLineSize, 20*time.Second, p.log)
			tc.rotate(t, l, w, &p)
			w.Run(context.Background(), total, rate, nil)
			n := w.Next()
			var r testlab.Report
			if tc.exact {
				r = waitPulled(t, l.out, n, 30*time.Second, p.log)
			} else {
				if !testlab.Poll(30*time.Second, func() bool { return plLines.TailMax(readFile(l.out), 8) >= n-1 }) {
					t.Fatalf("last line did not arrive: %s\n%s", plLines.Check(readFile(l.out), n), p.log())
				}
				r = plLines.Check(readFile(l.out), n)
			}
			t.Logf("ROTATION %s, %d lines: %s", tc.name, n, r)
			faults := 1
			switch tc.name {
			case "copytruncate":
				faults = copytruncates
			case "two rotations while disconnected":
				faults = 2
			}
			recordFault(t, faultRow{Mode: "pull", Fault: "remote file rotated: " + tc.name, Lines: n, Faults: faults, Report: r})
			if tc.exact && !r.Exact(n) {
				t.Fatalf("want every line exactly once in order: %s", r)
			}
			// copytruncate loses what the writer adds between serve's last
			// read and the truncation, at most the 300 lines between two
			// rotations; it never repeats or reorders, and only a line cut
			// by a truncation is torn.
			if !tc.exact && (r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn > copytruncates || r.Lost > copytruncates*300 || len(r.Other) != 0) {
				t.Fatalf("after %d copytruncates: %s; want no line twice, in order, at most one torn line and 300 lost per rotation", copytruncates, r)
			}
		})
	}
}

// TestPullSIGHUPReopensOutput: logrotate moves the output away and sends
// SIGHUP; pull goes on in a new file, and the two hold every line once.
// A kill -9 right after the reopen must not cut the new file.
func TestPullSIGHUPReopensOutput(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	w.Write(100)
	p := l.startPull("--from", "start")
	waitOutputSize(t, l.out, 100*plLineSize, 20*time.Second, p.log)
	if err := os.Rename(l.out, l.out+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	testlab.WaitFor(t, 10*time.Second, func() bool { _, err := os.Stat(l.out); return err == nil }, "output not reopened\n%s", p.log())
	w.Write(100)
	waitOutputSize(t, l.out, 100*plLineSize, 10*time.Second, p.log)
	p.cmd.Process.Kill()
	<-p.done
	w.Write(100)
	p = l.startPull()
	waitOutputSize(t, l.out, 200*plLineSize, 20*time.Second, p.log)
	all := append(readFile(l.out+".1"), readFile(l.out)...)
	if r := plLines.Check(all, 300); !r.Exact(300) {
		t.Fatalf("rotated output + new output: %s", r)
	}
}
