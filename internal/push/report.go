package push

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// Reporting: the state line systemd shows (STATUS=), the report pass that
// sends it and the watchdog pings, and what the metrics file says
// (metrics.go, docs/metrics.md).

// endReason is why a destination's ssh child ended, for the reconnect
// counters and the state line.
type endReason int32

const (
	endNone          endReason = iota
	endConnectFailed           // ssh never connected (or the far side never answered the hello)
	endLinkDied                // the link broke, or the far side ended, after connecting
	endRefused                 // the far side refused: a receiver's error, a remote command that failed
	endAckTimeout              // no acknowledgement within --ack-timeout (reliable mode)
	numEndReasons
)

var endReasonNames = [numEndReasons]string{"", "connect_failed", "link_died", "remote_refused", "ack_timeout"}

// destStats is what the state line and the metrics know of one destination
// beyond the spool's view: lines sent and acknowledged, the last delivery,
// the current connection and why the earlier ones ended.
type destStats struct {
	clock clock.Clock

	sentLines  atomic.Int64 // every write, resends included (like destination.sent)
	ackedBytes atomic.Int64
	ackedLines atomic.Int64
	upSince    atomic.Int64 // unix nanoseconds: the current child connected; 0: none
	ending     atomic.Int32 // why the current child is ending, as its session saw it
	lastEnd    atomic.Int32 // why the last child ended
	reconnects [numEndReasons]atomic.Int64

	// Every acknowledgement goes through mu, and so does the report
	// pass (lastDelivery): a wedged acknowledgement stops the watchdog.
	mu           sync.Mutex
	lastDelivery time.Time // zero: nothing delivered in this run
	// lines sent up to each stream offset, each line once, until
	// acknowledged: acknowledgements are offsets.
	marks []lineMark
	high  int64 // stream offset after the last byte sent
	lines int64 // lines up to high
}

type lineMark struct{ end, lines int64 }

// sent records data written at stream offset start.
func (s *destStats) sent(start int64, data []byte) {
	n := int64(bytes.Count(data, []byte{'\n'}))
	s.sentLines.Add(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	end := start + int64(len(data))
	if end <= s.high {
		return // sent again after a reconnect: counted once
	}
	if start < s.high {
		n = int64(bytes.Count(data[s.high-start:], []byte{'\n'}))
	}
	s.lines += n
	s.high = end
	s.marks = append(s.marks, lineMark{end, s.lines})
}

// ack acknowledges everything before pos to c, counting what is new.
func (s *destStats) ack(c *spool.Consumer, pos int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, before := c.Position()
	c.Ack(pos)
	if pos > before {
		s.ackedBytes.Add(pos - before)
		s.lastDelivery = s.clock.Now()
	}
	i := 0
	for ; i < len(s.marks) && s.marks[i].end <= pos; i++ {
		s.ackedLines.Store(s.marks[i].lines)
	}
	s.marks = s.marks[i:]
}

// delivered is when a delivery last succeeded (zero: none in this run).
func (s *destStats) delivered() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastDelivery
}

// connected records that the current child is connected (and, reliable,
// the receiver answered).
func (s *destStats) connected() { s.upSince.Store(s.clock.Now().UnixNano()) }

// end records why the current child is about to end, if its session knows
// better than its exit status (first reason wins).
func (s *destStats) end(r endReason) { s.ending.CompareAndSwap(0, int32(r)) }

// exited records the end of a child with result err. An end while the run
// stops is no reconnect.
func (s *destStats) exited(err error, stopping bool) {
	r := endReason(s.ending.Swap(0))
	if r == endNone {
		switch code := exitCode(err); {
		case code > 0 && code != sshStatus:
			r = endRefused
		case s.upSince.Load() == 0:
			r = endConnectFailed
		default:
			r = endLinkDied
		}
	}
	s.upSince.Store(0)
	if !stopping {
		s.reconnects[r].Add(1)
		s.lastEnd.Store(int32(r))
	}
}

