package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// gapState is what a destination remembers across reliable sessions about
// lines the spool bound dropped before it had them.
type gapState struct {
	// lines counts them until an acknowledged gap notice has reported
	// them; to is where the stream continues after that notice.
	lines, to int64
}

// sender speaks the acknowledged protocol (internal/ackproto) with
// `sshlogfwd receive` through one link: hello, resume at the offset the
// receiver reports, then frames pipelined up to the window ahead of the
// acknowledgements, which release the spool. The session ends when the
// link dies, the receiver refuses, no acknowledgement comes within the ack
// timeout, or the run stops and everything is acknowledged (or the drain
// is over).
type sender struct {
	e       *engine
	d       *destination
	link    Link
	stream  string
	replies *ackproto.ReplyDecoder

	// stop is done once the run stops: the session drains. sess is the
	// session; end ends it. next ends the wait for new data: the
	// session's end or the stop.
	stop, sess, next context.Context
	end, endNext     func()

	// sent is the stream offset after the last byte sent (-1: a new
	// stream starts at the first frame); startAck is where the session's
	// acknowledgements started. Only the sending goroutine uses them.
	sent, startAck int64
	overlapLogged  bool
	buf            []byte
	// stage gathers a frame's header and its payload from a segment file
	// (pipe.Stage), made at the first such frame; stageFailed: it could
	// not be made, frames are written.
	stage       *pipe.Stage
	stageFailed bool

	// Shared with the ack reader and the ack-timeout watch.
	acked, sentHigh atomic.Int64
	lastProgress    atomic.Int64 // unix nanos on the engine's clock: the last ack, or when data became outstanding
	ackWake         chan struct{}
}

// errNoHello is a receiver that did not answer the hello in time.
var errNoHello = errors.New("no hello from the receiver")

// sendTo runs a sender for d through one child. It reports whether the
// receiver acknowledged anything, so that the backoff starts over.
func (e *engine) sendTo(stop context.Context, d *destination, l Link) (healthy bool) {
	s := e.newSender(stop, d, l)
	defer s.close()
	if !s.handshake() {
		return false
	}
	go s.readAcks()
	go clock.Every(s.sess, e.clock, min(e.opts.AckTimeout/4, time.Second), s.watchAcks)
	s.sendAll()
	return s.acked.Load() > s.startAck
}

func (e *engine) newSender(stop context.Context, d *destination, l Link) *sender {
	sess, end := context.WithCancel(context.Background())
	next, endNext := context.WithCancel(sess)
	stopAfter := context.AfterFunc(stop, endNext)
	s := &sender{
		e: e, d: d, link: l, stream: e.sp.StreamID(),
		replies: ackproto.NewReplyDecoder(l.Stdout()),
		stop:    stop, sess: sess, next: next, end: end,
		endNext: func() { stopAfter(); endNext() },
		buf:     make([]byte, 0, e.frameMax+64),
		ackWake: make(chan struct{}, 1),
	}
	go func() {
		select {
		case <-l.Done():
			end()
		case <-sess.Done():
		}
	}()
	// The drain has a deadline; a write blocked in a stuck ssh must not
	// outlive it.
	e.drain.onExpiry(sess, stop, func() {
		end()
		l.CloseStdin()
	})
	return s
}

func (s *sender) close() {
	s.endNext()
	s.end()
	if s.stage != nil {
		s.stage.Close()
	}
}

// handshake exchanges the hellos and settles where the stream resumes.
func (s *sender) handshake() bool {
	pipe.Grow(s.link.Stdin(), 1<<20)
	pipe.Grow(s.link.Stdout(), 1<<20)
	h, ok := s.hello()
	if ok {
		s.e.connected(s.d, s.link)
		s.resume(h)
	}
	return ok
}

// hello names our stream and reads the receiver's answer: the stream it
// holds and how far.
func (s *sender) hello() (ackproto.ReceiverHello, bool) {
	if _, err := s.link.Stdin().Write(ackproto.AppendHello(nil, ackproto.Hello{Version: ackproto.Version, Stream: s.stream})); err != nil {
		return ackproto.ReceiverHello{}, false
	}
	h, err := s.awaitHello()
	if err != nil {
		s.helloFailed(err)
		return h, false
	}
	if h.Version != 1 {
		s.e.log.Error("the receiver chose a protocol version this sshlogfwd does not speak", "dest", s.d.String(), "version", h.Version)
		return h, false
	}
	return h, true
}

