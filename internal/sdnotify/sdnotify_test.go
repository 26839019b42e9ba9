package sdnotify

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// TestFromEnv: the socket and the watchdog come from the environment,
// which is cleared for the children; a watchdog meant for another process
// is not ours; what cannot be used is an error.
func TestFromEnv(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	cases := []struct {
		name, socket, usec, pid string
		want                    time.Duration
		wantConn                bool
		wantErr                 error // nil: none; errAny: some error
	}{
		{name: "unset"},
		{name: "no watchdog", socket: "/run/notify", wantConn: true},
		{name: "abstract", socket: "@notify", usec: "30000000", wantConn: true, want: 30 * time.Second},
		{name: "our pid", socket: "/run/notify", usec: "2000000", pid: self, wantConn: true, want: 2 * time.Second},
		{name: "another pid", socket: "/run/notify", usec: "2000000", pid: "1", wantConn: true},
		{name: "bad usec", socket: "/run/notify", usec: "soon", wantConn: true, wantErr: errAny},
		{name: "zero usec", socket: "/run/notify", usec: "0", wantConn: true, wantErr: errAny},
		{name: "vsock", socket: "vsock:2:1234", wantErr: ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(envSocket, c.socket)
			t.Setenv(envWatchdog, c.usec)
			t.Setenv(envWatchdogPID, c.pid)
			conn, err := FromEnv()
			switch {
			case c.wantErr == nil && err != nil, c.wantErr != nil && err == nil,
				c.wantErr != nil && c.wantErr != errAny && !errors.Is(err, c.wantErr):
				t.Errorf("err %v, want %v", err, c.wantErr)
			}
			if (conn != nil) != c.wantConn {
				t.Fatalf("conn %v, want one: %v", conn, c.wantConn)
			}
			if conn != nil && conn.Watchdog() != c.want {
				t.Errorf("watchdog %v, want %v", conn.Watchdog(), c.want)
			}
			for _, v := range []string{envSocket, envWatchdog, envWatchdogPID} {
				if _, ok := os.LookupEnv(v); ok {
					t.Errorf("%s still in the environment: children would inherit it", v)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

// recorder is a Notifier that keeps the messages.
type recorder struct {
	mu       sync.Mutex
	msgs     []string
	watchdog time.Duration
	fail     error
}

func (r *recorder) Notify(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, s)
	return r.fail
}

func (r *recorder) Watchdog() time.Duration { return r.watchdog }

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// TestHeartbeat: nothing before Ready; then STATUS only when the line
// changes, WATCHDOG=1 once half the timeout has passed since the last
// ping, and STOPPING=1 with its line.
func TestHeartbeat(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	r := &recorder{watchdog: 4 * time.Second}
	h := NewHeartbeat(r, clk, nil)
	if h.Every() != time.Second {
		t.Errorf("Every %v, want 1s for a 4s watchdog", h.Every())
	}
	h.Beat("early")
	h.Ready("up")
	steps := []struct {
		advance time.Duration
		status  string
		want    []string
	}{
		{0, "", []string{"READY=1\nSTATUS=up"}},
		{time.Second, "up", nil},
		{time.Second, "up", []string{"WATCHDOG=1"}},
		{time.Second, "up 2", []string{"STATUS=up 2"}},
		{time.Second, "up 3", []string{"STATUS=up 3\nWATCHDOG=1"}},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.status != "" {
			h.Beat(s.status)
		}
		if got := r.take(); !slices.Equal(got, s.want) {
			t.Errorf("step %d: sent %q, want %q", i, got, s.want)
		}
	}
	h.Stopping("draining")
	h.Beat("draining")
	h.Beat("drained")
	if got := r.take(); !slices.Equal(got, []string{"STOPPING=1\nSTATUS=stopping: draining", "STATUS=stopping: drained"}) {
		t.Errorf("stop: sent %q", got)
	}
	if NewHeartbeat(nil, clk, nil) != nil {
		t.Error("a Heartbeat without a Notifier is not nil")
	}
	var none *Heartbeat
	none.Ready("x") // must not panic
	none.Beat("x")
	none.Stopping("x")
}

// TestHeartbeatShortWatchdog: a watchdog shorter than two seconds makes
// the passes come at half of it, and every pass pings.
func TestHeartbeatShortWatchdog(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	r := &recorder{watchdog: time.Second}
	h := NewHeartbeat(r, clk, nil)
	if h.Every() != 500*time.Millisecond {
		t.Fatalf("Every %v, want 500ms", h.Every())
	}
	h.Ready("up")
	r.take()
	for range 3 {
		clk.Advance(h.Every())
		h.Beat("up")
		if got := r.take(); !slices.Equal(got, []string{"WATCHDOG=1"}) {
			t.Errorf("sent %q, want a ping", got)
		}
	}
}

func TestBytesAndWhen(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 10: "1.5 MiB", 3 << 40: "3.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if When(time.Time{}) != "never" || When(time.Unix(1e9, 0)) != time.Unix(1e9, 0).Format(time.Stamp) {
		t.Errorf("When: %q, %q", When(time.Time{}), When(time.Unix(1e9, 0)))
	}
}
