package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/receiver"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// init takes the tests out of the ssh session they may have been started
// from (a developer's login): sshlogfwd ignores SSHLOGFWD_* variables under
// sshd, and tests that give a local push its flags that way would fail.
func init() {
	for _, v := range []string{"SSH_CONNECTION", "SSH_ORIGINAL_COMMAND", "SSH_CLIENT", "SSH_TTY"} {
		os.Unsetenv(v)
	}
}

// forcedEnvLab is a log host whose administrator lets clients set
// SSHLOGFWD_* variables (AcceptEnv SSHLOGFWD_*), with the lab's key
// restricted the way the README tells users: a forced `sshlogfwd receive
// PATH` or `sshlogfwd serve PATH`. Beside PATH lies another file the
// account can write, as another host's trail would.
type forcedEnvLab struct {
	sshd   *testlab.SSHD
	dir    string
	target string // PATH of the forced command
	other  string // another file the account may write
	files  map[string]string
}

// newForcedEnvLab starts the lab with the key forced to `BIN command PATH`.
func newForcedEnvLab(t *testing.T, command string) *forcedEnvLab {
	t.Helper()
	dir := t.TempDir()
	l := &forcedEnvLab{dir: dir, target: filepath.Join(dir, "web1.log"), other: filepath.Join(dir, "web2.log")}
	l.files = map[string]string{l.target: "web1: the trail\n", l.other: "web2: another host's trail\n"}
	l.reset(t)
	l.sshd = testlab.StartSSHD(t, testlab.SSHDOptions{AcceptEnv: []string{"SSHLOGFWD_*"}})
	forced := shellQuote(testlab.Binary(t)) + " " + command + " " + shellQuote(l.target)
	l.sshd.SetAuthorizedKeys(t, testlab.RestrictedKeyLine(l.sshd.ClientPub, "127.0.0.1", forced))
	return l
}

// sshArgs are the arguments of ssh to the lab with env sent as SetEnv
// (what `ssh -o SetEnv=...` or a client's ssh_config does) and remote as
// the request.
func (l *forcedEnvLab) sshArgs(env []string, remote ...string) []string {
	args := []string{"-F", l.sshd.SSHConfig}
	if len(env) > 0 {
		args = append(args, "-o", "SetEnv="+strings.Join(env, " "))
	}
	return append(append(args, "--", l.sshd.Alias), remote...)
}

// ssh runs one session to its end with stdin and returns what it gave.
func (l *forcedEnvLab) ssh(t *testing.T, env []string, stdin string, remote ...string) cmdResult {
	t.Helper()
	return runBinary(t, runOpts{bin: "/usr/bin/ssh", stdin: strings.NewReader(stdin)}, l.sshArgs(env, remote...)...)
}

// serveStart opens a session with no request (serve then decides alone
// where to start), reads the version line and the start frame, closes
// its side and waits for the end.
func (l *forcedEnvLab) serveStart(t *testing.T, env []string) (start string, res cmdResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/ssh", l.sshArgs(env)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	version, _ := br.ReadString('\n')
	start, _ = br.ReadString('\n')
	in.Close()
	io.Copy(io.Discard, br)
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("serve session with %q did not end within a minute of closing its input (hang)\nstderr:\n%s", env, stderr.String())
	}
	res = cmdResult{Stdout: version + start, Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	if err != nil && res.Code < 0 {
		t.Fatalf("serve session: %v", err)
	}
	return start, res
}