// awaitHello waits for the receiver's hello, bounded by the ack timeout
// on top of ssh's own connection time.
func (s *sender) awaitHello() (ackproto.ReceiverHello, error) {
	type result struct {
		h   ackproto.ReceiverHello
		err error
	}
	ch := make(chan result, 1)
	go func() {
		h, err := s.replies.Hello()
		ch <- result{h, err}
	}()
	timeout := s.e.opts.AckTimeout + 15*time.Second
	t := s.e.clock.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.h, r.err
	case <-s.sess.Done():
		// The child ended; a refusal it printed may still be in the pipe.
		grace := s.e.clock.NewTimer(200 * time.Millisecond)
		defer grace.Stop()
		select {
		case r := <-ch:
			return r.h, r.err
		case <-grace.C():
			return ackproto.ReceiverHello{}, s.sess.Err()
		}
	case <-t.C():
		return ackproto.ReceiverHello{}, fmt.Errorf("%w within %v", errNoHello, timeout)
	}
}

// helloFailed says why there was no hello. An ssh that could not connect
// or authenticate ends without a hello too: then the supervisor says why.
func (s *sender) helloFailed(err error) {
	var re *ackproto.RemoteError
	if errors.As(err, &re) {
		s.e.logRefusal(s.d, re.Code, re.Text)
		return
	}
	t := s.e.clock.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-s.link.Done():
		if exitCode(s.link.Err()) == sshStatus {
			return
		}
	case <-t.C():
	}
	if errors.Is(err, errNoHello) {
		s.e.log.Error("the far side did not answer: is 'sshlogfwd receive PATH' the remote command (or the forced command in authorized_keys), and is its disk responding?", "dest", s.d.String(), "err", err)
	} else {
		s.e.log.Error("the far side does not speak the reliable protocol: is the remote command (or the forced command in authorized_keys) 'sshlogfwd receive PATH'?", "dest", s.d.String(), "err", err)
	}
}

// resume decides where the stream goes on: at the receiver's offset when
// it holds our stream, else a new stream from what this destination has
// not had acknowledged.
func (s *sender) resume(h ackproto.ReceiverHello) {
	dest := s.d.String()
	s.sent = -1
	if h.Stream == s.stream {
		s.sent = h.Offset
		if _, tail := s.e.sp.Bounds(); s.sent > tail {
			if s.e.sp.InputMark() == "" {
				s.e.sp.SkipTo(s.sent)
			} else {
				// Only after a crash of the machine (see overlap).
				s.e.log.Warn("the receiver is ahead of the spool; the input read again from the last synced position fills the gap and is not sent twice", "dest", dest, "receiver", s.sent, "tail", tail)
			}
		}
		s.d.ack(s.sent)
		s.d.consumer.Rewind(s.sent)
		s.e.log.Debug("receiver position", "dest", dest, "offset", s.sent)
	} else {
		_, acked := s.d.consumer.Position()
		s.d.consumer.Rewind(acked)
		if h.Stream == "" {
			s.e.log.Info("the receiver has no stream yet; starting it", "dest", dest, "stream", s.stream, "offset", acked)
		} else {
			s.e.log.Warn("the receiver holds another stream (this spool is new: reinstalled or reset); it starts this one", "dest", dest, "stream", s.stream, "offset", acked, "receiver_stream", h.Stream, "receiver_offset", h.Offset)
		}
	}
	if s.d.gap.to > 0 && s.sent >= s.d.gap.to {
		s.d.gap = gapState{}
	}
	start := max(s.sent, 0)
	s.acked.Store(start)
	s.sentHigh.Store(start)
	s.startAck = start
}

// readAcks reads the receiver's acknowledgements, which release the
// spool, until the link ends, the receiver refuses, or it breaks the
// protocol; then the session ends.
func (s *sender) readAcks() {
	defer s.wake()
	defer s.end()
	for {
		r, err := s.replies.Next()
		if err != nil {
			if s.sess.Err() == nil && errors.Is(err, ackproto.ErrProtocol) {
				s.e.log.Error("bad reply from the receiver", "dest", s.d.String(), "err", err)
			}
			return
		}
		switch r.Type {
		case ackproto.Ack:
			if !s.acknowledge(r.Offset) {
				return
			}
		case ackproto.Error:
			s.e.logRefusal(s.d, r.Code, r.Text)
			return
		}
	}
}

