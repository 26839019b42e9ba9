package testlab

import (
	"errors"
	"os"
	"testing"
	"time"
)

// pollInterval is how often WaitFor, Poll and the daemon helpers re-check a
// condition.
const pollInterval = 10 * time.Millisecond

// RequireBinary skips the test when the program at path is missing, and fails
// it when CI=true: on CI a missing daemon is a broken environment, not a
// reason to pass silently.
func RequireBinary(t testing.TB, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return
	}
	if err == nil {
		err = errNotExecutable
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("required program %s: %v (CI=true, not skipping)", path, err)
		return
	}
	t.Skipf("required program %s: %v", path, err)
}

var errNotExecutable = errors.New("not an executable file")

// WaitFor calls cond every few milliseconds until it returns true, and fails
// the test with the formatted message when timeout passes first. It is the
// only way tests should wait for something to happen.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
	}
}

// Poll is WaitFor without the failure, for a caller whose message must
// show the state at the deadline: it reports whether cond became true
// before timeout.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// RequireRoot skips the test when we are not root, and fails it when
// CI=true: there a test that needs root (users, packages, mounts) must run.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s needs root (CI=true, not skipping)", why)
	}
	t.Skipf("%s needs root", why)
}
