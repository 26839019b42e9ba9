package testlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeTB records Fatalf and Skipf instead of ending the goroutine, to test
// helpers whose job is to fail or skip. The helpers under test return right
// after calling them.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

// Not parallel: it sets CI. It needs no daemon itself: a missing program
// and /bin/sh are its cases, so it runs (and checks the CI rule) on
// every machine.
func TestRequireBinary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-program")
	for _, tc := range []struct {
		ci              string
		wantFatal, skip bool
	}{
		{ci: "", skip: true},
		{ci: "false", skip: true},
		{ci: "true", wantFatal: true},
	} {
		t.Setenv("CI", tc.ci)
		f := &fakeTB{TB: t}
		RequireBinary(f, missing)
		if (f.fatal != "") != tc.wantFatal || (f.skip != "") != tc.skip {
			t.Errorf("CI=%q: fatal=%q skip=%q", tc.ci, f.fatal, f.skip)
		}
		f = &fakeTB{TB: t}
		RequireBinary(f, "/bin/sh")
		if f.fatal != "" || f.skip != "" {
			t.Errorf("CI=%q, /bin/sh: fatal=%q skip=%q", tc.ci, f.fatal, f.skip)
		}
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	n := 0
	WaitFor(t, 30*time.Second, func() bool { n++; return n == 3 }, "never reached 3 (a hang)")
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}

	f := &fakeTB{TB: t}
	start := time.Now()
	WaitFor(f, 50*time.Millisecond, func() bool { return false }, "value %d", 7)
	// Not before the timeout; the upper bound only catches a WaitFor
	// that does not give up (a loaded machine may take a while).
	if took := time.Since(start); took < 50*time.Millisecond || took > 30*time.Second {
		t.Errorf("gave up after %v, want soon after 50ms", took)
	}
	if !strings.Contains(f.fatal, "value 7") {
		t.Errorf("fatal message %q lacks the formatted message", f.fatal)
	}
}

func TestBinary(t *testing.T) {
	t.Parallel()
	p := Binary(t)
	if !filepath.IsAbs(p) {
		t.Errorf("Binary() = %q, not absolute", p)
	}
	if p2 := Binary(t); p2 != p {
		t.Errorf("second Binary() = %q, want %q (built once)", p2, p)
	}
	out, err := exec.Command("go", "version", "-m", p).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	if got := strings.Contains(string(out), "-race=true"); got != raceEnabled {
		t.Errorf("binary built with race=%v, test binary race=%v:\n%s", got, raceEnabled, out)
	}
	if !strings.Contains(string(out), "github.com/sshlogfwd/sshlogfwd/cmd/sshlogfwd") {
		t.Errorf("binary is not cmd/sshlogfwd:\n%s", out)
	}
}

