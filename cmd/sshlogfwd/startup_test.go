package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/push"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// Without a state directory push says --spool, pull --output or
// --cursor-file (pull used to be told to "set --spool"); statedir's own
// error names no flag (its TestNoDir).
func TestNoStateDirAdvice(t *testing.T) {
	for _, v := range []string{"STATE_DIRECTORY", "XDG_STATE_HOME", "HOME"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	p := &PullCmd{}
	_, err := p.cursorPath(execssh.Dest{Host: "web1", Path: "/var/log/auth.log"})
	if err == nil || !strings.Contains(err.Error(), "--output FILE") || !strings.Contains(err.Error(), "STATE_DIRECTORY") || strings.Contains(err.Error(), "--spool") {
		t.Errorf("pull: %v", err)
	}
	_, err = defaultSpool([]push.Dest{{Dest: execssh.Dest{Host: "h", Path: "/x"}}})
	if err == nil || !strings.Contains(err.Error(), "--spool DIR") || !strings.Contains(err.Error(), "STATE_DIRECTORY") {
		t.Errorf("push: %v", err)
	}
}

// The final error is said once: plainly for a usage error (also logged
// when the log is a file), logged for anything else.
func TestErrorSaidOnce(t *testing.T) {
	usageErr := usage.Flag("--fifo", errors.New("directory /run/x does not exist"))
	for _, tt := range []struct {
		name        string
		err         error
		logIsStderr bool
		code        int
		stderr, log int // times the message appears
	}{
		{"usage, log on stderr", usageErr, true, exitUsage, 1, 0},
		{"usage, log in a file", usageErr, false, exitUsage, 1, 1},
		{"failure, log on stderr", errors.New("disk full"), true, exitFailure, 0, 1},
		{"failure, log in a file", errors.New("disk full"), false, exitFailure, 0, 1},
	} {
		var stderr, logFile bytes.Buffer
		logTo := io.Writer(&logFile)
		if tt.logIsStderr {
			logTo = &stderr // one stream, as without --log
		}
		out := errorOut{log: slog.New(slog.NewTextHandler(logTo, nil)), stderr: &stderr, logIsStderr: tt.logIsStderr}
		msg := tt.err.Error()
		code := out.exitStatus(tt.err)
		plain := strings.Count(stderr.String(), "sshlogfwd: "+msg)
		logged := strings.Count(logFile.String(), msg) + strings.Count(stderr.String(), "level=ERROR")
		if code != tt.code || plain != tt.stderr || logged != tt.log {
			t.Errorf("%s: exit %d, said plainly %d times and logged %d times; want %d, %d, %d\nstderr: %s\nlog: %s",
				tt.name, code, plain, logged, tt.code, tt.stderr, tt.log, stderr.String(), logFile.String())
		}
	}
	var stderr bytes.Buffer
	if (errorOut{stderr: &stderr}).exitStatus(errors.New("cannot open --log")) != exitFailure || stderr.String() != "sshlogfwd: cannot open --log\n" {
		t.Errorf("no log yet: %q", stderr.String())
	}
}

// Through the real command line: push refusing a --fifo in a missing
// directory says so once on standard error, with the fix.
func TestUsageErrorPrintedOnce(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir")
	code := run([]string{"push", "--fifo", filepath.Join(missing, "push.fifo"), "--spool", dir, "h:/x.log"})
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	if code != exitUsage || strings.Count(string(out), "does not exist") != 1 || !strings.Contains(string(out), "install -d -o ") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and the error once, with its fix", code, out)
	}
}
