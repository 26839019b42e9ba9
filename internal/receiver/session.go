package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
)

// Options configure Serve.
type Options struct {
	Path    string
	MaxSize int64 // 0: no bound
	// Fsync is the longest time written data waits for its fsync and
	// acknowledgement while data keeps coming (default 1 s). Data is also
	// synced as soon as the input pauses, and every SyncBytes.
	Fsync time.Duration
	// SyncBytes syncs after this many bytes even within Fsync (default
	// 4 MiB), so that a sender's window of unacknowledged data (16 MiB)
	// never runs dry on a fast link.
	SyncBytes int64
	// HelloTimeout bounds the wait for the sender's hello (default 60 s).
	HelloTimeout time.Duration
	// Takeover: see LockOptions.
	Takeover time.Duration
	Clock    clock.Clock // default the wall clock
	Logger   *slog.Logger
}

// minSyncGap spaces out syncs triggered by a pausing input, so that a slow
// trickle of lines does not turn into an fsync per line.
const minSyncGap = 5 * time.Millisecond

// Serve runs one session of the receiving side: it reads the sender's
// frames from in, appends them to opts.Path and writes the hello, acks and
// at most one error frame to out. It returns nil when the sender ends the
// session (end of input, also inside a frame: the link died) or ctx ends
// (SIGTERM, the peer went away); every other end is an error, also sent to
// the sender as an error frame.
func Serve(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Fsync <= 0 {
		opts.Fsync = time.Second
	}
	if opts.SyncBytes <= 0 {
		opts.SyncBytes = 4 << 20
	}
	if opts.HelloTimeout <= 0 {
		opts.HelloTimeout = 60 * time.Second
	}
	opts.Clock = clock.OrReal(opts.Clock)
	// sshd does not kill a forced command whose client died; an idle
	// session would wait for ever without this watch (as serve.Run).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go pipe.WatchHangupOf(ctx, out, cancel)
	s := &receiveSession{opts: opts, log: opts.Logger, rep: newReplier(out), dec: ackproto.NewDecoder(in), kick: make(chan struct{}, 1)}
	defer s.rep.close(time.Second)
	return s.run(ctx)
}

// receiveSession is one run of Serve.
type receiveSession struct {
	opts   Options
	log    *slog.Logger
	rep    *replier
	dec    *ackproto.Decoder
	stream string // the sender's
	a      *Appender
	kick   chan struct{} // asks the syncer to sync now
}

// run greets the sender, takes the file and serves its frames.
func (s *receiveSession) run(ctx context.Context) error {
	hello, err := readHello(ctx, s.dec, s.opts.Clock, s.opts.HelloTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return s.fail(ackproto.CodeProtocol, fmt.Errorf("sender hello: %w", err))
	}
	s.stream = hello.Stream
	// Every version so far speaks version 1 as well.
	version := min(hello.Version, ackproto.Version)

	lock, err := AcquireLock(ctx, s.opts.Path, s.stream, LockOptions{Takeover: s.opts.Takeover, Clock: s.opts.Clock, Logger: s.log})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		code := ackproto.CodeIO
		if errors.As(err, new(*BusyError)) || errors.As(err, new(*onewriter.OtherWriterError)) {
			code = ackproto.CodeBusy
		}
		return s.fail(code, err)
	}
	defer lock.Unlock()
	s.a, err = OpenAppender(s.opts.Path, AppenderOptions{MaxSize: s.opts.MaxSize, StateEvery: s.opts.Fsync, Clock: s.opts.Clock, Logger: s.log})
	if err != nil {
		return s.fail(ackproto.CodeIO, err)
	}
	defer s.a.Close()
	stream, pos := s.a.Position()
	s.rep.hello(ackproto.ReceiverHello{Version: version, Stream: stream, Offset: pos}, stream == s.stream)
	s.log.Debug("session", "path", s.opts.Path, "stream", s.stream, "held_stream", stream, "offset", pos, "version", version)
	return s.serveFrames(ctx)
}

// serveFrames applies frames and, beside them, syncs and acknowledges,
// until the input ends, ctx ends or either fails.
func (s *receiveSession) serveFrames(ctx context.Context) error {
	stopSync := make(chan struct{})
	syncErr := make(chan error, 1)
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		if err := s.syncLoop(stopSync); err != nil {
			syncErr <- err
		}
	}()
	finish := func() error {
		close(stopSync)
		<-syncDone
		if err := s.a.Close(); err != nil {
			return err
		}
		s.ackSynced()
		return nil
	}
	loopErr := make(chan error, 1)
	go func() { loopErr <- s.readFrames() }()

	select {
	case <-ctx.Done():
		s.log.Debug("stopping: signal or the sender went away", "path", s.opts.Path)
		return finish()
	case err := <-syncErr:
		ferr := finish()
		return s.fail(codeOf(err), errors.Join(err, ferr))
	case err := <-loopErr:
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, ErrClosed):
			return finish()
		case errors.Is(err, ackproto.ErrTruncated):
			s.log.Info("the input ended inside a frame (the link died); it was discarded and will be sent again", "path", s.opts.Path)
			return finish()
		}
		if ferr := finish(); ferr != nil {
			s.log.Error("closing after an error failed", "path", s.opts.Path, "err", ferr)
		}
		return s.fail(codeOf(err), err)
	}
}