func TestRestrictedKeyLine(t *testing.T) {
	t.Parallel()
	const pub = "ssh-ed25519 AAAAC3Nza k"
	for _, tc := range []struct{ from, cmd, want string }{
		{"127.0.0.1", "cat >> '/x/out.log'", `restrict,from="127.0.0.1",command="cat >> '/x/out.log'" ` + pub},
		{"", "true", `restrict,command="true" ` + pub},
		{"", `echo "a"`, `restrict,command="echo \"a\"" ` + pub},
		// sshd unescapes only \", so other backslashes stay as they are.
		{"", `printf 'a\nb'`, `restrict,command="printf 'a\nb'" ` + pub},
		{"", `x\"y`, `restrict,command="x\\"y" ` + pub},
	} {
		if got := RestrictedKeyLine(pub, tc.from, tc.cmd); got != tc.want {
			t.Errorf("RestrictedKeyLine(%q, %q)\n got %s\nwant %s", tc.from, tc.cmd, got, tc.want)
		}
	}
	for _, bad := range []string{"a\nb", `ends\`} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RestrictedKeyLine(command %q) did not panic", bad)
				}
			}()
			RestrictedKeyLine(pub, "", bad)
		}()
	}
}

func TestKeyPair(t *testing.T) {
	t.Parallel()
	RequireBinary(t, "/usr/bin/ssh-keygen")
	dir := t.TempDir()
	priv, pub := KeyPair(t, dir, "k")
	if priv != filepath.Join(dir, "k") || !strings.HasPrefix(pub, "ssh-ed25519 ") || strings.HasSuffix(pub, "\n") {
		t.Fatalf("KeyPair = %q, %q", priv, pub)
	}
	fi, err := os.Stat(priv)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, %v", fi, err)
	}
}

// exitCode returns the exit status in err, 0 for nil and -1 for other errors.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

func TestSSHDRestrictedKey(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := StartSSHD(t, SSHDOptions{})
	t.Logf("sshd listening after %v", time.Since(start))
	out := filepath.Join(t.TempDir(), "out.log")
	s.SetAuthorizedKeys(t, RestrictedKeyLine(s.ClientPub, "127.0.0.1", "cat >> '"+out+"'"))

	start = time.Now()
	cmd := s.Command()
	cmd.Stdin = strings.NewReader("hello\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("echo hello | ssh: %v\n%s\nsshd:\n%s", err, b, s.Log())
	}
	t.Logf("first ssh took %v", time.Since(start))
	if b, err := os.ReadFile(out); err != nil || string(b) != "hello\n" {
		t.Fatalf("out.log = %q, %v; want \"hello\\n\"", b, err)
	}
	if !strings.Contains(s.Log(), "Accepted publickey for root") {
		t.Errorf("sshd log lacks the accepted key:\n%s", s.Log())
	}

	// Quoting reaches sshd's parser intact: \" becomes ", a lone \ stays.
	esc := filepath.Join(t.TempDir(), "esc")
	s.SetAuthorizedKeys(t, RestrictedKeyLine(s.ClientPub, "", `printf '%s|%s' "q\"q" 'b\s' > '`+esc+`'`))
	if b, err := s.SSH(t); err != nil {
		t.Fatalf("ssh: %v\n%s", err, b)
	}
	if b, _ := os.ReadFile(esc); string(b) != `q"q|b\s` {
		t.Errorf("forced command wrote %q, want %q", b, `q"q|b\s`)
	}

	// A from= that does not match is refused.
	s.SetAuthorizedKeys(t, RestrictedKeyLine(s.ClientPub, "10.9.9.9", "true"))
	if b, err := s.SSH(t); exitCode(err) != 255 {
		t.Errorf("ssh with from= mismatch: %v, want exit 255\n%s", err, b)
	}
	WaitFor(t, 5*time.Second, func() bool { return strings.Contains(s.Log(), "not from a permitted host") },
		"sshd did not log the from= mismatch:\n%s", s.Log())
}

func TestSSHDStopStart(t *testing.T) {
	t.Parallel()
	s := StartSSHD(t, SSHDOptions{})
	s.SetAuthorizedKeys(t, s.ClientPub)
	b, err := s.SSH(t, "echo", "hi")
	if err != nil || string(b) != "hi\n" {
		t.Fatalf("ssh echo hi = %q, %v\nsshd:\n%s", b, err, s.Log())
	}
	b, err = s.SSH(t, "echo", "$HOME")
	if err != nil || strings.TrimSpace(string(b)) != s.Home {
		t.Errorf("session HOME = %q, %v; want %s", b, err, s.Home)
	}

	port := s.Port
	s.Stop(t)
	if s.PID() != 0 {
		t.Errorf("PID() = %d after Stop", s.PID())
	}
	if b, err := s.SSH(t, "true"); exitCode(err) != 255 {
		t.Fatalf("ssh to stopped sshd: %v, want exit 255\n%s", err, b)
	}

	s.Start(t)
	if s.Port != port {
		t.Errorf("port changed from %d to %d", port, s.Port)
	}
	if b, err := s.SSH(t, "echo", "again"); err != nil || string(b) != "again\n" {
		t.Fatalf("ssh after Start = %q, %v\nsshd:\n%s", b, err, s.Log())
	}
}

