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
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
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
	rep := newReplier(out)
	defer rep.close(time.Second)
	fail := func(code ackproto.Code, err error) error {
		rep.error(code, err.Error())
		return err
	}

	dec := ackproto.NewDecoder(in)
	hello, err := readHello(ctx, dec, opts.HelloTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fail(ackproto.CodeProtocol, fmt.Errorf("sender hello: %w", err))
	}
	// Every version so far speaks version 1 as well.
	version := min(hello.Version, ackproto.Version)

	lock, err := AcquireLock(ctx, opts.Path, hello.Stream, LockOptions{Takeover: opts.Takeover, Logger: log})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		code := ackproto.CodeIO
		if errors.As(err, new(*BusyError)) {
			code = ackproto.CodeBusy
		}
		return fail(code, err)
	}
	defer lock.Unlock()
	a, err := OpenAppender(opts.Path, AppenderOptions{MaxSize: opts.MaxSize, StateEvery: opts.Fsync, Logger: log})
	if err != nil {
		return fail(ackproto.CodeIO, err)
	}
	defer a.Close()
	stream, pos := a.Position()
	rep.hello(ackproto.ReceiverHello{Version: version, Stream: stream, Offset: pos}, stream == hello.Stream)
	// ackSynced acknowledges what is on disk of the sender's stream (the
	// file may still hold another stream until the first frame).
	ackSynced := func() {
		if held, synced := a.Position(); held == hello.Stream {
			rep.ack(synced)
		}
	}
	log.Debug("session", "path", opts.Path, "stream", hello.Stream, "held_stream", stream, "offset", pos, "version", version)

	// The syncer fsyncs and acknowledges beside the frame loop.
	kick := make(chan struct{}, 1)
	syncErr := make(chan error, 1)
	stopSync := make(chan struct{})
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		t := time.NewTicker(opts.Fsync)
		defer t.Stop()
		last := time.Time{}
		for {
			select {
			case <-stopSync:
				return
			case <-t.C:
			case <-kick:
				if wait := minSyncGap - time.Since(last); wait > 0 && a.Unsynced() < opts.SyncBytes {
					select {
					case <-stopSync:
						return
					case <-time.After(wait):
					}
				}
			}
			if a.Unsynced() == 0 {
				if err := a.SaveIfStale(); err != nil {
					syncErr <- err
					return
				}
				continue
			}
			last = time.Now()
			if _, err := a.Sync(); err != nil {
				syncErr <- err
				return
			}
			ackSynced()
		}
	}()
	finish := func() error {
		close(stopSync)
		<-syncDone
		if err := a.Close(); err != nil {
			return err
		}
		ackSynced()
		return nil
	}

	loopErr := make(chan error, 1)
	go func() {
		for {
			f, err := dec.Next()
			if err != nil {
				loopErr <- err
				return
			}
			switch f.Type {
			case ackproto.Data:
				err = a.Write(hello.Stream, f.Offset, f.Data)
			case ackproto.Gap:
				err = a.Gap(hello.Stream, f.Offset, f.Data)
			}
			if err != nil {
				loopErr <- err
				return
			}
			if dec.Buffered() == 0 || a.Unsynced() >= opts.SyncBytes {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
	}()

	select {
	case <-ctx.Done():
		log.Debug("stopping: signal or the sender went away", "path", opts.Path)
		return finish()
	case err := <-syncErr:
		ferr := finish()
		return fail(codeOf(err), errors.Join(err, ferr))
	case err := <-loopErr:
		switch {
		case errors.Is(err, io.EOF):
			return finish()
		case errors.Is(err, ackproto.ErrTruncated):
			log.Info("the input ended inside a frame (the link died); it was discarded and will be sent again", "path", opts.Path)
			return finish()
		case errors.Is(err, ErrClosed):
			return finish()
		}
		ferr := finish()
		if ferr != nil {
			log.Error("closing after an error failed", "path", opts.Path, "err", ferr)
		}
		return fail(codeOf(err), err)
	}
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

func readHello(ctx context.Context, dec *ackproto.Decoder, timeout time.Duration) (ackproto.Hello, error) {
	type result struct {
		h   ackproto.Hello
		err error
	}
	ch := make(chan result, 1)
	go func() {
		h, err := dec.Hello()
		ch <- result{h, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.h, r.err
	case <-t.C:
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