// ageMarks remember when the spool's end passed which offset, one mark per
// report pass in which it moved: the oldest byte a destination still waits
// for is as old as the first mark beyond it (within one pass). Data
// spooled by an earlier run counts from this run's first pass.
type ageMarks struct {
	mu    sync.Mutex
	marks []ageMark
}

type ageMark struct {
	tail int64
	at   time.Time
}

// maxAgeMarks bounds the marks of a long outage: past it every other one
// is dropped (the oldest kept), which makes the ages of newer data a
// little younger than they are.
const maxAgeMarks = 4096

// note records the spool's end at now, and forgets what every destination
// has had (below low).
func (a *ageMarks) note(tail, low int64, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := 0
	for i < len(a.marks)-1 && a.marks[i].tail <= low {
		i++
	}
	a.marks = a.marks[i:]
	if k := len(a.marks); k == 0 || a.marks[k-1].tail < tail {
		a.marks = append(a.marks, ageMark{tail, now})
	}
	if len(a.marks) > maxAgeMarks {
		kept := a.marks[:0]
		for j, m := range a.marks {
			if j%2 == 0 || j == len(a.marks)-1 {
				kept = append(kept, m)
			}
		}
		a.marks = kept
	}
}

// age is how long the byte at pos has waited at now.
func (a *ageMarks) age(pos int64, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.marks {
		if m.tail > pos {
			return max(now.Sub(m.at), 0)
		}
	}
	return 0
}

// startReporting runs the report pass (the state line, the watchdog, the
// ages) every heartbeat interval and writes the metrics every
// MetricsEvery. The returned function stops both and writes the metrics
// once more, with the final counters.
func (e *engine) startReporting() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if e.beat != nil || e.metrics != nil {
		wg.Go(func() { clock.Every(ctx, e.clock, e.beat.Every(), e.pass) })
	}
	wg.Go(func() { e.metrics.Run(ctx, e.clock, e.opts.MetricsEvery) })
	return func() {
		cancel()
		wg.Wait()
		e.metrics.Write()
	}
}

// pass is one report pass. It builds the state line through the spool's
// lock and every destination's consumer, as the reader and the sessions
// move every byte through them: a pass that cannot get through sends no
// watchdog ping.
func (e *engine) pass(now time.Time) {
	head, tail := e.sp.Bounds()
	low := tail
	for _, d := range e.dests {
		_, acked := d.consumer.Position()
		low = min(low, max(acked, head))
	}
	e.ages.note(tail, low, now)
	e.beat.Beat(e.statusLine())
}

// statusLine is the one-line state: each destination's connection,
// what it still waits for and its last delivery, and the spool.
func (e *engine) statusLine() string {
	var parts []string
	for _, d := range e.dests {
		parts = append(parts, d.status())
	}
	st := e.sp.Stats()
	return strings.Join(parts, "; ") + "; spooled " + sdnotify.Bytes(st.Pending)
}

// status is d's part of the state line, e.g. "loghost: connected, last
// delivery Dec  3 10:04:05" or "loghost: down (connect failed), 1.2 MiB
// waiting, last delivery never".
func (d *destination) status() string {
	var b strings.Builder
	b.WriteString(d.Target() + ": ")
	switch r := endReason(d.stats.lastEnd.Load()); {
	case d.stats.upSince.Load() != 0:
		b.WriteString("connected")
	case r == endNone:
		b.WriteString("connecting")
	default:
		b.WriteString("down (" + strings.ReplaceAll(endReasonNames[r], "_", " ") + ")")
	}
	if n := d.consumer.Pending(); n > 0 {
		b.WriteString(", " + sdnotify.Bytes(n) + " waiting")
	}
	b.WriteString(", last delivery " + sdnotify.When(d.stats.delivered()))
	return b.String()
}

// stoppingLine is the state line once the run stops.
func (e *engine) stoppingLine() string {
	return "delivering what is buffered (drain timeout " + e.opts.DrainTimeout.String() + "); " + e.statusLine()
}