// session is a background ssh client.
type session struct {
	done chan struct{} // closed when the client exited
	err  error         // its Wait result, valid after done
}

func (s *session) exited(within time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(within):
		return false
	}
}

// startSleepSession starts `ssh loghost sleep 30` and waits until the remote
// sleep runs.
func startSleepSession(t *testing.T, s *SSHD) *session {
	t.Helper()
	cmd := s.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sess := &session{done: make(chan struct{})}
	go func() {
		sess.err = cmd.Wait()
		close(sess.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-sess.done
	})
	WaitFor(t, 5*time.Second, func() bool { return len(remoteSleeps(s.PID())) == 1 },
		"remote sleep did not start\nsshd:\n%s", s.Log())
	return sess
}

func remoteSleeps(listener int) []procStat {
	var out []procStat
	for _, d := range descendants(listener) {
		if d.comm == "sleep" {
			out = append(out, d)
		}
	}
	return out
}

func TestSSHDStopKillsSessions(t *testing.T) {
	t.Parallel()
	s := StartSSHD(t, SSHDOptions{})
	s.SetAuthorizedKeys(t, s.ClientPub)
	sess := startSleepSession(t, s)
	remote := remoteSleeps(s.PID())[0]

	start := time.Now()
	s.Stop(t)
	if !sess.exited(5 * time.Second) {
		t.Fatal("established ssh session survived Stop")
	}
	t.Logf("established session ended %v after Stop began", time.Since(start))
	if exitCode(sess.err) != 255 {
		t.Errorf("ssh session after Stop: %v, want exit 255", sess.err)
	}
	if alive(remote) {
		t.Errorf("remote sleep %d survived Stop", remote.pid)
	}
}

func TestSSHDStopListener(t *testing.T) {
	t.Parallel()
	s := StartSSHD(t, SSHDOptions{})
	s.SetAuthorizedKeys(t, s.ClientPub)
	sess := startSleepSession(t, s)
	remote := remoteSleeps(s.PID())[0]

	s.StopListener(t)
	if b, err := s.SSH(t, "true"); exitCode(err) != 255 {
		t.Fatalf("new ssh after StopListener: %v, want exit 255\n%s", err, b)
	}
	if sess.exited(0) {
		t.Fatalf("established session ended after StopListener: %v", sess.err)
	}
	if !alive(remote) {
		t.Fatal("remote sleep died with the listener")
	}

	// A new listener serves new connections; the old session goes on until
	// Stop, which kills it too.
	s.Start(t)
	if b, err := s.SSH(t, "true"); err != nil {
		t.Fatalf("ssh after Start: %v\n%s", err, b)
	}
	s.Stop(t)
	if !sess.exited(5 * time.Second) {
		t.Fatal("session left by StopListener survived Stop")
	}
	if alive(remote) {
		t.Errorf("remote sleep %d survived Stop", remote.pid)
	}
}

func TestSSHDExtra(t *testing.T) {
	t.Parallel()
	// Extra lines come first, so they beat the defaults; Match goes last.
	s := StartSSHD(t, SSHDOptions{
		KeepHome: true,
		Extra:    []string{"LogLevel DEBUG1", "Match Address 10.0.0.0/8", "\tPermitTTY no"},
	})
	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Log(), "debug1:") {
		t.Errorf("Extra LogLevel DEBUG1 not in effect; config:\n%s", cfg)
	}
	if !strings.HasSuffix(string(cfg), "Match Address 10.0.0.0/8\n\tPermitTTY no\n") {
		t.Errorf("Match block not at the end:\n%s", cfg)
	}
	if strings.Contains(string(cfg), "SetEnv HOME") {
		t.Errorf("KeepHome still sets HOME:\n%s", cfg)
	}
}

