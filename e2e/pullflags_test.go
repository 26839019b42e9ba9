package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestPullIdleTimeout: serve stops answering (SIGSTOP: ssh and sshd stay
// healthy, so keepalives see nothing) while lines are written; with no
// data and no heartbeat for --idle-timeout, pull reconnects, and the lines
// arrive exactly once from the cursor.
func TestPullIdleTimeout(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	w.Write(100)
	p := l.startPull("--from", "start", "--idle-timeout", "2s")
	waitOutputSize(t, l.out, 100*plLineSize, 20*time.Second, p.log)
	var frozen []int
	testlab.WaitFor(t, 10*time.Second, func() bool { frozen = l.servePIDs(); return len(frozen) == 1 }, "one serve")
	if err := syscall.Kill(frozen[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(frozen[0], syscall.SIGKILL); syscall.Kill(frozen[0], syscall.SIGCONT) })
	w.Write(100)
	testlab.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(p.log(), "no data and no heartbeat from serve: reconnecting") },
		"pull to give up on the frozen serve\n%s", p.log())
	if r := waitPulled(t, l.out, 200, 30*time.Second, p.log); !r.Exact(200) {
		t.Errorf("after the reconnect: %s", r)
	}
}

// TestPullToStdoutAndSIGINT: without --output pull writes to standard
// output; SIGINT stops it like SIGTERM (status 0, cursor saved), and the
// next run goes on exactly where the first stopped.
func TestPullToStdoutAndSIGINT(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	cursor := filepath.Join(t.TempDir(), "cursor")
	run := func(want int) []byte {
		t.Helper()
		cmd := exec.Command(l.bin, "pull", "-F", l.sshd.SSHConfig, "--cursor-file", cursor, "--from", "start", "--backoff-max", "1s", l.src())
		cmd.Env = append(os.Environ(), plGORACE)
		var out relBuf
		var errs relBuf
		cmd.Stdout, cmd.Stderr = &out, &errs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		testlab.WaitFor(t, 30*time.Second, func() bool { return len(out.String()) >= want*plLineSize }, "%d lines on standard output\n%s", want, &errs)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pull after SIGINT: %v, want status 0\n%s", err, &errs)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("pull still runs 30 s after SIGINT\n%s", &errs)
		}
		return []byte(out.String())
	}
	w.Write(100)
	first := run(100)
	w.Write(100)
	second := run(100)
	if r := plLines.Check(append(first, second...), 200); !r.Exact(200) {
		t.Errorf("two runs to standard output, stopped by SIGINT: %s", r)
	}
}

// TestPullSIGHUPReopensLog: logrotate renames pull's --log and sends
// SIGHUP; the new file gets the lines from then on.
func TestPullSIGHUPReopensLog(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	logPath := filepath.Join(l.dir, "pull.log")
	p := l.startPull("--log", logPath)
	testlab.WaitFor(t, 20*time.Second, func() bool { return len(readFile(logPath)) > 0 }, "pull's first log line")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	testlab.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(string(readFile(logPath)), "SIGHUP: reopened") },
		"the reopened log to get lines")
	if strings.Contains(string(readFile(logPath+".1")), "SIGHUP: reopened") {
		t.Errorf("the renamed log got lines after the SIGHUP")
	}
	if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("pull after SIGTERM: %v", err)
	}
}

// TestPullEndsUnfinishedLineAtRotation: the remote file is rotated while
// its last line is unfinished; pull ends that line with a newline, so that
// the new file's first line does not continue it.
func TestPullEndsUnfinishedLineAtRotation(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	const partial = "a line the writer never finished"
	if err := os.WriteFile(l.log, append(plLines.Range(0, 10), partial...), 0o644); err != nil {
		t.Fatal(err)
	}
	p := l.startPull("--from", "start")
	testlab.WaitFor(t, 20*time.Second, func() bool { return bytes.HasSuffix(readFile(l.out), []byte(partial)) },
		"the unfinished line in the output\n%s", p.log())
	if err := os.Rename(l.log, l.log+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.log, plLines.Range(10, 20), 0o644); err != nil {
		t.Fatal(err)
	}
	want := append(append(plLines.Range(0, 10), partial+"\n"...), plLines.Range(10, 20)...)
	data, ok := plLines.WaitQuiet(func() []byte { return readFile(l.out) }, 19, quietAfterLast, 30*time.Second)
	if !ok || !bytes.Equal(data, want) {
		t.Errorf("output after the rotation:\n%q\nwant\n%q\n%s", data, want, p.log())
	}
}

// TestPullCursorLocked: a second pull on a cursor file another pull holds
// is refused, naming the cursor's lock, and the first goes on untouched.
// (The exit status is 1 with the holder's pid in the message once pull's
// engine in internal/pull is in: it takes the lock with fsutil.TryLockFile.)
func TestPullCursorLocked(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	w := newPLWriter(t, l.log)
	w.Write(100)
	p := l.startPull("--from", "start")
	waitOutputSize(t, l.out, 100*plLineSize, 20*time.Second, p.log)
	other := filepath.Join(l.dir, "other.log")
	second := runBinary(t, runOpts{env: []string{plGORACE}, timeout: 30 * time.Second}, "pull", "-F", l.sshd.SSHConfig, "--output", other,
		"--cursor-file", l.out+".cursor", "--from", "start", l.src())
	if second.Code == 0 || !strings.Contains(second.Stderr+second.Stdout, l.out+".cursor.lock") {
		t.Errorf("second pull on the same cursor: %s; want a refusal naming %s", second, l.out+".cursor.lock")
	}
	if len(readFile(other)) != 0 {
		t.Errorf("the refused pull wrote %d bytes", len(readFile(other)))
	}
	w.Write(100)
	if r := waitPulled(t, l.out, 200, 30*time.Second, p.log); !r.Exact(200) {
		t.Errorf("the first pull after the refusal: %s", r)
	}
}
