package pull

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
)

// idleCheck is how often a connection is checked for silence.
const idleCheck = time.Second

// reliable is the session of the reliable mode: it reads serve's stream
// (internal/stream) from each connection and applies it to the sink.
type reliable struct {
	sink         *sink
	log          *slog.Logger
	clk          clock.Clock
	idleTimeout  time.Duration // 0: off
	drainTimeout time.Duration
}

// session is an execssh.Session.
func (r *reliable) session(ctx context.Context, c *execssh.Child) bool {
	// A large pipe lets ssh write in big pieces: with 64 KiB it spent its
	// time shuffling its buffer (benchmarks: 4-6x ssh's CPU).
	pipe.Grow(c.Stdout, 1<<20)
	started, got := r.run(ctx, childLink{c})
	// Keep reading whatever still comes, so that ssh is never stuck on a
	// full pipe while it is being stopped.
	go io.Copy(io.Discard, c.Stdout)
	return started && (got > 0 || c.Uptime() > time.Second)
}

// run reads one connection until its stream ends, breaks or cannot be
// written, and saves the cursor. It reports whether serve started a stream
// and how many data bytes were written.
func (r *reliable) run(ctx context.Context, l link) (started bool, got int64) {
	ended, end := context.WithCancel(context.Background())
	defer end()
	c := &conn{reliable: r, link: l, ended: ended, ctx: ctx, pipeSize: pipe.Grow(l, 0)}
	c.touch()
	go c.stopOnCancel(ctx)
	if r.idleTimeout > 0 {
		go c.watchIdle()
	}
	started, got = c.read()
	if err := r.sink.save(false); err != nil {
		r.log.Error("saving the cursor failed", "err", err)
	}
	return started, got
}

// conn is one connection of the reliable session.
type conn struct {
	*reliable
	link      link
	ended     context.Context // done when run returns
	ctx       context.Context // done when the run stops
	lastFrame atomic.Int64    // unix nanoseconds on clk
	// pipeSize is the size of ssh's pipe to us; 0 when the link is no
	// pipe (a test's): payloads are then always read.
	pipeSize int
}

// headRead is how far the decoder reads ahead when payloads go straight
// from the pipe into the output: what it read of a payload is written
// from memory.
const headRead = 4 << 10

func (c *conn) touch() { c.lastFrame.Store(c.clk.Now().UnixNano()) }

// read applies frames until the stream ends.
func (c *conn) read() (started bool, got int64) {
	dec := stream.NewDecoder(c.link)
	if c.pipeSize > 0 {
		dec = stream.NewDecoderSize(c.link, headRead)
	}
	for {
		f, n, err := dec.Head()
		if err != nil {
			c.logEnd(err)
			return started, got
		}
		c.touch()
		c.sink.stats.frames.Add(1)
		if f.Type == stream.Start && !started {
			started = true
			c.link.Connected()
			c.sink.stats.connected(c.clk)
		}
		if n > 0 {
			piped, wrote, ok := c.piped(dec, &f, n)
			got += wrote
			if !ok {
				return started, got
			}
			if piped {
				continue
			}
		}
		w, ok := c.apply(f)
		got += w
		if !ok {
			return started, got
		}
	}
}