// readFrames applies the sender's frames until one fails or the input
// ends, and kicks the syncer whenever the input pauses or SyncBytes wait.
func (s *receiveSession) readFrames() error {
	for {
		f, err := s.dec.Next()
		if err != nil {
			return err
		}
		switch f.Type {
		case ackproto.Data:
			err = s.a.Write(s.stream, f.Offset, f.Data)
		case ackproto.Gap:
			err = s.a.Gap(s.stream, f.Offset, f.Data)
		}
		if err != nil {
			return err
		}
		if s.dec.Buffered() == 0 || s.a.Unsynced() >= s.opts.SyncBytes {
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
	}
}

// syncLoop fsyncs and acknowledges what was written, when kicked and at
// least every Fsync, until stop. With nothing written since the last
// sync it costs no fsync (only a state save, when one is due).
func (s *receiveSession) syncLoop(stop <-chan struct{}) error {
	t := s.opts.Clock.NewTicker(s.opts.Fsync)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-stop:
			return nil
		case <-t.C():
		case <-s.kick:
			if !s.spaceSyncs(stop, last) {
				return nil
			}
		}
		if s.a.Unsynced() == 0 {
			if err := s.a.SaveIfStale(); err != nil {
				return err
			}
			continue
		}
		last = s.opts.Clock.Now()
		if _, err := s.a.Sync(); err != nil {
			return err
		}
		s.ackSynced()
	}
}

// spaceSyncs waits until minSyncGap has passed since the last sync, unless
// there is nothing or a lot (SyncBytes) to sync; false if stopped
// meanwhile.
func (s *receiveSession) spaceSyncs(stop <-chan struct{}, last time.Time) bool {
	n := s.a.Unsynced()
	wait := minSyncGap - clock.Since(s.opts.Clock, last)
	if n == 0 || n >= s.opts.SyncBytes || wait <= 0 {
		return true
	}
	t := s.opts.Clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C():
		return true
	}
}

// ackSynced acknowledges what is on disk of the sender's stream (the file
// may still hold another stream until the first frame).
func (s *receiveSession) ackSynced() {
	if held, synced := s.a.Position(); held == s.stream {
		s.rep.ack(synced)
	}
}

// fail sends err to the sender as an error frame and returns it.
func (s *receiveSession) fail(code ackproto.Code, err error) error {
	s.rep.error(code, clientText(err))
	return err
}

// clientText is what the sender is told of err. Trouble with our own
// hidden files is told only as such: which file and why is in the log
// host's log, and never a byte of what such a file holds (it may be a
// link to someone else's data).
func clientText(err error) string {
	switch {
	case errors.Is(err, ErrDamagedState):
		return ErrDamagedState.Error()
	case errors.Is(err, fsutil.ErrUnsafe):
		return "unsafe lock or state file, see the log host's log"
	}
	return err.Error()
}

// codeOf classifies an error for the error frame.
func codeOf(err error) ackproto.Code {
	switch {
	case errors.As(err, new(*QuotaError)):
		return ackproto.CodeQuota
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ackproto.CodeNoSpace
	case errors.Is(err, ackproto.ErrProtocol):
		return ackproto.CodeProtocol
	}
	return ackproto.CodeIO
}

func readHello(ctx context.Context, dec *ackproto.Decoder, c clock.Clock, timeout time.Duration) (ackproto.Hello, error) {
	type result struct {
		h   ackproto.Hello
		err error
	}
	ch := make(chan result, 1)
	go func() {
		h, err := dec.Hello()
		ch <- result{h, err}
	}()
	t := c.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.h, r.err
	case <-t.C():
		return ackproto.Hello{}, fmt.Errorf("none within %v", timeout)
	case <-ctx.Done():
		return ackproto.Hello{}, ctx.Err()
	}
}

// replier writes the receiver's side of the protocol from one goroutine,
// so that a peer that stops reading never blocks the frame loop or the
// syncer. Acks are coalesced: only the newest matters.
type replier struct {
	mu      sync.Mutex
	queue   []byte
	newAck  int64 // newest ack not yet queued; -1 none
	lastAck int64
	closed  bool
	wake    chan struct{}
	done    chan struct{}
}

func newReplier(w io.Writer) *replier {
	r := &replier{newAck: -1, lastAck: -1, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.run(w)
	return r
}

func (r *replier) run(w io.Writer) {
	defer close(r.done)
	var buf []byte
	for {
		<-r.wake
		r.mu.Lock()
		buf = append(buf[:0], r.queue...)
		r.queue = r.queue[:0]
		if r.newAck > r.lastAck {
			buf = ackproto.AppendAck(buf, r.newAck)
			r.lastAck = r.newAck
		}
		closed := r.closed
		r.mu.Unlock()
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
		if closed {
			r.mu.Lock()
			empty := len(r.queue) == 0 && r.newAck <= r.lastAck
			r.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

func (r *replier) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// put queues a message after any pending ack, keeping their order.
func (r *replier) put(b []byte) {
	r.mu.Lock()
	if r.newAck > r.lastAck {
		r.queue = ackproto.AppendAck(r.queue, r.newAck)
		r.lastAck = r.newAck
	}
	r.queue = append(r.queue, b...)
	r.mu.Unlock()
	r.notify()
}

// hello queues the hello; sameStream says its offset counts as acknowledged.
func (r *replier) hello(h ackproto.ReceiverHello, sameStream bool) {
	r.mu.Lock()
	if sameStream {
		r.lastAck = h.Offset
	}
	r.mu.Unlock()
	r.put(ackproto.AppendReceiverHello(nil, h))
}

func (r *replier) ack(off int64) {
	r.mu.Lock()
	if off > r.newAck {
		r.newAck = off
	}
	r.mu.Unlock()
	r.notify()
}

func (r *replier) error(code ackproto.Code, text string) {
	r.put(ackproto.AppendError(nil, code, text))
}

// close lets the writer flush what is queued, for at most timeout.
func (r *replier) close(timeout time.Duration) {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.notify()
	select {
	case <-r.done:
	case <-time.After(timeout):
	}
}