// acknowledge takes an ack of everything before off. An ack of data never
// sent means the receiver is not following our stream: false.
func (s *sender) acknowledge(off int64) bool {
	if high := s.sentHigh.Load(); off > high {
		s.e.log.Error("the receiver acknowledged data never sent; dropping the connection", "dest", s.d.String(), "ack", off, "sent", high)
		return false
	}
	if off > s.acked.Load() {
		s.acked.Store(off)
		s.lastProgress.Store(s.e.clock.Now().UnixNano())
		s.d.ack(off)
		s.wake()
	}
	return true
}

func (s *sender) wake() {
	select {
	case s.ackWake <- struct{}{}:
	default:
	}
}

// watchAcks is the watch on a link that silently stopped carrying data:
// ssh's keepalives notice it eventually; outstanding data without
// acknowledgements for the ack timeout is our own watch.
func (s *sender) watchAcks(time.Time) {
	if s.sess.Err() != nil || !s.overdue(s.e.clock.Now()) {
		return
	}
	s.d.stats.end(endAckTimeout)
	s.e.log.Warn("no acknowledgement while data is outstanding; taking the link for dead and reconnecting", "dest", s.d.String(), "ack_timeout", s.e.opts.AckTimeout, "outstanding_bytes", s.sentHigh.Load()-s.acked.Load())
	s.end()
	s.link.Kill()
}

// overdue reports whether data is outstanding and nothing was
// acknowledged for longer than the ack timeout before now.
func (s *sender) overdue(now time.Time) bool {
	out := s.sentHigh.Load() - s.acked.Load()
	return out > 0 && now.Sub(time.Unix(0, s.lastProgress.Load())) > s.e.opts.AckTimeout
}

// sendAll sends the destination's share of the spool while the session
// lasts, keeping at most the window outstanding; once the run stops and
// everything is acknowledged it ends the session in order.
func (s *sender) sendAll() {
	for s.sess.Err() == nil {
		if s.d.gap.to > 0 && s.acked.Load() >= s.d.gap.to {
			s.d.gap = gapState{}
		}
		draining := s.stop.Err() != nil
		if s.windowFull() || (draining && s.d.consumer.Available() == 0) {
			if draining && s.d.consumer.Available() == 0 && s.acked.Load() >= s.sentHigh.Load() {
				s.finish()
				return
			}
			select {
			case <-s.ackWake:
			case <-s.sess.Done():
			}
			continue
		}
		b, err := s.d.consumer.Next(s.next, int(s.e.frameMax))
		if err != nil {
			if s.sess.Err() == nil && s.stop.Err() != nil {
				continue // start draining
			}
			return
		}
		if !s.sendBatch(b) {
			return
		}
	}
}

// windowFull reports whether one more frame could take the outstanding
// data beyond the window.
func (s *sender) windowFull() bool {
	return s.sentHigh.Load()-s.acked.Load() > s.e.window-s.e.frameMax
}

// finish ends a fully acknowledged session in order: the receiver sees
// the end of its input and exits, within the drain timeout.
func (s *sender) finish() {
	s.link.CloseStdin()
	select {
	case <-s.link.Done():
	case <-s.e.drain.expired():
	}
}

// sendBatch sends b: data, preceded where needed by a gap frame whose
// notice stands in for what the receiver will never get.
func (s *sender) sendBatch(b spool.Batch) bool {
	if b.Gap.Bytes > 0 {
		s.d.gap.lines += b.Gap.Lines
		s.e.log.Warn("spool bound reached: lines were dropped before this destination had them", "dest", s.d.String(), "lines", b.Gap.Lines, "bytes", b.Gap.Bytes)
		return true
	}
	data, off := b.Data, b.Start
	switch {
	case s.sent < 0:
		if !s.startStream(off) {
			return false
		}
	case off > s.sent:
		// The spool no longer has what the receiver needs next.
		if !s.sendGap(off, s.e.gapNotice(s.d, off-s.sent)) {
			return false
		}
	case b.End <= s.sent:
		// The receiver has it already (see overlap).
		s.overlap()
		s.d.ack(b.End)
		return true
	case off < s.sent:
		s.overlap()
		skip := s.sent - off
		data, off = data[skip:], s.sent
		b.Off += skip
		s.d.ack(s.sent)
	}
	return s.sendData(off, data, b.File, b.Off)
}

