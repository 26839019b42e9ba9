package push

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// settle is how long a remote command must keep running after we wrote
// data before that data counts as delivered. A `cat >> FILE` that cannot
// open its file fails at once; until then the data is kept, and resent
// if the remote command fails.
const settle = time.Second

// settling is the compatible mode's delivery rule for one destination:
// what was written into the current child but does not count as
// delivered yet, and how much of it the child read.
type settling struct {
	mu      sync.Mutex
	pending []written
	piped   int64 // bytes written into the current child's input
	// read is how many of them the child read before it died, known
	// (dead) once its input has no reader left (see died).
	read int64
	dead bool
}

// written is one write into the child's input: n bytes in the pipe, the
// stream from start to end, or a notice standing in for gap (start ==
// end).
type written struct {
	piped      int64 // the child's input up to and with this write
	n          int64
	start, end int64
	gap        spool.Gap
	at         time.Time
}

// wrote records w, handed to the current child at w.at.
func (s *settling) wrote(w written) {
	s.mu.Lock()
	s.piped += w.n
	w.piped = s.piped
	s.pending = append(s.pending, w)
	s.mu.Unlock()
}

// aged acknowledges for d what was written at least settle before now to
// a child that is still running and that the child has read: what is still
// in its input (in) is not delivered, however long it waited there.
func (s *settling) aged(d *destination, now time.Time, in any) {
	s.mu.Lock()
	piped := s.piped
	s.mu.Unlock()
	// Counted after piped: a write meanwhile only makes read smaller.
	read := piped
	if q := pipe.Queued(in); q > 0 {
		read -= int64(q)
	}
	s.mu.Lock()
	var end int64 = -1
	i := 0
	for ; i < len(s.pending) && now.Sub(s.pending[i].at) >= settle && s.pending[i].piped <= read; i++ {
		end = s.pending[i].end
	}
	s.pending = s.pending[i:]
	s.mu.Unlock()
	if end >= 0 {
		d.ack(end)
	}
}

// died records that the current child's input has no reader left, with
// unread bytes in it that nobody will ever read (pipe.Unread): the child
// never had them, so they never left this host.
func (s *settling) died(unread int) {
	s.mu.Lock()
	s.read, s.dead = s.piped-int64(unread), true
	s.mu.Unlock()
}

// exited settles what the ended child was given. A remote command that
// failed (not ssh itself: exit status other than 0 and 255) appended
// nothing we can count on, so its share is sent again. Otherwise what ssh
// read counts as sent: lost with ssh or delivered, compatible mode cannot
// tell (reliable mode can). What it never read, still in its input when
// it died, is sent again (see resend).
func (s *settling) exited(d *destination, err error) {
	s.mu.Lock()
	pending, read, dead := s.pending, s.read, s.dead
	s.pending, s.piped, s.read, s.dead = nil, 0, 0, false
	s.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	if code := exitCode(err); code > 0 && code != sshStatus {
		_, acked := d.consumer.Position()
		d.rewind(acked)
		return
	}
	if dead && resend(d, pending, read) {
		return
	}
	d.ack(pending[len(pending)-1].end)
}

// resend goes back, for the next child, to the first byte of pending that
// the dead child never read, read being how many bytes of its input it
// did, and reports whether there was one. The position is exact to the
// byte, also inside a line: everything before it ssh had, and the far
// side's file ends with some of that (all of it, when ssh passed it on
// before it died); the rest of a line ssh read in part continues that
// line. Going back to the line's start would repeat its first part and
// glue the copy to it; skipping to its end would glue its first part to
// the next line. A notice ssh did not read whole is sent again whole.
func resend(d *destination, pending []written, read int64) bool {
	for i, w := range pending {
		if w.piped <= read {
			continue
		}
		// A notice takes no stream offsets: at its start.
		at := w.start + min(w.end-w.start, max(0, read-(w.piped-w.n)))
		for _, u := range pending[i:] {
			if u.gap.Bytes > 0 {
				d.consumer.RestoreGap(u.gap)
			}
		}
		d.ack(at)
		d.rewind(at)
		return true
	}
	return false
}

