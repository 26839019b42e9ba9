package e2e

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// strandedWarning is the start of push's warning about lines for a DEST
// it does not deliver to, left in a spool no push runs on.
const strandedWarning = "lines for a destination this push does not deliver to wait in a spool no push runs on"

// TestStrandedSpool: lines spooled for DEST A (the log host down) and for
// a DEST with a typo in its path stay in their spools when push stops.
// A push started with only DEST B warns about both, naming the DEST, the
// lines held and the commands; `spool list` shows them. The commands
// from the warning, run literally: A's spool delivered to A, the typo's
// spool delivered --to the corrected DEST, each line exactly once, in the
// recorded (reliable) mode; `spool discard` refused on B's spool while
// B's push runs, then A's spool discarded: gone.
func TestStrandedSpool(t *testing.T) {
	t.Parallel()
	testlab.RequireBinary(t, "/usr/sbin/sshd")
	testlab.RequireBinary(t, "/usr/bin/ssh")
	bin := testlab.Binary(t)
	sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
	// No forced command: each push asks for receive on its own file.
	sshd.SetAuthorizedKeys(t, "restrict "+sshd.ClientPub)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	env := []string{"STATE_DIRECTORY=" + state}
	remoteA, remoteB, remoteC := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")
	destA, destB, destC := sshd.Alias+":"+remoteA, sshd.Alias+":"+remoteB, sshd.Alias+":"+remoteC
	typo := sshd.Alias + ":" + filepath.Join(dir, "remtoe", "c.log") // no such directory
	rel := []string{"--reliable", "--remote-sshlogfwd", bin, "--drain-timeout", "1s", "--ack-timeout", "10s"}

	// pushStdin runs a reliable push of lines [0, n) from standard input
	// to dest and stops it once the input is read: what it could not
	// deliver stays in its spool.
	pushStdin := func(name, dest string, n int) {
		t.Helper()
		in := filepath.Join(dir, name+".in")
		if err := os.WriteFile(in, relLines.Range(0, n), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		log := filepath.Join(dir, name+".push.log")
		cmd := exec.Command(bin, pushArgsConfig(sshd.SSHConfig, log, append(rel, dest)...)...)
		cmd.Env, cmd.Stdin = append(os.Environ(), env...), f
		p := runPush(t, cmd, log)
		testlab.WaitFor(t, 30*time.Second, func() bool { return bytes.Contains(readFile(log), []byte("input ended")) }, "push %s to read its input", name)
		p.Stop(t, 30*time.Second)
		noNestedFarLines(t, string(readFile(log)))
	}
	sshd.Stop(t)
	pushStdin("a", destA, 500)
	sshd.Start(t)
	pushStdin("typo", typo, 300)
	if _, err := os.Stat(remoteA); err == nil {
		t.Fatalf("%s exists: push to A delivered while the log host was down", remoteA)
	}

	logB := filepath.Join(dir, "b.push.log")
	pB := startPushEnv(t, sshd.SSHConfig, logB, env, append(rel, "--fifo", filepath.Join(dir, "b.fifo"), destB)...)
	testlab.WaitFor(t, 30*time.Second, func() bool { return bytes.Count(readFile(logB), []byte(strandedWarning)) >= 2 }, "push to B to warn about A's and the typo's spools")
	warnA, warnTypo := strandedLine(t, readFile(logB), destA), strandedLine(t, readFile(logB), typo)
	for _, want := range []string{"lines=500 ", "bytes=" + strconv.Itoa(len(relLines.Range(0, 500))) + " ", "mode=reliable"} {
		if !strings.Contains(warnA, want) {
			t.Errorf("the warning about A does not say %q: %s", want, warnA)
		}
	}
	spoolA := attr(t, warnA, "spool")

	list := spoolCmd(t, bin, 0, "list", "--spool-root", state)
	t.Logf("spool list:\n%s", list)
	for _, want := range []string{spoolA + "\n  stopped: nothing delivers its lines, reliable mode", destA + ": 500 lines", typo + ": 300 lines", "running: pid " + strconv.Itoa(pB.Pid()) + " sshlogfwd push"} {
		if !strings.Contains(list, want) {
			t.Errorf("spool list does not say %q:\n%s", want, list)
		}
	}

	// B's spool is in use: discard refuses and removes nothing.
	spoolB := filepath.Join(state, strings.NewReplacer(":", "_", "/", "_").Replace(destB))
	out := spoolCmd(t, bin, 1, "discard", spoolB)
	if !strings.Contains(out, "sshlogfwd push") || !strings.Contains(out, "stop it first") {
		t.Errorf("discard of a running push's spool: %s", out)
	}
	if _, err := os.Stat(filepath.Join(spoolB, "state.json")); err != nil {
		t.Errorf("the refused discard touched B's spool: %v", err)
	}

	// The commands of the warnings, word for word.
	runWarned(t, bin, attr(t, warnA, "deliver"))
	exactlyOnce(t, relLines.Check(readFile(remoteA), 500), 500)
	runWarned(t, bin, strings.Replace(attr(t, warnTypo, "deliver_elsewhere"), " DEST ", " "+destC+" ", 1))
	exactlyOnce(t, relLines.Check(readFile(remoteC), 300), 300)
	if again := spoolCmd(t, bin, 0, "deliver", spoolA); !strings.Contains(again, "holds nothing") {
		t.Errorf("a second deliver: %s", again)
	}
	exactlyOnce(t, relLines.Check(readFile(remoteA), 500), 500)

	out = runWarned(t, bin, attr(t, warnA, "discard"))
	t.Logf("spool discard:\n%s", out)
	if !strings.Contains(out, "discarded 0 lines (0 bytes) held for "+destA) || !strings.Contains(out, "removed "+spoolA) {
		t.Errorf("discard says: %s", out)
	}
	if _, err := os.Stat(spoolA); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after discard: %v", spoolA, err)
	}
}

// strandedLine is the line of log warning about dest's stranded lines.
func strandedLine(t *testing.T, log []byte, dest string) string {
	t.Helper()
	for l := range strings.Lines(string(log)) {
		if strings.Contains(l, strandedWarning) && strings.Contains(l, "dest="+dest+" ") {
			return l
		}
	}
	t.Fatalf("no warning names %s:\n%s", dest, log)
	return ""
}

// attr is the value of key in a text log line (quotes removed).
func attr(t *testing.T, line, key string) string {
	t.Helper()
	m := regexp.MustCompile(` ` + key + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s= in %s", key, line)
	}
	return strings.Trim(m[1], `"`)
}

// runWarned runs a command a warning gave ("sshlogfwd spool ..."), with
// the binary under test for sshlogfwd, and returns its output; it must
// succeed.
func runWarned(t *testing.T, bin, command string) string {
	t.Helper()
	w := strings.Fields(command)
	if len(w) < 3 || w[0] != "sshlogfwd" || w[1] != "spool" {
		t.Fatalf("not a spool command: %q", command)
	}
	return spoolCmd(t, bin, 0, w[2:]...)
}

// spoolCmd runs `sshlogfwd spool args...` and returns its output, failing
// the test unless it exits with status want.
func spoolCmd(t *testing.T, bin string, want int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"spool"}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("hang: sshlogfwd spool %s did not end within 60s:\n%s", strings.Join(args, " "), out)
	}
	if code != want {
		t.Fatalf("sshlogfwd spool %s: exit status %d, want %d:\n%s", strings.Join(args, " "), code, want, out)
	}
	return string(out)
}