// startStream starts a new stream at the first frame's offset, with a
// notice first if lines were dropped before it.
func (s *sender) startStream(off int64) bool {
	s.acked.Store(off)
	s.sentHigh.Store(off)
	s.startAck = off
	if s.d.gap.lines > 0 {
		return s.sendGap(off, s.e.gapNotice(s.d, 0))
	}
	return true
}

// overlap notes offsets the receiver already has. The spool hands out no
// offset twice, and the input position goes with every append, so that
// after a kill -9 the spool holds exactly what it did before: this happens
// only when a crash of the machine lost spool data that was not synced and
// a followed file is read again from the last synced position (then the
// bytes are skipped by offset, which is exact unless a mark line fell into
// that stretch). Anything else is a bug.
func (s *sender) overlap() {
	if !s.overlapLogged {
		s.e.log.Error("the spool hands out offsets the receiver already has (a bug, unless this machine crashed and its input is read again from the last synced position); those bytes are not sent",
			"dest", s.d.String(), "receiver", s.sent)
		s.overlapLogged = true
	}
}

// sendGap tells the receiver that the stream continues at to, with notice
// written in place of what is missing.
func (s *sender) sendGap(to int64, notice []byte) bool {
	if !s.send(to, func(w io.Writer) error {
		_, err := w.Write(ackproto.AppendGap(s.buf[:0], to, notice))
		return err
	}) {
		return false
	}
	s.d.gap.to = to
	return true
}

// sendData sends the stream bytes data at off; f, when not nil, holds them
// at offset at (a segment file of the spool).
func (s *sender) sendData(off int64, data []byte, f *os.File, at int64) bool {
	end := off + int64(len(data))
	if !s.send(end, func(w io.Writer) error { return s.writeData(w, off, data, f, at) }) {
		return false
	}
	s.sent = end
	s.d.sent.Add(int64(len(data)))
	s.d.stats.sent(off, data)
	return true
}

// writeData writes a data frame into w. A payload in a file goes from its
// page cache into ssh's input with splice(2), behind its header and in
// one piece with it (pipe.Stage): no copy of it through this process, and
// one wake-up of ssh per frame, as one write of the frame would be. Where
// that is not possible (w is not a pipe, the file cannot be spliced or
// was dropped meanwhile), the frame is written.
func (s *sender) writeData(w io.Writer, off int64, data []byte, f *os.File, at int64) error {
	if f != nil && s.useStage() {
		err := s.stage.SendFrame(w, ackproto.AppendDataHeader(s.buf[:0], off, len(data)), f, at, len(data))
		if !errors.Is(err, pipe.ErrNoSplice) {
			return err
		}
	}
	_, err := w.Write(ackproto.AppendData(s.buf[:0], off, data))
	return err
}

// useStage reports whether frames can be gathered in a staging pipe,
// making it first.
func (s *sender) useStage() bool {
	if s.stage == nil && !s.stageFailed {
		st, err := pipe.NewStage()
		if err != nil {
			s.e.log.Warn("cannot make a staging pipe; writing frames instead of splicing them", "dest", s.d.String(), "err", err)
			s.stageFailed = true
			return false
		}
		s.stage = st
	}
	return s.stage != nil
}

// send writes, with write, one frame that takes the stream to end.
func (s *sender) send(end int64, write func(io.Writer) error) bool {
	if s.sentHigh.Load() == s.acked.Load() {
		// Data becomes outstanding now: the ack timeout counts from here.
		s.lastProgress.Store(s.e.clock.Now().UnixNano())
	}
	s.sentHigh.Store(max(s.sentHigh.Load(), end))
	if err := write(s.link.Stdin()); err != nil {
		s.e.log.Debug("write to ssh failed", "child", s.link.Name(), "err", err)
		return false
	}
	return true
}
