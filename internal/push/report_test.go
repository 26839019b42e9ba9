package push

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// reportRun is a reliable run into the real receiver, with a real
// notification socket (watchdog timeout 4 s) and a metrics sink.
type reportRun struct {
	clk    *clock.Fake
	notify *testlab.NotifyListener
	sink   *testlab.MetricsRecorder
	dest   atomic.Pointer[destination]
	remote string
	*testlab.Background
}

func startReportRun(t *testing.T, input []byte) *reportRun {
	r := &reportRun{clk: clock.NewFake(t0), notify: testlab.ListenNotify(t, false), sink: &testlab.MetricsRecorder{}}
	r.remote = filepath.Join(t.TempDir(), "remote.log")
	opts := runOptions(t, r.remote, r.clk, &logRecorder{t: t})
	opts.Input = newEndlessInput(input)
	opts.Notify = r.notify.Notifier(t, 4*time.Second)
	opts.Metrics, opts.MetricsEvery = r.sink, time.Hour
	sup := fakeSupervisor(t, r.clk, func(l *pipeLink) func() {
		served := serveReceiver(t, l, r.remote)
		return func() { <-served }
	})
	opts.supervise = func(ctx context.Context, d *destination, session func(context.Context, Link) bool, exited func(error)) error {
		r.dest.Store(d)
		return sup(ctx, d, session, exited)
	}
	r.Background = testlab.Go(t, func(ctx context.Context) error { return Run(ctx, opts) })
	return r
}

// TestRunNotifiesSystemd: READY=1 comes first, once the spool and the
// input are open, with a state line naming the destination; then the
// state line reports the connection and the delivery, WATCHDOG=1 comes
// from the report passes, and STOPPING=1 when the run stops.
func TestRunNotifiesSystemd(t *testing.T) {
	const n = 3000
	r := startReportRun(t, lines(0, n))
	first := r.notify.Next(t, hang)
	if !strings.HasPrefix(first, "READY=1\n") {
		t.Fatalf("first message %q, want READY=1 first", first)
	}
	if st, _ := testlab.Assignment(first, "STATUS"); !strings.Contains(st, "loghost: ") || !strings.Contains(st, "spooled ") {
		t.Errorf("first state line %q names no destination or spool", st)
	}
	waitFor(t, func() bool { b, _ := os.ReadFile(r.remote); return len(b) == n*lineLen }, "all %d lines on the log host", n)
	// Acknowledgements come after the data is on disk: the state line
	// says so within a few passes.
	msg := r.notify.AwaitAdvancing(t, r.clk, "STATUS=loghost: connected, last delivery ", "; spooled 0 B")
	if strings.Contains(msg, "never") {
		t.Errorf("state line %q: the delivery is not there", msg)
	}
	r.notify.AwaitAdvancing(t, r.clk, "WATCHDOG=1")
	r.Cancel()
	stop, _ := r.notify.Await(t, hang, "STOPPING=1", func(m string) bool { return strings.HasPrefix(m, "STOPPING=1\n") })
	if st, _ := testlab.Assignment(stop, "STATUS"); !strings.HasPrefix(st, "stopping: ") {
		t.Errorf("state line at the stop %q", st)
	}
	r.Stop(t, hang)
}

// TestRunWatchdogStopsWhenWedged: the watchdog pings come from the report
// pass, which goes through the lock every acknowledgement takes; while a
// test holds that lock (an acknowledgement wedged on its way) no ping
// comes, however much time passes, and the first pass after it pings.
func TestRunWatchdogStopsWhenWedged(t *testing.T) {
	r := startReportRun(t, lines(0, 10))
	r.notify.Next(t, hang) // READY=1
	r.notify.AwaitAdvancing(t, r.clk, "WATCHDOG=1")
	d := r.dest.Load()
	d.stats.mu.Lock()
	for range 10 {
		r.clk.Advance(time.Second)
	}
	// Absence can only be checked for a while: a ping from anywhere
	// but the pass would have come in this time.
	if m, ok := r.notify.TryNext(300 * time.Millisecond); ok {
		t.Errorf("while wedged for 10 s (watchdog 4 s), got %q", m)
	}
	d.stats.mu.Unlock()
	if m := r.notify.Next(t, hang); !strings.Contains(m, "WATCHDOG=1") {
		t.Errorf("the first message after the wedge is %q, want a ping", m)
	}
}

