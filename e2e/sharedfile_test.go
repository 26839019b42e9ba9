package e2e

// Two writers on one file (issue 13's data loss: the README once used one
// file as push's DEST and pull's --output), and pull's bounds against a
// hostile far side.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// sharedLines is how many lines the shared-file tests push.
const sharedLines = 1000

// waitExit waits for p to exit on its own and returns its exit status.
func (p *plProc) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("pull still running after %v; want it to refuse and exit\n%s", timeout, p.log())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("pull: %v", p.err)
	}
	return 0
}

// refused checks that pull exited with status 2 and said want.
func (p *plProc) refused(t *testing.T, want string) {
	t.Helper()
	code := p.waitExit(t, 30*time.Second)
	// The stderr reader may store pull's last line just after the exit is
	// seen: wait for it (a bound that only catches a hang).
	testlab.Poll(10*time.Second, func() bool { return strings.Contains(p.log(), want) })
	if code != 2 || !strings.Contains(p.log(), want) {
		t.Fatalf("pull exited %d, want 2 with %q in its log:\n%s", code, want, p.log())
	}
}

// sharedLabs are a log host that takes reliable pushes into one file
// (receive) and a watched host that serves its log to pull (serve), with
// pull's --output set to the file receive writes.
func sharedLabs(t *testing.T) (*relLab, *plLab) {
	t.Helper()
	rel := newRelLab(t, relLabOptions{})
	pl := newPLLab(t)
	pl.out = rel.Remote
	return rel, pl
}

// TestSharedFileReliablePushThenPull: the README's old mistake in the
// order met: 1,000 lines pushed with --reliable and acknowledged, then a
// reliable pull given the same file as --output. pull refuses at start,
// naming the receiver, again when restarted, and the acknowledged lines
// stay.
func TestSharedFileReliablePushThenPull(t *testing.T) {
	t.Parallel()
	rel, pl := sharedLabs(t)
	push := rel.push(t)
	startRelWriter(t, rel.FIFO, 5000, sharedLines)
	exactlyOnce(t, waitAll(t, func() []byte { return readFile(rel.Remote) }, sharedLines, 60*time.Second), sharedLines)

	newPLWriter(t, pl.log).Write(100)
	for range 2 { // started, and restarted as a supervisor would
		p := pl.startPull("--from", "start")
		p.refused(t, rel.Remote+" is written by sshlogfwd receive")
		if !strings.Contains(p.log(), "give pull its own --output") {
			t.Errorf("the refusal does not say what to do:\n%s", p.log())
		}
	}
	exactlyOnce(t, relLines.Check(readFile(rel.Remote), sharedLines), sharedLines)
	if err := push.Stop(t, 15*time.Second); err != nil {
		t.Errorf("push: %v", err)
	}
}

// TestSharedFilePullThenReliablePush: the other order, as issue 13
// reproduced the loss: pull writes the file, a reliable push is pointed at
// it, pull is killed -9 and restarted. The receiver refuses the file
// (naming pull), push keeps its 1,000 lines in the spool, and pull's own
// lines are in the output exactly once: nothing was cut.
func TestSharedFilePullThenReliablePush(t *testing.T) {
	t.Parallel()
	rel, pl := sharedLabs(t)
	w := newPLWriter(t, pl.log)
	w.Write(100)
	p := pl.startPull("--from", "start")
	waitOutputSize(t, pl.out, 100*plLineSize, 20*time.Second, p.log)

	push := rel.push(t)
	rw := startRelWriter(t, rel.FIFO, 5000, sharedLines)
	testlab.WaitFor(t, 30*time.Second, func() bool {
		return strings.Contains(string(readFile(rel.Log)), "is written by sshlogfwd pull")
	}, "push to be refused, naming pull\n%s", tail(readFile(rel.Log), 20))
	rw.Wait(t, 30*time.Second) // all in the FIFO, then in push's spool

	p.cmd.Process.Kill()
	<-p.done
	w.Write(50)
	p = pl.startPull("--from", "start")
	r := waitPulled(t, pl.out, 150, 30*time.Second, p.log)
	if !r.Exact(150) {
		t.Fatalf("pull's own lines after the restart: %s", r)
	}
	if strings.Contains(p.log(), "removing") {
		t.Errorf("pull cut its output:\n%s", p.log())
	}
	if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("pull after SIGTERM: %v", err)
	}
	if err := push.Stop(t, 15*time.Second); err != nil {
		t.Errorf("push: %v", err)
	}
	if log := string(readFile(rel.Log)); !strings.Contains(log, fmt.Sprintf("kept in the spool for the next start\" dest=%s bytes=%d", rel.dest(), sharedLines*relLineSize)) {
		t.Errorf("push did not keep its %d lines for the next start:\n%s", sharedLines, tail([]byte(log), 20))
	}
}

