package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// cmdResult is what one run of the binary gave.
type cmdResult struct {
	Stdout, Stderr string
	Code           int // exit status; -1 when killed
}

func (r cmdResult) String() string {
	return "exit " + strconv.Itoa(r.Code) + "\nstdout:\n" + r.Stdout + "stderr:\n" + r.Stderr
}

// runOpts tune runBinary.
type runOpts struct {
	stdin   io.Reader
	env     []string // added to the environment
	uid     int      // run as this user (0: as ourselves)
	bin     string   // the binary (default testlab.Binary)
	timeout time.Duration
}

// runBinary runs sshlogfwd with args to its end and returns its output and
// exit status. It fails the test if the run takes longer than the timeout
// (default 60 s): a hang is a bug.
func runBinary(t *testing.T, o runOpts, args ...string) cmdResult {
	t.Helper()
	bin := o.bin
	if bin == "" {
		bin = testlab.Binary(t)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stdin = o.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Only bounds the copying of output after the exit: on a loaded
	// machine a concurrent fork can hold the pipe for a moment.
	cmd.WaitDelay = 10 * time.Second
	if o.uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.uid)}}
		cmd.Dir = "/"
	}
	err := cmd.Run()
	res := cmdResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("sshlogfwd %q did not finish within %v (hang)\nstderr:\n%s", args, timeout, stderr.String())
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
		res.Code = cmd.ProcessState.ExitCode()
	case err != nil:
		t.Fatalf("run sshlogfwd %q: %v", args, err)
	}
	return res
}

// nobody is the unprivileged user the permission tests run as: as root,
// every permission check passes.
const nobody = 65534

// binaryForNobody copies the test binary where user nobody can execute it
// (Binary's directory is private to root).
func binaryForNobody(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sshlogfwd-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(testlab.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "sshlogfwd")
	if err := os.WriteFile(dst, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// publicDir makes a directory that user nobody can enter (t.TempDir's
// parents are private to root).
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sshlogfwd-public-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// reportLines splits check's report into its lines by verdict.
func reportLines(out string) (ok, fail []string) {
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "OK "):
			ok = append(ok, l)
		case strings.HasPrefix(l, "FAIL "):
			fail = append(fail, l)
		}
	}
	return ok, fail
}

// hasLine reports whether a line starts with prefix and contains all of
// the words.
func hasLine(lines []string, prefix string, words ...string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		all := true
		for _, w := range words {
			if !strings.Contains(l, w) {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

// authorizedKey runs `sshlogfwd authorized-key` with the lab's client key
// and returns the line.
func authorizedKey(t *testing.T, sshd *testlab.SSHD, args ...string) string {
	t.Helper()
	res := runBinary(t, runOpts{}, append([]string{"authorized-key", "--key", sshd.ClientKey + ".pub"}, args...)...)
	if res.Code != 0 {
		t.Fatalf("authorized-key %q: %s", args, res)
	}
	line := strings.TrimSuffix(res.Stdout, "\n")
	if strings.Contains(line, "\n") || line == "" {
		t.Fatalf("authorized-key %q printed %q, want one line", args, res.Stdout)
	}
	return line
}

// fileState is a file's content and mode, to prove a refused path was not
// touched.
type fileState struct {
	exists bool
	mode   os.FileMode
	data   string
}

func stateOf(path string) fileState {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileState{}
	}
	st := fileState{exists: true, mode: fi.Mode()}
	if fi.Mode().IsRegular() {
		b, _ := os.ReadFile(path)
		st.data = string(b)
	}
	return st
}