// appendSession writes one destination's share of the spool into one
// child running `cat >> FILE`. In this compatible mode nothing
// acknowledges delivery: what ssh read counts as sent once the child
// stayed up (see settling), what a dying ssh had read is lost, and what
// it left in its input goes to the next child.
type appendSession struct {
	e    *engine
	d    *destination
	link Link
	// stop is done once the run stops: the session drains. live is done
	// also when the child exits.
	stop, live context.Context
	wrote      int64
}

// appendTo runs an appendSession for d through one child until the child
// dies, a write fails, or the run stops and the drain is over. It reports
// whether the child carried data and stayed up, so that the backoff
// starts over.
func (e *engine) appendTo(stop context.Context, d *destination, l Link) (healthy bool) {
	// alive ends with this function; live also when the child exits.
	alive, endAlive := context.WithCancel(context.Background())
	defer endAlive()
	live, endLive := context.WithCancel(stop)
	defer endLive()
	go func() {
		select {
		case <-l.Done():
			endLive()
		case <-live.Done():
		}
	}()
	e.drain.onExpiry(alive, stop, l.CloseStdin)
	s := &appendSession{e: e, d: d, link: l, stop: stop, live: live}
	if !s.ready() {
		return false
	}
	// A larger pipe wakes push and ssh less often while ssh is behind; it
	// loses nothing more when ssh dies, as what ssh never read of it is
	// sent again.
	pipe.Grow(l.Stdin(), 1<<20)
	e.connected(d, l)
	go clock.Every(alive, e.clock, settle/4, func(time.Time) { d.settling.aged(d, e.clock.Now(), l.Stdin()) })
	s.copy()
	// A child that died left in its input what it never read, for as
	// long as we hold it open: the next child gets that (settling.exited).
	if n, ok := pipe.Unread(l.Stdin()); ok {
		d.settling.died(n)
	}
	return s.wrote > 0 && l.Uptime() > settle
}

// ready holds data back until ssh is connected: what is written into a
// child that then fails to connect (host down, key refused) dies with it.
// Once the run stops, a child that is still connecting is waited for as
// long as there is something to drain and the drain timeout has not
// passed: the link may be coming back.
func (s *appendSession) ready() bool {
	stop := s.stop.Done()
	for {
		select {
		case <-s.link.Ready():
			return true
		case <-s.link.Done():
			return false
		case <-s.e.drain.expired():
			return false
		case <-stop:
			if s.d.consumer.Available() == 0 {
				return false
			}
			stop = nil
		}
	}
}

// copy writes batches until there are no more for this child.
func (s *appendSession) copy() {
	for {
		b, ok := s.next()
		if !ok || !s.write(b) {
			return
		}
	}
}

// next waits for the next batch. Once the run stops it takes only what is
// there, until the drain timeout or the child's end.
func (s *appendSession) next() (spool.Batch, bool) {
	for s.stop.Err() == nil {
		b, err := s.d.consumer.Next(s.live, int(s.e.frameMax))
		if err == nil {
			return b, true
		}
		if s.stop.Err() == nil {
			return b, false // the child ended
		}
	}
	select {
	case <-s.link.Done():
		return spool.Batch{}, false
	default:
	}
	if s.d.consumer.Available() == 0 || s.e.drain.isOver() {
		return spool.Batch{}, false
	}
	b, err := s.d.consumer.Next(context.Background(), int(s.e.frameMax))
	return b, err == nil
}

// write hands b to the child; a notice stands in for lines the spool bound
// dropped. A failed write leaves to the next child what this one did not
// take; of what it took, what the dying ssh read counts as sent, and what
// it left in its input is sent again (see settling.exited).
func (s *appendSession) write(b spool.Batch) bool {
	now := s.e.clock.Now()
	if b.Gap.Bytes > 0 {
		data := s.e.gapLine(b.Gap, s.d)
		s.e.log.Warn("spool bound reached: lines were dropped before they could be sent", "dest", s.d.String(), "lines", b.Gap.Lines, "bytes", b.Gap.Bytes)
		n, err := s.link.Stdin().Write(data)
		if err != nil {
			// Sent again whole; what went in still counts in the pipe.
			s.d.consumer.RestoreGap(b.Gap)
			s.d.settling.wrote(written{n: int64(n), start: b.Start, end: b.Start, at: now})
			return s.failed(err)
		}
		s.wrote += int64(n)
		s.d.settling.wrote(written{n: int64(n), start: b.Start, end: b.Start, gap: b.Gap, at: now})
		return true
	}
	took, err := s.handOver(b)
	if err != nil {
		s.d.rewind(b.Start + took)
		s.d.settling.wrote(written{n: took, start: b.Start, end: b.Start + took, at: now})
		return s.failed(err)
	}
	s.wrote += int64(len(b.Data))
	s.d.sent.Add(int64(len(b.Data)))
	s.d.stats.sent(b.Start, b.Data)
	s.d.settling.wrote(written{n: int64(len(b.Data)), start: b.Start, end: b.End, at: now})
	return true
}

