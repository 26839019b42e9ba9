package push

import (
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
)

// collect is the run's metrics now (docs/metrics.md names them).
func (e *engine) collect() []metrics.Family {
	now := e.clock.Now()
	st := e.sp.Stats()
	one := func(v int64) []metrics.Sample { return []metrics.Sample{{Value: float64(v)}} }
	fams := []metrics.Family{
		{Name: "sshlogfwd_push_read_lines_total", Type: metrics.Counter, Help: "Lines read from the input into the spool (with push's own mark lines).", Samples: one(st.AppendedLines)},
		{Name: "sshlogfwd_push_read_bytes_total", Type: metrics.Counter, Help: "Bytes read from the input into the spool.", Samples: one(st.AppendedBytes)},
		{Name: "sshlogfwd_push_dropped_lines_total", Type: metrics.Counter, Help: "Lines the spool bound (--spool-max) dropped before every destination had them.", Samples: one(st.DroppedLines)},
		{Name: "sshlogfwd_push_dropped_bytes_total", Type: metrics.Counter, Help: "Bytes the spool bound (--spool-max) dropped.", Samples: one(st.DroppedBytes)},
		{Name: "sshlogfwd_push_spooled_bytes", Type: metrics.Gauge, Help: "Bytes held in the spool (memory and disk).", Samples: one(st.Pending)},
		{Name: "sshlogfwd_push_spooled_disk_bytes", Type: metrics.Gauge, Help: "Bytes of the spool in segment files.", Samples: one(st.OnDisk)},
		{Name: "sshlogfwd_push_spool_segments", Type: metrics.Gauge, Help: "Segments of the spool (memory and files).", Samples: one(int64(st.Segments))},
		{Name: "sshlogfwd_push_spool_max_bytes", Type: metrics.Gauge, Help: "The spool bound, --spool-max.", Samples: one(e.opts.SpoolMax)},
	}
	return append(fams, e.collectDests(now)...)
}

// collectDests is the per-destination part: label dest, and reason for
// the reconnects.
func (e *engine) collectDests(now time.Time) []metrics.Family {
	type perDest struct {
		name, help string
		typ        metrics.Type
		value      func(d *destination) float64
	}
	perDests := []perDest{
		{"sshlogfwd_push_sent_lines_total", "Lines written into ssh, resends after a reconnect included.", metrics.Counter,
			func(d *destination) float64 { return float64(d.stats.sentLines.Load()) }},
		{"sshlogfwd_push_sent_bytes_total", "Bytes written into ssh, resends after a reconnect included.", metrics.Counter,
			func(d *destination) float64 { return float64(d.sent.Load()) }},
		{"sshlogfwd_push_acknowledged_lines_total", "Lines delivered, each once: acknowledged by the receiver (--reliable), or counted as delivered by the compatible mode's rule.", metrics.Counter,
			func(d *destination) float64 { return float64(d.stats.ackedLines.Load()) }},
		{"sshlogfwd_push_acknowledged_bytes_total", "Bytes delivered, each once (see sshlogfwd_push_acknowledged_lines_total).", metrics.Counter,
			func(d *destination) float64 { return float64(d.stats.ackedBytes.Load()) }},
		{"sshlogfwd_push_pending_bytes", "Bytes spooled that the destination has not had delivered yet.", metrics.Gauge,
			func(d *destination) float64 { return float64(d.consumer.Pending()) }},
		{"sshlogfwd_push_oldest_pending_age_seconds", "How long the oldest byte the destination has not had delivered has waited (0: nothing waits).", metrics.Gauge,
			func(d *destination) float64 { return e.pendingAge(d, now).Seconds() }},
		{"sshlogfwd_push_last_delivery_timestamp_seconds", "When a delivery last succeeded, Unix time (0: none since the start).", metrics.Gauge,
			func(d *destination) float64 { return metrics.Seconds(d.stats.delivered()) }},
		{"sshlogfwd_push_connected", "1 while an ssh child is connected to the destination, else 0.", metrics.Gauge,
			func(d *destination) float64 { return b2f(d.stats.upSince.Load() != 0) }},
		{"sshlogfwd_push_ssh_uptime_seconds", "How long the current ssh child has been connected (0: none is).", metrics.Gauge,
			func(d *destination) float64 { return uptime(d.stats.upSince.Load(), now).Seconds() }},
	}
	var fams []metrics.Family
	for _, g := range perDests {
		f := metrics.Family{Name: g.name, Help: g.help, Type: g.typ}
		for _, d := range e.dests {
			f.Samples = append(f.Samples, metrics.Sample{Labels: []metrics.Label{{Name: "dest", Value: d.String()}}, Value: g.value(d)})
		}
		fams = append(fams, f)
	}
	return append(fams, e.collectReconnects())
}

func (e *engine) collectReconnects() metrics.Family {
	f := metrics.Family{Name: "sshlogfwd_push_reconnects_total", Type: metrics.Counter,
		Help: "Ends of an ssh child while the run went on, by reason: connect_failed, link_died, remote_refused, ack_timeout."}
	for _, d := range e.dests {
		for r := endConnectFailed; r < numEndReasons; r++ {
			f.Samples = append(f.Samples, metrics.Sample{
				Labels: []metrics.Label{{Name: "dest", Value: d.String()}, {Name: "reason", Value: endReasonNames[r]}},
				Value:  float64(d.stats.reconnects[r].Load()),
			})
		}
	}
	return f
}

// pendingAge is how long the oldest byte d waits for has waited.
func (e *engine) pendingAge(d *destination, now time.Time) time.Duration {
	if d.consumer.Pending() == 0 {
		return 0
	}
	_, acked := d.consumer.Position()
	return e.ages.age(acked, now)
}

func uptime(since int64, now time.Time) time.Duration {
	if since == 0 {
		return 0
	}
	return max(now.Sub(time.Unix(0, since)), 0)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
