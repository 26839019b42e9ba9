package testlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary builds cmd/sshlogfwd of this module once per test process and
// returns the absolute path of the executable. It is built with -race when
// the test binary was. The binary lives in a directory shared by all tests of
// the process; TestMain may call RemoveBinary to delete it at the end.
func Binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.path, built.err = buildBinary()
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// RemoveBinary deletes the directory Binary built into, if any. Call it from
// TestMain after m.Run; Binary must not be called afterwards.
func RemoveBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

func buildBinary() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("build sshlogfwd: %w", err)
	}
	dir, err := os.MkdirTemp("", "sshlogfwd-testlab-bin-")
	if err != nil {
		return "", fmt.Errorf("build sshlogfwd: %w", err)
	}
	built.dir = dir
	out := filepath.Join(dir, "sshlogfwd")
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", out, "./cmd/sshlogfwd")
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build sshlogfwd: go %s in %s: %w\n%s",
			strings.Join(args, " "), root, err, stderr.Bytes())
	}
	return out, nil
}

// goTool is the go command to build with. `go test` puts the GOROOT/bin of
// the toolchain running the test first in PATH, so this is the same Go.
func goTool() string { return "go" }

// moduleRoot finds the directory holding go.mod: first by walking up from
// this source file (works however the test's working directory is set), then
// by asking `go env GOMOD` from the working directory (for -trimpath builds).
func moduleRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("locate module root: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("locate module root: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// RaceEnabled reports whether the tests (and so the binary Binary builds)
// run with the race detector, which multiplies memory use and slows
// everything: resource bounds in tests take it into account.
const RaceEnabled = raceEnabled