// TestSharedFileForeignAppend: another program (no mark of ours: `cat >>`,
// an administrator's echo) appends to pull's output while pull is down.
// After pull was killed -9, the bytes are checked against what serve sends
// again and pull stops at the first difference; after a clean stop it
// refuses at once. Either way nothing is cut.
func TestSharedFileForeignAppend(t *testing.T) {
	t.Parallel()
	for _, stop := range []string{"kill -9", "SIGTERM"} {
		t.Run(stop, func(t *testing.T) {
			t.Parallel()
			l := newPLLab(t)
			w := newPLWriter(t, l.log)
			w.Write(100)
			p := l.startPull("--from", "start")
			waitOutputSize(t, l.out, 100*plLineSize, 20*time.Second, p.log)
			// Let the cursor be saved (every --fsync, 1 s) with all of it.
			testlab.WaitFor(t, 10*time.Second, func() bool {
				return strings.Contains(string(readFile(l.out+".cursor")), fmt.Sprintf(":%d\n", 100*plLineSize))
			}, "cursor saved at the output's end")
			if stop == "kill -9" {
				p.cmd.Process.Kill()
				<-p.done
			} else if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
				t.Fatalf("pull after SIGTERM: %v", err)
			}
			foreign := "an administrator's line\n"
			f, err := os.OpenFile(l.out, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(foreign)
			f.Close()
			want := string(readFile(l.out))

			p = l.startPull("--from", "start")
			w.Write(10) // serve sends these where the foreign line is
			if stop == "kill -9" {
				p.refused(t, "are not what serve sends again")
			} else {
				p.refused(t, "pull stopped cleanly")
			}
			if got := string(readFile(l.out)); got != want {
				t.Fatalf("output changed after the refusal: %d bytes, want the %d there before", len(got), len(want))
			}
		})
	}
}

// TestPullMaxSizeAndFarStderrFlood: a hostile far side sends far more than
// the bound and floods its stderr. The output never grows beyond
// --max-size and ends at a whole line; pull logs at most its cap of the
// far side's lines and counts the rest; after the output is rotated and
// pull reopens it (SIGHUP), the next lines follow exactly.
func TestPullMaxSizeAndFarStderrFlood(t *testing.T) {
	t.Parallel()
	const bound, total = 1000, 3000 // lines
	l := newPLLabKey(t, func(l *plLab, pub string) string {
		script := filepath.Join(l.dir, "flood.sh")
		os.WriteFile(script, []byte("#!/bin/sh\nseq 1 5000 | sed 's/^/noise /' >&2\nexec "+l.bin+" serve "+l.log+"\n"), 0o755)
		return testlab.RestrictedKeyLine(pub, "127.0.0.1", script)
	})
	w := newPLWriter(t, l.log)
	w.Write(total)
	p := l.startPull("--from", "start", "--max-size", fmt.Sprint(bound*plLineSize))
	testlab.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(p.log(), "reached its size bound") }, "the bound to be reached\n%s", p.log())
	data, _ := plLines.WaitQuiet(func() []byte { return readFile(l.out) }, bound-1, time.Second, 20*time.Second)
	if r := plLines.Check(data, bound); !r.Exact(bound) || len(data) != bound*plLineSize {
		t.Fatalf("output at the bound: %d bytes, %s; want exactly the first %d lines", len(data), r, bound)
	}
	log := p.log()
	if n := strings.Count(log, "noise "); n > 150 || !strings.Contains(log, "the rest are counted") {
		t.Fatalf("%d of the far side's 5000 stderr lines in pull's log, want at most the cap and a count of the rest:\n%s", n, tail([]byte(log), 20))
	}

	if err := os.Rename(l.out, l.out+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitOutputSize(t, l.out, bound*plLineSize, 30*time.Second, p.log)
	both := append(readFile(l.out+".1"), readFile(l.out)...)
	if r := plLines.Check(both, 2*bound); !r.Exact(2 * bound) {
		t.Fatalf("after the rotation: %s", r)
	}
	if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("pull after SIGTERM: %v", err)
	}
	if !strings.Contains(p.log(), "suppressed 4900 lines from far[loghost]") {
		t.Errorf("no count of the far side's suppressed lines at the connection's end:\n%s", tail([]byte(p.log()), 10))
	}
}
