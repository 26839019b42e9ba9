package e2e

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestServeHostileRequests sends requests an intruder holding the key might
// send. serve must refuse each with a clear message and exit status 2,
// without writing a byte of any file, and no shell syntax may run.
func TestServeHostileRequests(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	if err := os.WriteFile(l.log, []byte("served line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(l.dir, "secret")
	if err := os.WriteFile(secret, []byte("SECRET-CONTENT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(l.dir, "pwned")
	for _, req := range []string{
		"sshlogfwd serve " + secret,
		"sshlogfwd serve -- " + secret,
		"sshlogfwd serve --cursor 1:2:3 " + l.log + " " + secret,
		"sshlogfwd serve --from start; cat " + secret,
		"sshlogfwd serve $(touch " + pwned + ")",
		"sshlogfwd serve `touch " + pwned + "`",
		"sshlogfwd serve --from start | cat " + secret,
		"sshlogfwd serve --output " + secret,
		"sshlogfwd serve --from start --from end",
		"sshlogfwd serve --cursor ../../etc/passwd",
		"sshlogfwd serve --poll",
		"sshlogfwd push loghost:/x",
		"cat " + secret,
		"tail -F -n 0 " + secret,
		"/tmp/evil/sshlogfwdx serve",
		"sshlogfwd serve --cursor " + strings.Repeat("9", 100_000),
	} {
		out, err := l.sshd.SSH(t, req)
		var ee *exec.ExitError
		name := req
		if len(name) > 60 {
			name = name[:60] + "..."
		}
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2\n%s", name, err, out)
		}
		if !strings.Contains(string(out), "refusing request") {
			t.Errorf("%q: no clear refusal on stderr:\n%.300s", name, out)
		}
		if strings.Contains(string(out), "SECRET-CONTENT") || strings.Contains(string(out), "served line") || strings.Contains(string(out), "sshlogfwd-stream") {
			t.Errorf("%q: file content or stream leaked:\n%.300s", name, out)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("shell syntax in the request ran")
	}
	// The narrow form itself works, with or without the (identical) path.
	for _, req := range []string{"sshlogfwd serve --from start -- " + l.log, "/usr/bin/sshlogfwd serve --from=start"} {
		cmd := l.sshd.Command(req)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(stdout)
		var got []string
		for range 3 {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			got = append(got, line)
		}
		stdin.Close()
		cmd.Wait()
		if len(got) != 3 || got[0] != "sshlogfwd-stream 1\n" || !strings.HasSuffix(got[1], ":0 start\n") || got[2] != "D "+strings.Fields(got[1])[1][:len(strings.Fields(got[1])[1])-1]+"12 12\n" {
			t.Errorf("%q: stream starts %q", req, got)
		}
	}
}

// TestServeExitsWhenClientDies: sshd does not end a no-pty forced command
// when its client dies; serve must notice by itself (its hang-up watch and
// its 500 ms heartbeat), also while the file is idle.
func TestServeExitsWhenClientDies(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	if err := os.WriteFile(l.log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := l.sshd.Command("sshlogfwd serve")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	r := bufio.NewReader(stdout)
	for range 2 { // version line and start frame
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	testlab.WaitFor(t, 5*time.Second, func() bool { return len(l.servePIDs()) == 1 }, "serve process not found")
	pids := l.servePIDs()
	cmd.Process.Kill()
	start := time.Now()
	cmd.Wait()
	// sshd does not end a no-pty command when its client dies: a serve
	// that did not notice would run on. The bound only catches that.
	testlab.WaitFor(t, 10*time.Second, func() bool { return len(l.servePIDs()) == 0 },
		"serve %v still runs after its ssh client was killed (it never noticed)", pids)
	t.Logf("SERVE EXIT: serve exited %v after its ssh client was killed -9 (idle file)", time.Since(start).Round(time.Millisecond))
}

// TestServeNoticesClosedStdout: without sshd, a client that closes serve's
// output but keeps its input open (so no EOF tells serve) is noticed by
// polling the output and by the heartbeat (every 500 ms); the test's
// bound only catches a serve that never notices.
func TestServeNoticesClosedStdout(t *testing.T) {
	t.Parallel()
	bin := testlab.Binary(t)
	log := filepath.Join(t.TempDir(), "idle.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", log)
	cmd.Env = append(os.Environ(), plGORACE)
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	r := bufio.NewReader(stdout)
	for range 3 { // version line, start frame, one heartbeat
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "S ") && !strings.HasSuffix(line, " end\n") {
			t.Errorf("without a request serve starts with %q, want the end", line)
		}
	}
	stdout.Close()
	start := time.Now()
	select {
	case err := <-done:
		t.Logf("serve exited %v after its output was closed: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve still runs 10 s after its output was closed: it never noticed")
	}
}

// TestPullReliableAgainstTailKey: reliable pull against the article's
// forced `tail -f` key says what is wrong instead of writing garbage.
func TestPullReliableAgainstTailKey(t *testing.T) {
	t.Parallel()
	l := newPLLabKey(t, func(l *plLab, pub string) string {
		return testlab.RestrictedKeyLine(pub, "127.0.0.1", "tail -f "+l.log)
	})
	w := newPLWriter(t, l.log)
	w.Write(10)
	p := l.startPull()
	testlab.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(p.log(), "Use --compat") },
		"no explanation in the log:\n%s", p.log())
	if b := readFile(l.out); len(b) != 0 {
		t.Errorf("output has %d bytes of a non-stream", len(b))
	}
	if err := p.stop(t, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Errorf("pull after SIGTERM: %v", err)
	}
}

// TestPullUsageErrors: contradictory flags are refused with exit status 2.
func TestPullUsageErrors(t *testing.T) {
	t.Parallel()
	bin := testlab.Binary(t)
	for _, args := range [][]string{
		{"pull", "--compat", "--from", "start", "h:/x"},
		{"pull", "--compat", "--cursor-file", "/tmp/c", "h:/x"},
		{"pull", "--compat", "--reliable", "h:/x"},
		{"pull", "--", "-oProxyCommand=x:/y"},
		{"pull", "h"},
		{"serve", "--cursor", "1:2", "/x"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2\n%s", args, err, out)
		}
	}
}

// TestPullWrongPath: a pull asking for another file than the key serves
// is refused with a message naming the path.
func TestPullWrongPath(t *testing.T) {
	t.Parallel()
	l := newPLLab(t)
	p := l.start("pull", "pull", "-F", l.sshd.SSHConfig, "--output", l.out, l.sshd.Alias+":/etc/passwd")
	testlab.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(p.log(), "is not the path this key serves") },
		"no explanation in the log:\n%s", p.log())
}