// TestRunMetricsCountLines: after a known run (N lines read, sent and
// acknowledged through the real receiver), the final metrics say N.
func TestRunMetricsCountLines(t *testing.T) {
	const n = 20000
	r := startReportRun(t, lines(0, n))
	r.notify.Next(t, hang)
	waitFor(t, func() bool { b, _ := os.ReadFile(r.remote); return len(b) == n*lineLen }, "all %d lines on the log host", n)
	r.Stop(t, hang)
	for name, want := range map[string]float64{
		"sshlogfwd_push_read_lines_total":    n,
		"sshlogfwd_push_read_bytes_total":    n * lineLen,
		"sshlogfwd_push_dropped_lines_total": 0,
		"sshlogfwd_push_spooled_bytes":       0,
	} {
		if got := r.sink.Value(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	dest := "loghost:" + r.remote
	for name, want := range map[string]float64{
		"sshlogfwd_push_sent_lines_total":           n,
		"sshlogfwd_push_sent_bytes_total":           n * lineLen,
		"sshlogfwd_push_acknowledged_lines_total":   n,
		"sshlogfwd_push_acknowledged_bytes_total":   n * lineLen,
		"sshlogfwd_push_pending_bytes":              0,
		"sshlogfwd_push_oldest_pending_age_seconds": 0,
	} {
		if got := r.sink.Value(t, name, "dest", dest); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, reason := range endReasonNames[1:] {
		if got := r.sink.Value(t, "sshlogfwd_push_reconnects_total", "dest", dest, "reason", reason); got != 0 {
			t.Errorf("reconnects (%s) = %v, want 0 (the stop is no reconnect)", reason, got)
		}
	}
	if got := r.sink.Value(t, "sshlogfwd_push_last_delivery_timestamp_seconds", "dest", dest); got < metrics.Seconds(t0) {
		t.Errorf("last delivery %v, want at least the start %v", got, metrics.Seconds(t0))
	}
}

// TestDestStatsReasons: why a child ended, from what its session saw and
// its exit status; an end during the stop is no reconnect.
func TestDestStatsReasons(t *testing.T) {
	cases := []struct {
		name      string
		connected bool
		saw       endReason
		err       error
		stopping  bool
		want      endReason // endNone: not counted
	}{
		{"ssh could not connect", false, endNone, exitError(255), false, endConnectFailed},
		{"link died", true, endNone, exitError(255), false, endLinkDied},
		{"far side ended", true, endNone, nil, false, endLinkDied},
		{"cat could not open its file", true, endNone, exitError(2), false, endRefused},
		{"receiver refused", true, endRefused, exitError(2), false, endRefused},
		{"no acknowledgement", true, endAckTimeout, exitError(-1), false, endAckTimeout},
		{"remote command not found", false, endNone, exitError(127), false, endRefused},
		{"stopped", true, endNone, nil, true, endNone},
	}
	for _, c := range cases {
		s := &destStats{clock: clock.NewFake(t0)}
		if c.connected {
			s.connected()
		}
		if c.saw != endNone {
			s.end(c.saw)
		}
		s.exited(c.err, c.stopping)
		for r := endConnectFailed; r < numEndReasons; r++ {
			if got, want := s.reconnects[r].Load(), int64(b2i(r == c.want)); got != want {
				t.Errorf("%s: reconnects[%s] = %d, want %d", c.name, endReasonNames[r], got, want)
			}
		}
		if s.upSince.Load() != 0 || s.ending.Load() != 0 {
			t.Errorf("%s: the next child would inherit this one's state", c.name)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDestStatsLines: lines sent again after a reconnect count as sent,
// but are acknowledged once; acknowledgements count what they pass.
func TestDestStatsLines(t *testing.T) {
	te := newTestEngine(t, Options{}, spool.Options{})
	te.sp.Append(lines(0, 10))
	d := te.d
	d.stats.sent(0, lines(0, 5))          // lines 0-4
	d.stats.sent(5*lineLen, lines(5, 10)) // lines 5-9
	d.ack(5 * lineLen)                    // 0-4 delivered
	d.stats.sent(3*lineLen, lines(3, 10)) // resent from line 3 after a reconnect
	d.ack(10 * lineLen)                   // all delivered
	if got := d.stats.sentLines.Load(); got != 17 {
		t.Errorf("sent lines %d, want 17 (5 + 5 + 7 resent)", got)
	}
	if got := d.stats.ackedLines.Load(); got != 10 {
		t.Errorf("acknowledged lines %d, want 10", got)
	}
	if got := d.stats.ackedBytes.Load(); got != 10*lineLen {
		t.Errorf("acknowledged bytes %d, want %d", got, 10*lineLen)
	}
	if !d.stats.delivered().Equal(t0) {
		t.Errorf("last delivery %v, want %v", d.stats.delivered(), t0)
	}
}

// TestAgeMarks: the oldest waiting byte is as old as the first pass that
// saw the spool's end beyond it.
func TestAgeMarks(t *testing.T) {
	var a ageMarks
	a.note(0, 0, t0)
	a.note(100, 0, t0.Add(time.Second))
	a.note(100, 0, t0.Add(2*time.Second)) // no new data: no mark
	a.note(300, 0, t0.Add(3*time.Second))
	now := t0.Add(10 * time.Second)
	for pos, want := range map[int64]time.Duration{0: 9 * time.Second, 99: 9 * time.Second, 100: 7 * time.Second, 300: 0} {
		if got := a.age(pos, now); got != want {
			t.Errorf("age(%d) = %v, want %v", pos, got, want)
		}
	}
	a.note(300, 150, now) // everything below 150 delivered everywhere
	if got := a.age(160, now); got != 7*time.Second {
		t.Errorf("after forgetting: age(160) = %v, want 7s", got)
	}
	for i := range 3 * maxAgeMarks {
		a.note(int64(1000+i), 150, now.Add(time.Duration(i)*time.Second))
	}
	if len(a.marks) > maxAgeMarks || a.age(160, now) != 7*time.Second {
		t.Errorf("after a long outage: %d marks, age(160) = %v", len(a.marks), a.age(160, now))
	}
}

// TestRunNotReadyWhenOpenFails: READY=1 comes only once the spool is
// recovered and the input open; a run that cannot start says nothing.
func TestRunNotReadyWhenOpenFails(t *testing.T) {
	notify := testlab.ListenNotify(t, false)
	opts := runOptions(t, "/var/log/remote.log", clock.NewFake(t0), &logRecorder{t: t})
	opts.Input = newEndlessInput(nil)
	opts.Notify = notify.Notifier(t, 0)
	os.MkdirAll(opts.SpoolDir, 0o700)
	lock, err := fsutil.TryLockFile(filepath.Join(opts.SpoolDir, "lock"), "the test")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := Run(context.Background(), opts); err == nil {
		t.Fatal("Run with the spool locked by another: no error")
	}
	// The run has returned: a READY=1 it sent is already in the socket.
	if m, ok := notify.TryNext(200 * time.Millisecond); ok {
		t.Errorf("a run that could not start sent %q", m)
	}
}