func TestSSHDNetNS(t *testing.T) {
	t.Parallel()
	ns := CreateNetNS(t)
	s := StartSSHD(t, SSHDOptions{NetNS: ns})
	s.SetAuthorizedKeys(t, s.ClientPub)
	// The test's own namespace cannot reach it ...
	if b, err := s.SSH(t, "true"); exitCode(err) != 255 {
		t.Errorf("ssh from outside the namespace: %v, want 255\n%s", err, b)
	}
	// ... a client inside can.
	b, err := exec.Command(ipPath, append([]string{"netns", "exec", ns, sshPath}, s.sshArgs([]string{"echo", "in-ns"})...)...).CombinedOutput()
	if err != nil || string(b) != "in-ns\n" {
		t.Fatalf("ssh inside %s = %q, %v\nsshd:\n%s", ns, b, err, s.Log())
	}
	if st, err := readStat(s.PID()); err != nil || st.comm != "sshd" {
		t.Errorf("PID() is %+v, %v; want sshd itself", st, err)
	}
}

func TestRsyslog(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "all.log")
	start := time.Now()
	r := StartRsyslog(t, `*.* action(type="omfile" file="`+file+`")`)
	t.Logf("rsyslogd socket after %v", time.Since(start))

	r.Send(t, "testlab", "user.info", "one", "two with spaces", "three")
	ours := func() []string {
		b, _ := os.ReadFile(file)
		var got []string
		for _, l := range strings.Split(string(b), "\n") {
			if _, m, ok := strings.Cut(l, " testlab: "); ok {
				got = append(got, m)
			}
		}
		return got
	}
	WaitFor(t, 5*time.Second, func() bool { return len(ours()) == 3 },
		"all.log has %q, want 3 messages\nrsyslogd:\n%s", ours(), r.Log())
	if got := ours(); !slices.Equal(got, []string{"one", "two with spaces", "three"}) {
		t.Errorf("messages = %q", got)
	}

	// After HUP rsyslogd reopens the file: a rotated-away file stops
	// growing and a new one is created.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	r.HUP(t)
	r.Send(t, "testlab", "user.info", "after hup")
	WaitFor(t, 5*time.Second, func() bool { return slices.Equal(ours(), []string{"after hup"}) },
		"new all.log has %q after HUP\nrsyslogd:\n%s", ours(), r.Log())
	if st, err := readStat(r.PID()); err != nil || st.comm != "rsyslogd" {
		t.Errorf("PID() is %+v, %v", st, err)
	}
}

func TestRsyslogManyMessages(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "many.log")
	r := StartRsyslog(t, `if $programname == "many" then action(type="omfile" file="`+file+`" template="RSYSLOG_FileFormat")`)
	msgs := make([]string, 5000)
	for i := range msgs {
		msgs[i] = "message " + strconv.Itoa(i)
	}
	start := time.Now()
	r.Send(t, "many", "local0.notice", msgs...)
	lines := func() int {
		b, _ := os.ReadFile(file)
		return strings.Count(string(b), "\n")
	}
	WaitFor(t, 10*time.Second, func() bool { return lines() == len(msgs) },
		"many.log has %d lines, want %d", lines(), len(msgs))
	t.Logf("%d messages through logger and rsyslogd in %v", len(msgs), time.Since(start))
}

