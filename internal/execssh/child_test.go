package execssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
)

// The test binary doubles as a fake child (see os/exec's tests): with
// EXECSSH_FAKE set it behaves as told instead of running tests. End-to-end
// behaviour is tested against the real ssh elsewhere; this is for the
// supervisor's own logic.
func TestMain(m *testing.M) {
	if mode := os.Getenv("EXECSSH_FAKE"); mode != "" {
		fakeChild(mode)
		return
	}
	os.Exit(m.Run())
}

func fakeChild(mode string) {
	switch {
	case strings.HasPrefix(mode, "exit:"):
		code, _ := strconv.Atoi(strings.TrimPrefix(mode, "exit:"))
		fmt.Fprintln(os.Stderr, "first line")
		fmt.Fprintln(os.Stderr, "Permission denied (publickey).")
		os.Exit(code)
	case mode == "cat":
		n, _ := io.Copy(io.Discard, os.Stdin)
		fmt.Fprintf(os.Stderr, "read %d bytes\n", n)
		os.Exit(0)
	case mode == "stubborn":
		// Ignores EOF and SIGTERM; only SIGKILL ends it.
		signal.Ignore(syscall.SIGTERM)
		io.Copy(io.Discard, os.Stdin)
		time.Sleep(time.Hour)
	}
	os.Exit(3)
}

