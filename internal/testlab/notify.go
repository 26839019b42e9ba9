package testlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NotifyListener plays systemd's side of sd_notify(3) for a test: a
// unixgram socket that collects the messages a service sends.
type NotifyListener struct {
	// Socket is what NOTIFY_SOCKET must say: a path, or an abstract name
	// starting with "@".
	Socket string
	conn   *net.UnixConn
	msgs   chan string
}

// ListenNotify opens a notification socket in a temporary directory, or in
// the abstract namespace when abstract is set, and collects what arrives
// until the test ends.
func ListenNotify(t testing.TB, abstract bool) *NotifyListener {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify.sock")
	if abstract {
		// The abstract namespace is the whole network namespace's: the
		// name must not collide with another test process's (the
		// numbered temp directory of a test, "003", did).
		name = fmt.Sprintf("@sshlogfwd-test-%d-%x", os.Getpid(), rand.Uint64())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on notification socket: %v", err)
	}
	l := &NotifyListener{Socket: name, conn: conn, msgs: make(chan string, 4096)}
	go l.collect()
	t.Cleanup(func() { conn.Close() })
	return l
}

func (l *NotifyListener) collect() {
	defer close(l.msgs)
	buf := make([]byte, 64<<10)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				os.Stderr.WriteString("notify listener: " + err.Error() + "\n")
			}
			return
		}
		l.msgs <- string(buf[:n])
	}
}

// Next returns the next message, failing the test when none arrives within
// timeout (a deadline that only catches a hang).
func (l *NotifyListener) Next(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case m, ok := <-l.msgs:
		if !ok {
			t.Fatal("notification socket closed")
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("hang: no notification within %v", timeout)
		return ""
	}
}

// TryNext returns the next message if one arrives within d: for checking
// that none comes while something should keep it from coming.
func (l *NotifyListener) TryNext(d time.Duration) (string, bool) {
	select {
	case m, ok := <-l.msgs:
		return m, ok
	case <-time.After(d):
		return "", false
	}
}

// Await returns the first message for which match is true, failing the
// test when none arrives within timeout; it returns the messages before
// it too.
func (l *NotifyListener) Await(t testing.TB, timeout time.Duration, what string, match func(string) bool) (msg string, before []string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-l.msgs:
			if !ok {
				t.Fatalf("notification socket closed while waiting for %s; before: %q", what, before)
			}
			if match(m) {
				return m, before
			}
			before = append(before, m)
		case <-deadline:
			t.Fatalf("hang: no notification with %s within %v; got: %q", what, timeout, before)
			return "", before
		}
	}
}

// Pending returns the messages that arrived and were not read yet.
func (l *NotifyListener) Pending() []string {
	var out []string
	for {
		select {
		case m := <-l.msgs:
			out = append(out, m)
		default:
			return out
		}
	}
}

// Assignment returns the value of VAR in msg, and whether it is there.
func Assignment(msg, name string) (string, bool) {
	for _, line := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v, true
		}
	}
	return "", false
}