// reset puts the two trails back as they were at the start (in place, so
// that serve's cursor stays valid) and removes every other file but the
// hidden state receive keeps beside its file: each attack is judged alone,
// not by the damage of the one before.
func (l *forcedEnvLab) reset(t *testing.T) {
	t.Helper()
	entries, _ := os.ReadDir(l.dir)
	for _, e := range entries {
		path := filepath.Join(l.dir, e.Name())
		if _, keep := l.files[path]; !keep && path != receiver.StatePath(l.target) && path != receiver.LockPath(l.target) {
			os.Remove(path)
		}
	}
	for path, data := range l.files {
		if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot is what must not change: the names in the directory (but for
// the state and lock files receive keeps beside its file) and the two
// trails, byte for byte.
func (l *forcedEnvLab) snapshot(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]bool{receiver.StatePath(l.target): true, receiver.LockPath(l.target): true}
	var b strings.Builder
	for _, e := range entries {
		if !own[filepath.Join(l.dir, e.Name())] {
			b.WriteString(e.Name() + "\n")
		}
	}
	b.WriteString("--- web1.log:\n" + string(readFile(l.target)))
	b.WriteString("--- web2.log:\n" + string(readFile(l.other)))
	return b.String()
}

// logTime is the varying part of a text log line.
var logTime = regexp.MustCompile(`time=\S+ `)

// sameBehaviour fails the test unless got is want: the same exit status,
// the same output and the same diagnostics (timestamps aside), but for
// one warning that names the variables ignored.
func sameBehaviour(t *testing.T, what string, env []string, want, got cmdResult) {
	t.Helper()
	var lines []string
	ignored := 0
	for _, line := range strings.SplitAfter(got.Stderr, "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "ignored") && strings.Contains(line, "SSHLOGFWD_") {
			ignored++
			continue
		}
		lines = append(lines, line)
	}
	norm := func(s string) string { return logTime.ReplaceAllString(s, "") }
	if got.Code != want.Code || got.Stdout != want.Stdout || norm(strings.Join(lines, "")) != norm(want.Stderr) || ignored > 1 {
		t.Errorf("%s with %q behaves differently from the same session without them\nwithout:\n%s\nwith:\n%s", what, env, want, got)
	}
}

// forcedEnvAttacks are the variables a client with the key sends.
func forcedEnvAttacks(l *forcedEnvLab) []struct {
	name string
	env  []string
} {
	return []struct {
		name string
		env  []string
	}{
		{"heap profile over the trail", []string{"SSHLOGFWD_MEMPROFILE=" + l.target}},
		{"CPU profile over the trail", []string{"SSHLOGFWD_CPUPROFILE=" + l.target}},
		{"profiles into new files", []string{"SSHLOGFWD_CPUPROFILE=" + filepath.Join(l.dir, "cpu.prof"), "SSHLOGFWD_MEMPROFILE=" + filepath.Join(l.dir, "mem.prof")}},
		{"diagnostics into another trail", []string{"SSHLOGFWD_LOG=" + l.other, "SSHLOGFWD_LOG_LEVEL=debug"}},
		{"diagnostics format and level", []string{"SSHLOGFWD_LOG_FORMAT=json", "SSHLOGFWD_LOG_LEVEL=error"}},
		{"serve's start", []string{"SSHLOGFWD_CURSOR=1:1:0", "SSHLOGFWD_FROM=start", "SSHLOGFWD_POLL=true", "SSHLOGFWD_HEARTBEAT=10ms"}},
		{"receive's bounds", []string{"SSHLOGFWD_MAX_SIZE=1", "SSHLOGFWD_FSYNC=1h"}},
	}
}

// requireAcceptEnv proves the lab's sshd really hands the variables to a
// forced command: without that, the tests below would pass for nothing.
func requireAcceptEnv(t *testing.T, l *forcedEnvLab) {
	t.Helper()
	keys, err := os.ReadFile(l.sshd.AuthorizedKeysFile)
	if err != nil {
		t.Fatal(err)
	}
	l.sshd.SetAuthorizedKeys(t, testlab.RestrictedKeyLine(l.sshd.ClientPub, "127.0.0.1", "printenv SSHLOGFWD_PROBE"))
	res := l.ssh(t, []string{"SSHLOGFWD_PROBE=passed"}, "")
	if res.Stdout != "passed\n" {
		t.Fatalf("sshd with AcceptEnv SSHLOGFWD_* did not pass SSHLOGFWD_PROBE to the forced command: %s", res)
	}
	l.sshd.SetAuthorizedKeys(t, strings.TrimSuffix(string(keys), "\n"))
}

// TestForcedEnvReceive: a client holding a key forced to `sshlogfwd
// receive PATH`, on a log host whose sshd accepts SSHLOGFWD_* variables,
// sets every variable sshlogfwd knows. receive takes no order from them:
// the trail is byte-identical afterwards (not truncated into a profile),
// no file appears, no other file gets receive's diagnostics, and every
// session (a refused request, an empty one, a whole push) behaves exactly
// as without the variables.
func TestForcedEnvReceive(t *testing.T) {
	t.Parallel()
	l := newForcedEnvLab(t, "receive")
	requireAcceptEnv(t, l)
	refused := l.ssh(t, nil, "", "x")
	if refused.Code != 2 || !strings.Contains(refused.Stdout, "refus") {
		t.Fatalf("request x: want refused with exit 2, got %s", refused)
	}
	empty := l.ssh(t, nil, "")
	for _, a := range forcedEnvAttacks(l) {
		t.Run(a.name, func(t *testing.T) {
			l.reset(t)
			before := l.snapshot(t)
			sameBehaviour(t, "refused request", a.env, refused, l.ssh(t, a.env, "", "x"))
			sameBehaviour(t, "empty session", a.env, empty, l.ssh(t, a.env, ""))
			if after := l.snapshot(t); after != before {
				t.Errorf("the variables changed the log host's files\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	t.Run("push", func(t *testing.T) {
		l.reset(t)
		before := l.snapshot(t)
		// Every variable once (the first value of each name): the trail
		// as both profiles, another trail as the log.
		var all []string
		seen := map[string]bool{}
		for _, a := range forcedEnvAttacks(l) {
			for _, kv := range a.env {
				name, _, _ := strings.Cut(kv, "=")
				if !seen[name] {
					seen[name] = true
					all = append(all, kv)
				}
			}
		}
		res := runBinary(t, runOpts{stdin: strings.NewReader("one\ntwo\n")}, "push", "--reliable", "-F", l.sshd.SSHConfig,
			"-o", "SetEnv="+strings.Join(all, " "), "--spool", t.TempDir(), l.sshd.Alias+":"+l.target)
		if res.Code != 0 {
			t.Fatalf("push --reliable through the key with every variable set: %s", res)
		}
		want := strings.Replace(before, "web1: the trail\n", "web1: the trail\none\ntwo\n", 1)
		if after := l.snapshot(t); after != want {
			t.Errorf("push with every variable set: the log host's files are not the trail plus the two lines\nwant:\n%s\ngot:\n%s", want, after)
		}
	})
}

// TestForcedEnvServe: the same client against a key forced to `sshlogfwd
// serve PATH`. serve starts where its own command line says (the end of
// the file), not at a cursor or --from the environment names; the files
// are unchanged and a refused request is refused as without the variables.
func TestForcedEnvServe(t *testing.T) {
	t.Parallel()
	l := newForcedEnvLab(t, "serve")
	requireAcceptEnv(t, l)
	refused := l.ssh(t, nil, "", "x")
	if refused.Code != 2 || !strings.Contains(refused.Stderr, "refus") {
		t.Fatalf("request x: want refused with exit 2, got %s", refused)
	}
	start, session := l.serveStart(t, nil)
	if !strings.HasSuffix(start, " end\n") {
		t.Fatalf("serve without a request: start frame %q, want a start at the end\n%s", start, session)
	}
	for _, a := range forcedEnvAttacks(l) {
		t.Run(a.name, func(t *testing.T) {
			l.reset(t)
			before := l.snapshot(t)
			sameBehaviour(t, "refused request", a.env, refused, l.ssh(t, a.env, "", "x"))
			got, res := l.serveStart(t, a.env)
			if got != start {
				t.Errorf("serve with %q started with %q, want %q as without them", a.env, got, start)
			}
			sameBehaviour(t, "session without a request", a.env, session, res)
			if after := l.snapshot(t); after != before {
				t.Errorf("the variables changed the files\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