func fakeArgv(t *testing.T) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "-test.run=^$"}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog() (*slog.Logger, *logBuf) {
	var b logBuf
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

func TestChildExitExplained(t *testing.T) {
	log, buf := newLog()
	c, err := Start(StartOptions{Argv: fakeArgv(t), Name: "ssh[loghost]", Logger: log, Env: []string{"EXECSSH_FAKE=exit:255"}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Err()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code() != 255 || !ee.SSHFailed() {
		t.Fatalf("Err() = %v, want an ExitError with status 255", err)
	}
	for _, want := range []string{"ssh[loghost] exited with status 255", "could not connect or authenticate", "Permission denied (publickey)."} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Every stderr line reached the log, prefixed, before Err returned.
	for _, want := range []string{"ssh[loghost]: first line", "ssh[loghost]: Permission denied"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf)
		}
	}
	if alive(c.Pid) {
		t.Errorf("child %d not reaped", c.Pid)
	}
}

// An exit whose last stderr line is our far side's log line is explained
// with that line's message, not the raw line with its time and level
// (logged once already, at its own level).
func TestExitErrorTakesTheFarMessage(t *testing.T) {
	ee := new(exec.ExitError)
	if err := exec.Command("sh", "-c", "exit 1").Run(); !errors.As(err, &ee) {
		t.Fatalf("sh -c 'exit 1': %v", err)
	}
	far := `time=2026-12-02T12:38:59.144Z level=ERROR msg="receive /r/c.log: open lock: no such file or directory"`
	got := (&ExitError{Name: "ssh[loghost]", Err: ee, Stderr: []string{"other", far}}).Error()
	if !strings.HasSuffix(got, "(its reason is logged above)): receive /r/c.log: open lock: no such file or directory") || strings.Contains(got, "level=") {
		t.Errorf("got %q", got)
	}
	got = (&ExitError{Name: "ssh[loghost]", Err: ee, Stderr: []string{"sh: 1: cannot create /r/c.log: Directory nonexistent"}}).Error()
	if !strings.HasSuffix(got, ": sh: 1: cannot create /r/c.log: Directory nonexistent") {
		t.Errorf("a line not ours: got %q", got)
	}
}

func TestExitReasons(t *testing.T) {
	for code, want := range map[int]string{2: "cannot be created or written", 127: "not found", 1: "remote command failed", 3: "status 3"} {
		c, err := Start(StartOptions{Argv: fakeArgv(t), Name: "ssh[h]", Env: []string{"EXECSSH_FAKE=exit:" + strconv.Itoa(code)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("exit %d: %v, want %q", code, err, want)
		}
	}
}

func TestStopClosesStdinFirst(t *testing.T) {
	log, buf := newLog()
	c, err := Start(StartOptions{Argv: fakeArgv(t), Name: "ssh[h]", Logger: log, Env: []string{"EXECSSH_FAKE=cat"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stdin.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop: %v (a child that exits on EOF must end cleanly)", err)
	}
	if !strings.Contains(buf.String(), "read 6 bytes") {
		t.Errorf("child did not get its input before EOF:\n%s", buf)
	}
}

func TestStopKillsStubbornChild(t *testing.T) {
	c, err := Start(StartOptions{Argv: fakeArgv(t), Name: "ssh[h]", Env: []string{"EXECSSH_FAKE=stubborn"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.Stop(100 * time.Millisecond)
	var ee *ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "killed by signal") {
		t.Errorf("Stop: %v, want killed by signal", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if alive(c.Pid) {
		t.Errorf("child %d still there", c.Pid)
	}
}

func TestSupervisorRestartsWithBackoff(t *testing.T) {
	log, buf := newLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var sleeps []time.Duration
	starts := 0
	s := &Supervisor{
		Name:    "ssh[h]",
		Argv:    func() ([]string, error) { starts++; return fakeArgv(t), nil },
		Env:     []string{"EXECSSH_FAKE=exit:255"},
		Logger:  log,
		Backoff: backoff.Backoff{Min: 250 * time.Millisecond, Max: time.Second, Jitter: func() float64 { return 0.5 }},
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			sleeps = append(sleeps, d)
			if len(sleeps) == 4 {
				cancel()
				return ctx.Err()
			}
			return nil
		},
	}
	healthyAt := 2 // the third connection "carries data"
	err := s.Run(ctx, func(ctx context.Context, c *Child) bool {
		<-c.Done()
		healthyAt--
		return healthyAt == -1
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{250e6, 500e6, 25e6, 250e6}
	if fmt.Sprint(sleeps) != fmt.Sprint(want) {
		t.Errorf("sleeps %v, want %v (reset after the healthy connection)", sleeps, want)
	}
	if starts != 4 {
		t.Errorf("%d starts, want 4", starts)
	}
	if n := strings.Count(buf.String(), "connection ended"); n != 4 {
		t.Errorf("%d exits logged, want 4:\n%s", n, buf)
	}
}

func TestSupervisorMissingBinary(t *testing.T) {
	s := &Supervisor{Name: "ssh[h]", Argv: func() ([]string, error) { return []string{"/nonexistent/ssh"}, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.Run(ctx, func(context.Context, *Child) bool { return false })
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run with a missing ssh = %v, want an immediate error", err)
	}
}

// A failure to connect that persists is logged in full for the first
// attempts, explained once with its fix, and then left out attempt by
// attempt.
func TestSupervisorQuietsPersistentFailure(t *testing.T) {
	log, buf := newLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attempts := 0
	s := &Supervisor{
		Name: "ssh[h]", Target: "h", Doing: "delivering",
		Argv:    func() ([]string, error) { return fakeArgv(t), nil },
		Env:     []string{"EXECSSH_FAKE=exit:255"},
		Logger:  log,
		Backoff: backoff.Backoff{Min: time.Millisecond, Max: time.Millisecond},
		Sleep: func(ctx context.Context, d time.Duration) error {
			if attempts++; attempts == 6 {
				cancel()
				return ctx.Err()
			}
			return nil
		},
	}
	if err := s.Run(ctx, func(ctx context.Context, c *Child) bool { <-c.Done(); return false }); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	if n := strings.Count(got, "connection ended"); n != reportAfter {
		t.Errorf("%d of 6 failed attempts logged, want the first %d:\n%s", n, reportAfter, got)
	}
	if n := strings.Count(got, "ssh[h]: Permission denied"); n != reportAfter {
		t.Errorf("ssh's complaint logged %d times, want %d:\n%s", n, reportAfter, got)
	}
	if n := strings.Count(got, `level=ERROR msg="cannot connect to h: the far side refuses the key`); n != 1 {
		t.Errorf("the failure explained %d times, want once:\n%s", n, got)
	}
}

// AwaitReady of a child that printed the marker and ended before anyone
// looked is true every time (a plain select on Ready and Done picks
// either); of one that ended without it, false.
func TestAwaitReadyAfterTheChildEnded(t *testing.T) {
	for _, tt := range []struct {
		script string
		want   bool
	}{
		{"echo READY-MARK >&2; echo 'sh: 1: tail: not found' >&2; exit 127", true},
		{"echo 'ssh: connect to host h port 22: Connection refused' >&2; exit 255", false},
	} {
		c, err := Start(StartOptions{Argv: []string{"/bin/sh", "-c", tt.script}, ReadyMarker: "READY-MARK"})
		if err != nil {
			t.Fatal(err)
		}
		<-c.Done()
		for i := range 50 { // a random pick is right 50 times in a row once in 2^50
			if got := c.AwaitReady(); got != tt.want {
				t.Fatalf("%q: AwaitReady %d = %v, want %v", tt.script, i+1, got, tt.want)
			}
		}
	}
}
