package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// input copies lines into the spool. It runs at all times, link up or
// down, so that a FIFO never fills.
type input interface {
	// run reads until the input ends or fails, or ctx ends.
	run(ctx context.Context) error
	// end is called once run returned (or was given up on): a stream's
	// final line without newline is spooled as it is.
	end()
	close()
}

// openInput opens the journal or the followed file, or wraps
// Options.Input: moving its bytes when it is a pipe (see pipeSource),
// reading it otherwise.
func (e *engine) openInput() (input, error) {
	switch {
	case e.opts.Journal != nil:
		return e.openJournal()
	case e.opts.File != "":
		return openFollower(e.sp, e.lw, e.opts.File, e.opts.FromEnd, e.clock, e.log)
	case e.src != nil:
		return &pipeInput{src: e.src, lw: e.lw, clock: e.clock, log: e.log}, nil
	}
	return &streamInput{r: e.opts.Input, lw: e.lw, log: e.log}, nil
}

// pipeSource prepares Options.Input for moving its bytes straight into
// the spool (pipe.Source) when it is a pipe — a FIFO, or standard input
// when it is one — and says in the log which way the input is read.
// Other input (a file or a terminal on standard input) is read with
// read(2); the journal and a followed file have inputs of their own.
func (e *engine) pipeSource() {
	if e.opts.File != "" || e.opts.Journal != nil {
		return
	}
	src, err := pipe.NewSource(e.opts.Input)
	switch {
	case err == nil:
		e.src = src
		e.log.Info("input is a pipe: its bytes move straight into the spool (splice)")
	case errors.Is(err, pipe.ErrNotPipe):
		e.log.Info("input is not a pipe: reading it (read)")
	default:
		e.log.Warn("cannot move the input pipe's bytes straight into the spool; reading it instead: a kill -9 may lose what was just read", "err", err)
	}
}

// streamInput reads a FIFO or standard input.
type streamInput struct {
	r   io.Reader
	lw  *spool.LineWriter
	log *slog.Logger
}

// stopGrace is how long a FIFO is still read after the run stops: what a
// writer put in it just before is taken along.
const stopGrace = 200 * time.Millisecond

// run copies the input into the spool until it ends, or until ctx is done
// and what is already in a FIFO has been read. (Without a writer holding
// the FIFO open, what is in it dies with our descriptor.)
func (s *streamInput) run(ctx context.Context) error {
	type deadliner interface{ SetReadDeadline(time.Time) error }
	stop := context.AfterFunc(ctx, func() {
		if d, ok := s.r.(deadliner); ok {
			// Keep reading while data is there, briefly. The deadline is
			// the poller's, on the wall clock.
			_ = d.SetReadDeadline(time.Now().Add(stopGrace))
		}
	})
	defer stop()
	buf := make([]byte, 256<<10)
	for {
		n, err := s.r.Read(buf)
		if n > 0 {
			if _, werr := s.lw.Write(buf[:n]); werr != nil {
				s.log.Error("spool append failed", "err", werr)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case errors.Is(err, os.ErrClosed), errors.Is(err, fs.ErrClosed):
			return nil
		default:
			return err
		}
	}
}

func (s *streamInput) end() {
	if err := s.lw.Flush(); err != nil {
		s.log.Error("spooling final line failed", "err", err)
	}
}

func (s *streamInput) close() {}

// pipeInput moves a pipe's bytes straight into the spool's files
// (pipe.Source, spool.LineWriter.Move): at every moment each byte is
// either still in the pipe or in the spool, so a kill -9 of push at any
// moment loses nothing that reached the pipe — while something else holds
// a FIFO open (a systemd socket unit), which keeps it and what is in it.
// An unfinished last line stays in the pipe until its end arrives; when
// the run stops, it stays there for the next run.
type pipeInput struct {
	src     *pipe.Source
	lw      *spool.LineWriter
	clock   clock.Clock
	log     *slog.Logger
	ended   bool // the pipe has no writer any more and was taken empty
	failing bool // the spool refuses input
}

// run moves what the pipe brings until it ends (standard input), or until
// ctx is done and what is in it has been taken, briefly (stopGrace).
func (p *pipeInput) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = p.src.SetReadDeadline(time.Now().Add(stopGrace)) })
	defer stop()
	have := 0 // bytes left in the pipe: a line whose end has not come
	for {
		head, ended, err := p.src.Peek(have)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, os.ErrClosed), errors.Is(err, fs.ErrClosed):
			return nil
		case err != nil:
			return err
		case len(head) == 0:
			p.ended = true
			return nil
		}
		took, err := p.lw.Move(head, ended, p.src)
		have = len(head) - took
		if p.refused(err) {
			if clock.Sleep(ctx, p.clock, inputRetry) != nil {
				return nil // stopped while the spool refused
			}
			have = 0 // offer it again
		}
	}
}