func TestChildPIDs(t *testing.T) {
	t.Parallel()
	// A copy of sleep whose name has a space and a parenthesis, as comm in
	// /proc/PID/stat may.
	odd := filepath.Join(t.TempDir(), "sl ee)p")
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(odd, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// "; :" keeps the shell from exec'ing the last command in place.
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & '"+odd+"' 30; :")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range ChildPIDs(cmd.Process.Pid, "") {
			syscall.Kill(p, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	// Wait until both children have exec'd (until then a child is a
	// forked sh with the parent's name).
	WaitFor(t, 5*time.Second, func() bool {
		return len(ChildPIDs(pid, "")) == 2 && len(ChildPIDs(pid, "sh")) == 0
	}, "children of %d: %v", pid, ChildPIDs(pid, ""))
	if got := ChildPIDs(pid, "sleep"); len(got) != 1 {
		t.Errorf("sleep children: %v", got)
	}
	if got := ChildPIDs(pid, "sl ee)p"); len(got) != 1 {
		t.Errorf("'sl ee)p' children: %v", got)
	}
	if got := ChildPIDs(pid, "nosuch"); len(got) != 0 {
		t.Errorf("nosuch children: %v", got)
	}
	if got := ChildPIDs(os.Getpid(), "sh"); !slices.Contains(got, pid) {
		t.Errorf("ChildPIDs(self, sh) = %v, lacks %d", got, pid)
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	line := "42 (a (b) c) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 1000 10 18446744073709551615\n"
	st, err := parseStat(42, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{pid: 42, comm: "a (b) c", state: 'S', ppid: 7, utime: 250, stime: 50, starttime: 12345}
	if st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	if _, err := parseStat(1, []byte("1 (x) S 1 2")); err == nil {
		t.Error("short stat line parsed without error")
	}
}

func TestProcessCPUAndRSS(t *testing.T) {
	t.Parallel()
	runtime.LockOSThread() // keep the busy loop's CPU on a thread of ours
	defer runtime.UnlockOSThread()
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	WaitFor(t, 10*time.Second, func() bool {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		now, err := ProcessCPU(os.Getpid())
		return err == nil && now-before >= 20*time.Millisecond
	}, "CPU time did not grow from %v", before)
	_ = x
	if clockTicks() != 100 {
		t.Logf("clock ticks: %d Hz", clockTicks())
	}

	rss, hwm, err := ProcessRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || hwm < rss {
		t.Errorf("rss=%d hwm=%d", rss, hwm)
	}
	if _, _, err := ProcessRSS(1 << 30); err == nil {
		t.Error("ProcessRSS of a missing pid: no error")
	}
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Error("ProcessCPU of a missing pid: no error")
	}
}

// TestJournalWriter writes entries with text, multi-line, binary and long
// messages into a real journal file and reads them back with journalctl:
// every entry arrives, byte-exact, and --follow (which implies the current
// boot) sees them.
func TestJournalWriter(t *testing.T) {
	t.Parallel()
	RequireBinary(t, JournalctlPath)
	dir := t.TempDir()
	msgs := []string{"plain", "two\nlines", "bad \xff\xfe utf-8", "nul\x00inside", strings.Repeat("x", 64<<10)}
	w := StartJournalWriter(t, filepath.Join(dir, "a.journal"))
	for i, m := range msgs {
		w.Write(JournalEntry{"MESSAGE": m, "N": strconv.Itoa(i)})
	}
	w.Close()

	if n := len(ReadJournalCursors(t, dir)); n != len(msgs) {
		t.Fatalf("journal has %d entries, want %d", n, len(msgs))
	}
	// -b (this boot) is what --follow implies.
	out, err := exec.Command(JournalctlPath, "--directory="+dir, "-b", "--output=json", "--all", "--output-fields=MESSAGE").Output()
	if err != nil {
		t.Fatalf("journalctl: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var e struct{ MESSAGE json.RawMessage }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("journalctl json %q: %v", line, err)
		}
		// Binary values come as arrays of byte values.
		var s string
		var bs []byte
		var ints []int
		if json.Unmarshal(e.MESSAGE, &s) != nil {
			if err := json.Unmarshal(e.MESSAGE, &ints); err != nil {
				t.Fatalf("MESSAGE %s: %v", e.MESSAGE, err)
			}
			for _, b := range ints {
				bs = append(bs, byte(b))
			}
			s = string(bs)
		}
		got = append(got, s)
	}
	if len(got) != len(msgs) {
		t.Fatalf("read back %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if got[i] != msgs[i] {
			t.Errorf("message %d read back as %d bytes %.40q, want %d bytes %.40q", i, len(got[i]), got[i], len(msgs[i]), msgs[i])
		}
	}
}

// Background's Stop cancels the run's context and returns once the run
// has returned.
func TestBackgroundStopCancelsAndWaits(t *testing.T) {
	returned := false
	b := Go(t, func(ctx context.Context) error {
		<-ctx.Done()
		returned = true
		return nil
	})
	b.Stop(t, 10*time.Second) // only catches a hang
	if !returned {
		t.Error("Stop returned before the run did")
	}
}