// piped moves the n-byte payload of frame f, whose header dec has just
// read, straight from ssh's pipe into the output when it can (see
// sink.canPipe), and reports whether it did and how many bytes it wrote.
// It waits, holding no lock, until the whole payload is in the pipe (a
// payload larger than half the pipe is read instead: the pipe might
// never hold it all), then writes it at once, so that a reopen of the
// output or the cursor never sees part of a frame. When it did not pipe
// the payload it has read it into f.Data. ok is false when the
// connection must end: the stream ended inside the frame (the frame is
// dropped and fetched again from the cursor), or the output failed.
func (c *conn) piped(dec *stream.Decoder, f *stream.Frame, n int) (piped bool, wrote int64, ok bool) {
	if c.pipeSize == 0 || n > c.pipeSize/2 || !c.sink.canPipe(*f, n) {
		data, err := dec.Payload()
		if err != nil {
			c.logEnd(err)
			return false, 0, false
		}
		f.Data = data
		return false, 0, true
	}
	head := dec.Buffered()
	rest := dec.Pending()
	if rest > 0 {
		if _, err := pipe.WaitQueued(c.link, rest); err != nil {
			c.logEnd(err)
			return false, 0, false
		}
	}
	wrote, err := c.sink.applyPiped(*f, head, c.link, rest)
	switch {
	case errors.Is(err, errNotPiped):
		// The output changed while the payload came: read it.
		data := make([]byte, n)
		copy(data, head)
		if _, err := io.ReadFull(c.link, data[len(head):]); err != nil {
			return false, 0, false // the stream ended inside the frame
		}
		f.Data = data
		return false, 0, dec.Skip(rest) == nil
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fs.ErrClosed):
		return true, 0, false // the stream ended inside the frame: nothing written
	case err != nil:
		c.log.Error("writing output failed", "err", err)
		return true, 0, false
	}
	return true, wrote, dec.Skip(rest) == nil
}

// apply applies f to the sink; at the output's size bound it holds the
// connection (serve waits, its data stays unacknowledged) until there is
// room and applies the rest. It returns the data bytes written and false
// when the connection must end: the output failed, pull refuses to go on,
// or the run stopped while waiting.
func (c *conn) apply(f stream.Frame) (int64, bool) {
	var got int64
	for {
		n, rest, err := c.sink.apply(f)
		got += n
		switch {
		case err == nil:
			return got, true
		case errors.Is(err, ErrNotOurs):
			return got, false // Run reports it
		case !errors.Is(err, ErrFull):
			c.log.Error("writing output failed", "err", err)
			return got, false
		}
		if !c.sink.waitRoom(c.ctx) {
			return got, false
		}
		f = rest
	}
}

// logEnd says why a stream ended, unless the connection just ended: a
// frame cut by it is dropped and fetched again from the cursor.
// (fs.ErrClosed: the child was reaped and its stdout closed under us.)
func (c *conn) logEnd(err error) {
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fs.ErrClosed):
	case errors.Is(err, stream.ErrNotStream):
		c.log.Error(notStreamMessage(err), "child", c.link.Name(), "err", err)
	default:
		c.log.Error("bad stream from serve", "child", c.link.Name(), "err", err)
	}
}

// stopOnCancel stops the connection in order when ctx ends: it closes
// serve's input, so that serve exits and ssh ends the stream after the
// last frame serve sent, and kills the connection only if that takes
// longer than the drain timeout.
func (c *conn) stopOnCancel(ctx context.Context) {
	select {
	case <-c.ended.Done():
		return
	case <-ctx.Done():
	}
	c.link.CloseStdin()
	if clock.Sleep(c.ended, c.clk, c.drainTimeout) == nil {
		c.log.Warn("drain timeout: stopping ssh before the stream ended", "child", c.link.Name())
		c.link.Kill()
	}
}

// watchIdle kills a connection on which nothing, not even a heartbeat,
// arrived for more than the idle timeout: the link is dead without ssh
// knowing yet. It looks when the last frame is idleTimeout old, and every
// idleCheck after that. A write to the output that is under way (a slow
// disk), or that waits for room under the size bound, does not count as
// silence.
func (c *conn) watchIdle() {
	t := c.clk.NewTimer(c.idleTimeout)
	defer t.Stop()
	for {
		select {
		case <-c.ended.Done():
			return
		case <-t.C():
		}
		idle := c.clk.Now().Sub(time.Unix(0, c.lastFrame.Load()))
		if idle > c.idleTimeout && !c.sink.writing.Load() {
			c.log.Warn("no data and no heartbeat from serve: reconnecting", "child", c.link.Name(), "idle", idle.Round(time.Millisecond))
			c.link.Kill()
			return
		}
		next := c.idleTimeout - idle
		if next <= 0 {
			next = idleCheck
		}
		t.Reset(next)
	}
}
