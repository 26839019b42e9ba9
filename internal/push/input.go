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

// openInput opens the followed file, or wraps Options.Input.
func (e *engine) openInput() (input, error) {
	if e.opts.File == "" {
		return &streamInput{r: e.opts.Input, lw: e.lw, log: e.log}, nil
	}
	return openFollower(e.sp, e.lw, e.opts.File, e.opts.FromEnd, e.clock, e.log)
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

// follower follows a file by name (--file) and keeps, with the spool, the
// file position that the spooled data corresponds to: the spool's input
// mark. It is the one place where that position is read and written.
type follower struct {
	path  string
	t     *tailer.Tailer
	sp    *spool.Spool
	lw    *spool.LineWriter
	clock clock.Clock
	log   *slog.Logger
}

// followSave is how often the spool and the file position are saved.
const followSave = time.Second

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
	return &follower{path: path, t: t, sp: sp, lw: lw, clock: c, log: log}, nil
}

// run copies the file into the spool, recording the file position after
// each chunk, and saves both every followSave and when it returns.
func (f *follower) run(ctx context.Context) error {
	saveCtx, stopSaving := context.WithCancel(ctx)
	saving := make(chan struct{})
	go func() {
		defer close(saving)
		clock.Every(saveCtx, f.clock, followSave, func(time.Time) { f.save() })
	}()
	defer func() {
		stopSaving()
		<-saving
		f.save()
	}()
	for {
		c, err := f.t.Next(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, tailer.ErrClosed) {
				return nil
			}
			return fmt.Errorf("follow %s: %w", f.path, err)
		}
		f.take(c)
	}
}

// take spools a chunk and, where no line is left half-read, records the
// file position it ends at: only there does the position match the spool
// exactly.
func (f *follower) take(c tailer.Chunk) {
	if c.Event == tailer.EventTruncated {
		f.log.Warn("followed file was truncated; reading it again from the start", "path", f.path)
	}
	if len(c.Data) > 0 {
		if _, err := f.lw.Write(c.Data); err != nil {
			f.log.Error("spool append failed", "err", err)
		}
	}
	if f.lw.Partial() == 0 {
		f.sp.SetInputMark(c.End.String())
	}
}

func (f *follower) save() {
	if err := f.sp.Sync(); err != nil {
		f.log.Error("saving spool and file position failed", "err", err)
	}
}

// end keeps a final line without newline out of the spool: the next start
// reads it again from the saved position, with its end.
func (f *follower) end() {}

func (f *follower) close() { f.t.Close() }
