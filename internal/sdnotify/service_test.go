package sdnotify

import (
	"log/slog"
	"os"
	"testing"
	"time"
)

// TestService: no NOTIFY_SOCKET, no notifier (a nil interface, not a nil
// *Conn in one); with one, a notifier, and the variables are gone from
// what ssh would inherit.
func TestService(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if n := Service(slog.New(slog.DiscardHandler)); n != nil {
		t.Errorf("notifier %#v without NOTIFY_SOCKET", n)
	}
	t.Setenv("NOTIFY_SOCKET", "@sshlogfwd-test")
	t.Setenv("WATCHDOG_USEC", "4000000")
	n := Service(slog.New(slog.DiscardHandler))
	if n == nil || n.Watchdog() != 4*time.Second {
		t.Fatalf("notifier %#v, want one with a 4s watchdog", n)
	}
	if _, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Error("NOTIFY_SOCKET left for ssh to inherit")
	}
}
