package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// DefaultHeartbeat is the heartbeat interval when Options.Heartbeat is 0.
const DefaultHeartbeat = 500 * time.Millisecond

// Options configure a serve session.
type Options struct {
	// Path is the one file served (its rotations are read too, to
	// resume; see internal/tailer's rotation.go for which).
	Path string
	// Request is what the client asked for, already checked.
	Request request.ServeRequest
	// Poll polls the file instead of using inotify.
	Poll bool
	// Heartbeat is how often a heartbeat is sent while the file is idle;
	// default DefaultHeartbeat.
	Heartbeat time.Duration
	Clock     clock.Clock
	// Logger may reach the client: under sshd, serve's standard error goes
	// back to it.
	Logger *slog.Logger
	// LocalLogger receives what the client must not learn: which file
	// next to Path a refused cursor names, and why it is refused (see
	// tailer.Options.PrivateLogger). Give it only a log the client cannot
	// read; nil discards these notices.
	LocalLogger *slog.Logger
}

// Run streams o.Path to out as o.Request asks until the client goes away:
// in ends, out hangs up (when it is a pipe or socket, see
// pipe.WatchHangupOf) or a write to out fails with EPIPE. That, and ctx
// ending, is a normal end (nil). An error means the file cannot be served.
// The goroutine that reads in to notice its end stays until in ends; the
// caller owns in and out and keeps out open until Run returns.
func Run(ctx context.Context, in io.Reader, out io.Writer, o Options) error {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watchInput(in, cancel)
	go pipe.WatchHangupOf(ctx, out, cancel)

	local := o.LocalLogger
	if local == nil {
		local = slog.New(slog.DiscardHandler)
	}
	topts := tailer.Options{Path: o.Path, Poll: o.Poll, Logger: log, PrivateLogger: local}
	s := &session{enc: stream.NewEncoder(out), out: out, clk: clock.OrReal(o.Clock), heartbeat: o.Heartbeat, log: log}
	if pr, pw, size := payloadPipe(out); pr != nil {
		defer pr.Close()
		defer pw.Close()
		s.payload = pr
		// Frames of half a pipeful: pull waits until a whole payload
		// is in its pipe (as large as this one) before it moves it on.
		topts.Pipe, topts.BufSize = pw, min(size, stream.MaxData)/2
	}
	st, err := openStart(topts, o.Request, log)
	if err != nil {
		return fmt.Errorf("serve %s: %w", o.Path, err)
	}
	defer st.t.Close()
	s.t = st.t
	log.Debug("serving", "path", o.Path, "start", st.cursor.String(), "how", st.how, "splice", s.payload != nil)
	if err := s.run(ctx, st); err != nil {
		return fmt.Errorf("serve %s: %w", o.Path, err)
	}
	return nil
}

// payloadPipe is the pipe that the tailer moves the file's bytes into and
// that each data frame's payload is moved from to out, when out is a file
// descriptor (sshd's pipe): the bytes go from the page cache to out
// without being copied through serve (splice(2); measured: about half of
// serve's CPU for the data). size is its capacity. It is nil when out is
// not a descriptor (a test's io.Pipe) or no pipe can be made: the bytes
// are then read and written.
func payloadPipe(out io.Writer) (r, w *os.File, size int) {
	if _, ok := out.(syscall.Conn); !ok {
		return nil, nil, 0
	}
	r, w, size, err := pipe.Private(stream.MaxData)
	if err != nil {
		return nil, nil, 0
	}
	if size < 4096 {
		r.Close()
		w.Close()
		return nil, nil, 0
	}
	return r, w, size
}

// session writes one stream.
type session struct {
	t         *tailer.Tailer
	enc       *stream.Encoder
	out       io.Writer
	payload   *os.File // read end of the payload pipe; nil: chunks carry Data
	clk       clock.Clock
	heartbeat time.Duration
	log       *slog.Logger
}

// next is one result of Tailer.Next.
type next struct {
	ch  tailer.Chunk
	err error
}

// run writes the version line and the start frame, then every chunk the
// tailer reads, and a heartbeat whenever nothing was sent for the
// heartbeat interval.
func (s *session) run(ctx context.Context, st start) error {
	if err := s.enc.Version(); err != nil {
		return s.clientGone(err)
	}
	if err := s.enc.Start(st.cursor, st.how); err != nil {
		return s.clientGone(err)
	}
	chunks, more := make(chan next), make(chan struct{})
	go s.pump(ctx, chunks, more)
	hb := s.clk.NewTimer(s.heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			s.log.Debug("client went away; stopping")
			return nil
		case <-hb.C():
			hb.Reset(s.heartbeat)
			if err := s.enc.Heartbeat(); err != nil {
				return s.clientGone(err)
			}
		case n := <-chunks:
			if n.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return n.err
			}
			// The next heartbeat is due one interval after this frame;
			// the timer is set before the frame is written, so that once
			// the client has the frame, the timer runs.
			restart(hb, s.heartbeat)
			if err := s.send(n.ch); err != nil {
				return s.clientGone(err)
			}
			select {
			case more <- struct{}{}:
			case <-ctx.Done(): // the pump has stopped
			}
		}
	}
}

// restart sets t to fire d from now, dropping a tick it may already have
// delivered but nobody read.
func restart(t clock.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C():
		default:
		}
	}
	t.Reset(d)
}

// pump calls Next in a goroutine of its own, so that run can wait for a
// chunk and the heartbeat at once. It calls Next again only when run is
// done with the chunk (more): a chunk's data is valid until the next call.
func (s *session) pump(ctx context.Context, out chan<- next, more <-chan struct{}) {
	for {
		ch, err := s.t.Next(ctx)
		select {
		case out <- next{ch, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		select {
		case <-more:
		case <-ctx.Done():
			return
		}
	}
}

// send writes one chunk as its frame.
func (s *session) send(ch tailer.Chunk) error {
	switch ch.Event {
	case tailer.EventLate:
		return s.enc.Late(ch.End, ch.Data)
	case tailer.EventRotated:
		return s.enc.Rotated(ch.End)
	case tailer.EventTruncated:
		return s.enc.Truncated(ch.End)
	}
	if ch.Piped > 0 {
		if err := s.enc.DataHead(ch.End, ch.Piped); err != nil {
			return err
		}
		_, err := pipe.SpliceAll(s.out, nil, s.payload, ch.Piped)
		return err
	}
	return s.enc.Data(ch.End, ch.Data)
}

// clientGone turns a failed write to a client that closed the connection
// into a normal end.
func (s *session) clientGone(err error) error {
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, fs.ErrClosed) {
		s.log.Debug("client went away; stopping", "err", err)
		return nil
	}
	return fmt.Errorf("write to client: %w", err)
}

// watchInput cancels when in ends: the client closed its side (pull does
// so to stop) or went away (sshd then closes our input).
func watchInput(in io.Reader, cancel func()) {
	buf := make([]byte, 512)
	for {
		if _, err := in.Read(buf); err != nil {
			cancel()
			return
		}
	}
}