// refused reports whether the spool refused input (err: its disk fails),
// which then waits in the pipe and is offered again every inputRetry.
// That is logged once, and once more when the spool takes input again.
func (p *pipeInput) refused(err error) bool {
	switch {
	case err != nil && !p.failing:
		p.log.Error("spooling input failed; it waits in the pipe and is offered again every second", "err", err)
	case err == nil && p.failing:
		p.log.Info("spooling input works again")
	}
	p.failing = err != nil
	return p.failing
}

// end passes on, once the pipe ended, what waited for the stream to be
// between lines (marks). After a stop, an unfinished line stays where it
// is, in the pipe or in the spool's file, for the next run to complete.
func (p *pipeInput) end() {
	if !p.ended {
		return
	}
	if err := p.lw.Flush(); err != nil {
		p.log.Error("spooling final line failed", "err", err)
	}
}

func (p *pipeInput) close() {}

// follower follows a file by name (--file) and spools it with its
// position: every append carries the file position right after the last
// byte it spools (spool.AppendInput), so that after a crash at any moment
// the spool holds the file exactly up to the position it recorded, and
// reading goes on from there. It is the one place where that position is
// read and written.
type follower struct {
	path  string
	t     *tailer.Tailer
	lw    *spool.LineWriter
	clock clock.Clock
	log   *slog.Logger
}

// openFollower starts following path from the position saved in the
// spool, or, on the very first run, from its start or end (fromEnd).
func openFollower(sp *spool.Spool, lw *spool.LineWriter, path string, fromEnd bool, c clock.Clock, log *slog.Logger) (*follower, error) {
	opts := tailer.Options{Path: path, FromEnd: fromEnd, Logger: log}
	if mark := sp.InputMark(); mark != "" {
		cur, err := tailer.ParseCursor(mark)
		if err != nil {
			log.Warn("saved file position unreadable; starting per --from", "position", mark, "err", err)
		} else {
			opts.Start = &cur
			log.Info("resuming file", "path", path, "cursor", cur.String())
		}
	}
	t, err := tailer.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", path, err)
	}
	return &follower{path: path, t: t, lw: lw, clock: c, log: log}, nil
}

// run copies the file into the spool until ctx ends.
func (f *follower) run(ctx context.Context) error {
	for {
		c, err := f.t.Next(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, tailer.ErrClosed) {
				return nil
			}
			return fmt.Errorf("follow %s: %w", f.path, err)
		}
		if err := f.take(ctx, c); err != nil {
			return nil // stopped while the spool refused the chunk
		}
	}
}

// take spools a chunk with its positions, held while the spool refuses
// it (see spoolHeld; c.Data stays valid until the next call to Next).
func (f *follower) take(ctx context.Context, c tailer.Chunk) error {
	if c.Event == tailer.EventTruncated {
		f.log.Warn("followed file was truncated; reading it again from the start", "path", f.path)
	}
	pos := positions(c)
	return spoolHeld(ctx, f.clock, f.log, "the followed file", func() error {
		_, err := f.lw.WriteInput(c.Data, pos)
		return err
	}, "path", f.path)
}

// inputRetry is how often data the spool refused is offered again.
const inputRetry = time.Second

// spoolHeld appends data of an input whose position goes with it (a
// followed file, the journal) through put, which spools the data and its
// position together or neither (spool.LineWriter.WriteInput). When the
// spool refuses (a failing disk), put is called again every inputRetry
// until it succeeds or ctx ends: the input keeps what is not spooled, and
// its position does not move past it. That is logged once, and once more
// when it works again, for what (with attrs).
func spoolHeld(ctx context.Context, c clock.Clock, log *slog.Logger, what string, put func() error, attrs ...any) error {
	err := put()
	if err == nil {
		return nil
	}
	log.Error("spooling "+what+" failed; holding its position until the spool takes data again", append(attrs, "err", err)...)
	for err != nil {
		if err := clock.Sleep(ctx, c, inputRetry); err != nil {
			return err
		}
		err = put()
	}
	log.Info("spooling "+what+" works again", attrs...)
	return nil
}

// positions returns, for chunk c, the file position after its first k
// bytes. Late data (written to the previous file after the switch) is
// spooled out of order; the position stays where it is in the current
// file, which a restart must not move back from.
func positions(c tailer.Chunk) func(k int) string {
	if c.Event == tailer.EventLate {
		end := c.End.String()
		return func(int) string { return end }
	}
	start := c.End.Offset - int64(len(c.Data))
	return func(k int) string {
		cur := c.End
		cur.Offset = start + int64(k)
		return cur.String()
	}
}

// end keeps a final line without newline out of the spool: the next start
// reads it again from the saved position, with its end.
func (f *follower) end() {}

func (f *follower) close() { f.t.Close() }
