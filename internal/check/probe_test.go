package check

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
)

const marker = "test-connected-marker"

// fakeProber runs "ssh" children that are shell scripts: they say marker
// on stderr when "connected", as ssh's LocalCommand does.
func fakeProber(t *testing.T, clk clock.Clock, extra ...string) *prober {
	t.Helper()
	o := Options{
		SSH:       execssh.Options{ReadyMarker: marker, Extra: extra},
		ProbeWait: 3 * time.Second,
		Clock:     clk,
		Logger:    slog.New(slog.DiscardHandler),
	}
	return newProber(context.Background(), o, &report{w: &bytes.Buffer{}}, execssh.Dest{Host: "loghost", Path: "/r.log"}, roleLogHost, keyLine{mode: "push"})
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// runWithin is p.run for a child that ends on its own; the deadline only
// catches a run that waits for a fake timer nobody advances.
func runWithin(t *testing.T, p *prober, argv []string, o runOptions) probeResult {
	t.Helper()
	var res probeResult
	waitFor(t, "the probe to end with its child", func() { res = p.run(argv, o) })
	return res
}

// Once ssh is in, the probe's input is sent and closed, and what the far
// side answers and its status are kept.
func TestRunConnected(t *testing.T) {
	p := fakeProber(t, clock.NewFake(time.Unix(0, 0)))
	res := runWithin(t, p, sh("echo "+marker+" >&2; cat; echo 'far side done' >&2; exit 3"), runOptions{stdin: "hello\n"})
	if !res.connected || !res.exited || string(res.stdout) != "hello\n" || res.exitCode() != 3 || res.lastStderr() != "far side done" {
		t.Errorf("got connected=%v exited=%v stdout=%q status=%d stderr=%q", res.connected, res.exited, res.stdout, res.exitCode(), res.stderr)
	}
}

// A child that got in and ended before the probe looked (a far side that
// fails at once, on a loaded machine) counts as connected: both its
// marker and its end are there, and the marker came first. Picking one
// at random made a shell's "not found" a connection failure.
func TestAwaitChildThatAlreadyEnded(t *testing.T) {
	p := fakeProber(t, clock.NewFake(time.Unix(0, 0)))
	c, err := execssh.Start(execssh.StartOptions{Argv: sh("echo " + marker + " >&2; echo 'sh: 1: sshlogfwd: not found' >&2; exit 127"), ReadyMarker: marker})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	for i := range 50 { // a random pick is right 50 times in a row once in 2^50
		if connected, exited := p.await(c, runOptions{}); !connected || !exited {
			t.Fatalf("await %d of a child that connected and ended: connected=%v exited=%v", i+1, connected, exited)
		}
	}
}

// A child that fails before the marker never got in: nothing is sent,
// and its complaint is kept for explainSSHFailure.
func TestRunNotConnected(t *testing.T) {
	p := fakeProber(t, clock.NewFake(time.Unix(0, 0)))
	res := runWithin(t, p, sh("echo 'ssh: connect to host h port 22: Connection refused' >&2; exit 255"), runOptions{stdin: "never sent\n"})
	if res.connected || len(res.stdout) != 0 {
		t.Fatalf("got connected=%v stdout=%q", res.connected, res.stdout)
	}
	if problem, _ := p.explainSSHFailure(res); !strings.Contains(problem, "cannot reach the log host") {
		t.Errorf("problem %q", problem)
	}
}

// With the user's own LocalCommand there is no marker: the connection is
// judged by the exit status, 255 being ssh's own failure.
func TestRunWithoutMarker(t *testing.T) {
	for _, tt := range []struct {
		code      string
		connected bool
	}{{"0", true}, {"2", true}, {"255", false}} {
		p := fakeProber(t, clock.NewFake(time.Unix(0, 0)), "LocalCommand=true")
		res := runWithin(t, p, sh("cat; exit "+tt.code), runOptions{stdin: "x\n"})
		if res.connected != tt.connected || !res.exited {
			t.Errorf("exit %s: connected=%v exited=%v, want connected=%v", tt.code, res.connected, res.exited, tt.connected)
		}
		if tt.connected && string(res.stdout) != "x\n" {
			t.Errorf("exit %s: the input was not sent: stdout %q", tt.code, res.stdout)
		}
	}
}

// A far side that keeps running is stopped after ProbeWait plus the
// probe's own wait, on the options' clock.
func TestRunStopsAfterWait(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	p := fakeProber(t, clk)
	done := make(chan probeResult, 1)
	go func() {
		done <- p.run(sh("echo "+marker+" >&2; exec sleep 600"), runOptions{wait: 2 * time.Second})
	}()
	waitFor(t, "the probe to wait for the far side (two timers)", func() { clk.WaitForWaiters(2) })
	clk.Advance(5*time.Second - time.Millisecond)
	if n := clk.Waiters(); n != 2 {
		// A fake timer that fires is disarmed within Advance.
		t.Fatalf("%d timers armed after ProbeWait + wait - 1ms, want both: the probe stopped waiting early", n)
	}
	clk.Advance(time.Millisecond)
	select {
	case res := <-done:
		if !res.connected || res.exited {
			t.Errorf("connected=%v exited=%v, want a connected far side that was stopped", res.connected, res.exited)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hang: run did not stop the far side when its wait ran out")
	}
}

// waitFor runs f, which blocks until a condition holds; the deadline only
// catches a hang.
func waitFor(t *testing.T, what string, f func()) {
	t.Helper()
	ok := make(chan struct{})
	go func() { f(); close(ok) }()
	select {
	case <-ok:
	case <-time.After(10 * time.Second):
		t.Fatalf("hang: waiting for %s", what)
	}
}

// Push and pull ask the far side for exactly what the real commands send.
func TestRemoteCommands(t *testing.T) {
	path := "/var/log/it's.log"
	for _, tt := range []struct {
		name string
		got  string
		want string
	}{
		{"push", (&PushOptions{}).remoteCommand(path), request.Append(path)},
		{"push --reliable", (&PushOptions{Reliable: true, RemoteBinary: "/opt/sshlogfwd"}).remoteCommand(path), request.Receive("/opt/sshlogfwd", path)},
		{"push --remote-command", (&PushOptions{Reliable: true, RemoteCommand: "logger -t x"}).remoteCommand(path), "logger -t x"},
		{"pull", (&PullOptions{Src: execssh.Dest{Path: path}, RemoteBinary: "sshlogfwd", From: "start"}).remoteCommand(), request.Serve("sshlogfwd", path, request.ServeRequest{From: "start"})},
		{"pull --compat", (&PullOptions{Src: execssh.Dest{Path: path}, Compat: true}).remoteCommand(), request.Tail(path)},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// Local findings alone make the result ErrFailed; a spool or state
// directory that could not be resolved is a FAIL of its own.
func TestPushPullLocalOnly(t *testing.T) {
	for _, v := range []string{"STATE_DIRECTORY", "XDG_STATE_HOME", "HOME"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	var b bytes.Buffer
	err := Push(context.Background(), PushOptions{Options: Options{Out: &b}})
	if !errors.Is(err, ErrFailed) || !strings.HasPrefix(b.String(), "FAIL  --spool: no state directory: ") || !strings.HasSuffix(b.String(), ". Fix: give --spool DIR, or set STATE_DIRECTORY=DIR as the unit does\n") {
		t.Errorf("push: %v, report %q", err, b.String())
	}
	b.Reset()
	spool := filepath.Join(t.TempDir(), "spool")
	os.Mkdir(spool, 0o700)
	err = Push(context.Background(), PushOptions{Options: Options{Out: &b}, Spool: spool})
	if err != nil || !strings.HasPrefix(b.String(), "OK    --spool ") {
		t.Errorf("push with a good spool: %v, report %q", err, b.String())
	}
	b.Reset()
	err = Pull(context.Background(), PullOptions{
		Options: Options{Out: &b, SSHPath: "/nonexistent/ssh"},
		Src:     execssh.Dest{Host: "web1", Path: "/var/log/auth.log"},
	})
	want := "FAIL  cursor: no state directory: neither $STATE_DIRECTORY, $XDG_STATE_HOME nor $HOME is set: $HOME is not defined. Fix: give --output FILE (the cursor is kept beside it) or --cursor-file FILE, or set STATE_DIRECTORY=DIR as the unit does\nFAIL  ssh web1: ssh -G: "
	if !errors.Is(err, ErrFailed) || !strings.HasPrefix(b.String(), want) || !strings.Contains(b.String(), "Fix: check --ssh, -F and -o") {
		t.Errorf("pull: %v, report %q", err, b.String())
	}
}
