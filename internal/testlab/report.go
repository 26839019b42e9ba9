package testlab

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
)

// WatchdogNotifier is a real notification socket with a watchdog timeout
// chosen by the test, as systemd sets $WATCHDOG_USEC.
type WatchdogNotifier struct {
	*sdnotify.Conn
	Timeout time.Duration
}

// Watchdog is the chosen timeout.
func (n WatchdogNotifier) Watchdog() time.Duration { return n.Timeout }

// Notifier returns a notifier that sends to l with watchdog timeout wd.
func (l *NotifyListener) Notifier(t testing.TB, wd time.Duration) WatchdogNotifier {
	t.Helper()
	c, err := sdnotify.Dial(l.Socket)
	if err != nil {
		t.Fatal(err)
	}
	return WatchdogNotifier{c, wd}
}

// AwaitAdvancing advances clk a second at a time until a message
// containing every part of want arrives, and returns it; it fails the test
// after a minute on the clock.
func (l *NotifyListener) AwaitAdvancing(t testing.TB, clk *clock.Fake, want ...string) string {
	t.Helper()
	var seen []string
	for range 60 {
		clk.Advance(time.Second)
		for {
			m, ok := l.TryNext(20 * time.Millisecond)
			if !ok {
				break
			}
			if containsAll(m, want) {
				return m
			}
			seen = append(seen, m)
		}
	}
	t.Fatalf("hang: no message with %q in 60 s on the clock; got %q", want, seen)
	return ""
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// MetricsRecorder is a metrics sink that checks each write against the
// format's rules and keeps the last one.
type MetricsRecorder struct {
	mu     sync.Mutex
	fams   []metrics.Family
	Writes int
}

// Write keeps fams.
func (m *MetricsRecorder) Write(fams []metrics.Family) error {
	if _, err := metrics.Encode(fams); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fams, m.Writes = fams, m.Writes+1
	return nil
}

// Value is the sample of name, in the last write, whose labels include
// the name/value pairs in labels; it fails the test when there is none.
func (m *MetricsRecorder) Value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.fams {
		if f.Name != name {
			continue
		}
		for _, s := range f.Samples {
			if hasLabels(s.Labels, labels) {
				return s.Value
			}
		}
	}
	t.Fatalf("no metric %s%q in the last write", name, labels)
	return 0
}

func hasLabels(have []metrics.Label, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range have {
			found = found || (l.Name == want[i] && l.Value == want[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}
