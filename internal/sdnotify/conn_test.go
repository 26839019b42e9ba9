package sdnotify_test

import (
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// hang bounds every wait for a message: it only catches a hang.
const hang = 10 * time.Second

// TestConnSends: messages reach a real unixgram listener, at a path and at
// an abstract name, whole and in order.
func TestConnSends(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		l := testlab.ListenNotify(t, abstract)
		c, err := sdnotify.Dial(l.Socket)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"READY=1\nSTATUS=up", "WATCHDOG=1"} {
			if err := c.Notify(m); err != nil {
				t.Fatalf("notify %s: %v", l.Socket, err)
			}
			if got := l.Next(t, hang); got != m {
				t.Errorf("%s: got %q, want %q", l.Socket, got, m)
			}
		}
	}
}
