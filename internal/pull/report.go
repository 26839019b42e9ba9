package pull

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
)

// Reporting: the state line systemd shows (STATUS=), the report pass that
// sends it and the watchdog pings, and the metrics (docs/metrics.md).

// pullStats is what the state line and the metrics know beyond the sink's
// bytes and cursor.
type pullStats struct {
	frames     atomic.Int64 // stream frames received (reliable mode)
	upSince    atomic.Int64 // unix nanoseconds on the clock: the current connection started its stream; 0: none
	reconnects atomic.Int64
}

// reporter reports one pull: its sink, its heartbeat and metrics writer.
type reporter struct {
	sink    *sink
	clock   clock.Clock
	beat    *sdnotify.Heartbeat
	metrics *metrics.Writer
	every   time.Duration // metrics interval
}

func newReporter(o *Options, s *sink) *reporter {
	r := &reporter{sink: s, clock: o.Clock, beat: sdnotify.NewHeartbeat(o.Notify, o.Clock, o.Logger), every: o.MetricsEvery}
	r.metrics = metrics.NewWriter(o.Metrics, r.collect, o.Logger)
	return r
}

// start says the pull is ready, then runs the report pass and the metrics
// writes until the returned function is called; that one also writes the
// metrics once more. STOPPING=1 goes out as soon as ctx ends.
func (r *reporter) start(ctx context.Context) (stop func()) {
	r.beat.Ready(r.statusLine())
	stopping := context.AfterFunc(ctx, func() { r.beat.Stopping(r.statusLine()) })
	life, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if r.beat != nil {
		// The pass takes the sink's lock, under which every byte is
		// written to the output: a wedged write stops the pings.
		wg.Go(func() { clock.Every(life, r.clock, r.beat.Every(), func(time.Time) { r.beat.Beat(r.statusLine()) }) })
	}
	wg.Go(func() { r.metrics.Run(life, r.clock, r.every) })
	return func() {
		stopping()
		cancel()
		wg.Wait()
		r.metrics.Write()
	}
}

// connected records that a connection started its stream (reliable) or
// brought data (compat).
func (r *pullStats) connected(c clock.Clock) {
	r.upSince.CompareAndSwap(0, c.Now().UnixNano())
}

// exited records the end of a connection; one while the pull stops is no
// reconnect.
func (r *pullStats) exited(stopping bool) {
	r.upSince.Store(0)
	if !stopping {
		r.reconnects.Add(1)
	}
}

// statusLine is the one-line state, e.g. "web1:/var/log/auth.log:
// connected, received 1.2 MiB, last data Dec  3 10:04:05".
func (r *reporter) statusLine() string {
	s := r.sink
	var b strings.Builder
	b.WriteString(s.src + ": ")
	switch {
	case s.stats.upSince.Load() != 0:
		b.WriteString("connected")
	case s.stats.reconnects.Load() == 0:
		b.WriteString("connecting")
	default:
		b.WriteString("down")
	}
	b.WriteString(", received " + sdnotify.Bytes(s.received.Load()))
	b.WriteString(", last data " + sdnotify.When(s.lastDataTime()))
	return b.String()
}

// collect is the pull's metrics now, label src.
func (r *reporter) collect() []metrics.Family {
	s, now := r.sink, r.clock.Now()
	c, have := s.position()
	up := time.Duration(0)
	if since := s.stats.upSince.Load(); since != 0 {
		up = max(now.Sub(time.Unix(0, since)), 0)
	}
	connected := 0.0
	if s.stats.upSince.Load() != 0 {
		connected = 1
	}
	label := []metrics.Label{{Name: "src", Value: s.src}}
	one := func(name, help string, typ metrics.Type, v float64) metrics.Family {
		return metrics.Family{Name: name, Help: help, Type: typ, Samples: []metrics.Sample{{Labels: label, Value: v}}}
	}
	fams := []metrics.Family{
		one("sshlogfwd_pull_received_bytes_total", "Bytes received and written to the output.", metrics.Counter, float64(s.received.Load())),
		one("sshlogfwd_pull_received_frames_total", "Stream frames received from serve, heartbeats included (0 with --compat).", metrics.Counter, float64(s.stats.frames.Load())),
		one("sshlogfwd_pull_reconnects_total", "Ends of a connection while the pull went on.", metrics.Counter, float64(s.stats.reconnects.Load())),
		one("sshlogfwd_pull_connected", "1 while a connection is streaming, else 0.", metrics.Gauge, connected),
		one("sshlogfwd_pull_ssh_uptime_seconds", "How long the current connection has streamed (0: none).", metrics.Gauge, up.Seconds()),
		one("sshlogfwd_pull_last_data_timestamp_seconds", "When data last arrived, Unix time (0: none since the start).", metrics.Gauge, metrics.Seconds(s.lastDataTime())),
	}
	if have {
		fams = append(fams, one("sshlogfwd_pull_cursor_offset_bytes", "The cursor: the offset in the remote file up to which the output holds everything.", metrics.Gauge, float64(c.Offset)))
	}
	return fams
}