// failed logs a write into the child that failed, and ends the session.
func (s *appendSession) failed(err error) bool {
	s.e.log.Debug("write to ssh failed", "child", s.link.Name(), "err", err)
	return false
}

// handOver gives b's data to the child and records for a restart how much
// of it the child took. A push killed -9 leaves its ssh child running (own
// process group); ssh sends what it was given when its input ends, so the
// next start must not send that again, nor skip what it was not given.
// The count of bytes taken is kept by the kernel as it moves them
// (see moveOn), exact at any moment. Without that (a test's io.Pipe, no
// spool directory), the record follows the write. It returns how many
// bytes of b the child took, all of them unless it failed.
func (s *appendSession) handOver(b spool.Batch) (int64, error) {
	took, err := s.moveOn(b)
	if !errors.Is(err, pipe.ErrNoSplice) {
		return took, err
	}
	n, err := s.link.Stdin().Write(b.Data)
	if err != nil {
		return int64(n), err
	}
	s.d.saveResume(b.End)
	return int64(n), nil
}

// moveOn moves b's data into the child's input with splice(2), the count
// of bytes it took in spool.Consumer.BeginHandover's record: straight from
// the segment file's page cache when b lies in one (pipe.SendFile), never
// copied through this process; else from a memory file (pipe.Feed).
// pipe.ErrNoSplice (ErrNotPipe too) leaves b to be written: nothing was
// moved.
// It returns how many bytes of b the child took.
func (s *appendSession) moveOn(b spool.Batch) (int64, error) {
	if b.File != nil {
		taken, err := s.d.consumer.BeginHandover(b.Start, len(b.Data), b.Off)
		s.d.recorded(err)
		if taken == nil {
			return 0, pipe.ErrNoSplice
		}
		// The kernel advances the record as a file offset from b.Off. A
		// file that cannot be spliced from goes from memory instead;
		// an input that is not a pipe takes neither.
		err = pipe.SendFile(s.link.Stdin(), b.File, taken, len(b.Data))
		if !errors.Is(err, pipe.ErrNoSplice) || errors.Is(err, pipe.ErrNotPipe) {
			return *taken - b.Off, err
		}
	}
	taken, err := s.d.consumer.BeginHandover(b.Start, len(b.Data), 0)
	s.d.recorded(err)
	if taken == nil {
		return 0, pipe.ErrNoSplice
	}
	err = pipe.Feed(s.link.Stdin(), b.Data, taken)
	return *taken, err
}

// rewind goes back to pos, for the next child, which must get what the
// last one was given but did not deliver; a restart too.
func (d *destination) rewind(pos int64) {
	d.consumer.Rewind(pos)
	d.saveResume(pos)
}

// saveResume records where a restart resumes.
func (d *destination) saveResume(pos int64) { d.recorded(d.consumer.SaveResume(pos)) }

// recorded logs a failure to record what ssh was given when it starts and
// when it ends: it does not stop delivery (a kill -9 of push meanwhile
// would repeat some lines after the restart).
func (d *destination) recorded(err error) {
	switch was := d.resumeFailing.Swap(err != nil); {
	case err != nil && !was:
		d.log.Error("recording what ssh was given failed; after a kill of push the next start may send some lines again", "dest", d.String(), "err", err)
	case err == nil && was:
		d.log.Info("recording what ssh was given works again", "dest", d.String())
	}
}
