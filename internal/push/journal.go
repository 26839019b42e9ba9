package push

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// journalInput reads the systemd journal (push --journal) through
// journal.Follow and spools every entry as one line together with its
// cursor, the input position, through the same line writer and position
// record as a followed file (spool.LineWriter.WriteInput,
// spool.AppendInput): after a kill -9 at any moment the spool holds
// exactly the entries up to the cursor it recorded, and reading resumes
// right after that entry. It is the one place where the journal cursor is
// read from and written to the spool.
//
// Entries are spooled in batches: the lines of the entries Follow hands
// over in a row, with the cursor of the last, in one append when Follow
// has no further entry at hand (Handler.Flush) or the batch is full. At
// full speed that is one write of the segment and one of the position for
// many entries instead of for each (they were half of push's CPU); an
// entry that comes alone is spooled as soon as it is read. A kill before
// the append loses nothing: the saved cursor is still the one before.
type journalInput struct {
	opts  journal.Options
	lw    *spool.LineWriter
	host  string
	clock clock.Clock
	log   *slog.Logger

	batch  []byte // lines of entries taken and not yet spooled
	cursor []byte // the cursor of the last of them

	// close waits for a started Follow, and with it journalctl, to end
	// before the spool is closed; after close, run does not start.
	mu      sync.Mutex
	started bool
	closed  bool
	done    chan struct{}
}

// openJournal prepares the journal input: journalctl must be there (what
// Follow would find missing only once the run is under way), and reading
// resumes after the entry whose cursor the spool saved.
func (e *engine) openJournal() (*journalInput, error) {
	opts := *e.opts.Journal
	prog := opts.Journalctl
	if prog == "" {
		prog = "journalctl"
	}
	if _, err := exec.LookPath(prog); err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	opts.Clock, opts.Logger = e.clock, e.log
	opts.Cursor = journal.ResumeCursor(e.sp.InputMark())
	switch {
	case opts.Cursor != "":
		e.log.Info("resuming the journal after the saved cursor", "cursor", opts.Cursor)
	case e.sp.InputMark() == journal.Oldest:
		e.log.Info("reading the journal from its oldest entry (after a gap)")
	default:
		e.log.Info("reading the journal from its oldest entry (no saved cursor)")
	}
	return &journalInput{opts: opts, lw: e.lw, host: e.opts.Hostname, clock: e.clock, log: e.log, done: make(chan struct{})}, nil
}

// run follows the journal until ctx ends.
func (j *journalInput) run(ctx context.Context) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.started = true
	j.mu.Unlock()
	defer close(j.done)
	err := journal.Follow(ctx, j.opts, journal.Handler{
		Entry: func(e journal.Entry) error { return j.entry(ctx, e) },
		Flush: func() error { return j.flush(ctx) },
		Gap:   func(g journal.Gap) error { return j.gap(ctx, g) },
	})
	if err != nil {
		return fmt.Errorf("read the journal: %w", err)
	}
	return nil
}

// journalBatch is the size from which a batch is spooled without waiting
// for Flush.
const journalBatch = 256 << 10

// entry takes one entry's line and cursor into the batch.
func (j *journalInput) entry(ctx context.Context, e journal.Entry) error {
	j.batch = append(append(j.batch, e.Line...), '\n')
	j.cursor = append(j.cursor[:0], e.Cursor...)
	if len(j.batch) >= journalBatch {
		return j.flush(ctx)
	}
	return nil
}

// flush spools the batch with the cursor of its last entry.
func (j *journalInput) flush(ctx context.Context) error {
	if len(j.batch) == 0 {
		return nil
	}
	if err := j.append(ctx, string(j.cursor), j.batch); err != nil {
		return err
	}
	j.batch = j.batch[:0]
	if cap(j.batch) > 4*journalBatch {
		j.batch = nil // do not keep one huge message's buffer for ever
	}
	return nil
}

// gap spools the notice of entries the journal lost before we read them,
// with the mark that continues at the oldest entry, as Follow does. A gap
// that lost nothing (only the cursor's own entry is gone) moves the mark
// without a notice.
func (j *journalInput) gap(ctx context.Context, g journal.Gap) error {
	if err := j.flush(ctx); err != nil {
		return err
	}
	if g.Lost == 0 {
		return j.append(ctx, journal.Oldest, nil)
	}
	return j.append(ctx, journal.Oldest, journalGapLine(j.clock.Now(), j.host, g))
}

// append spools data (whole lines, or nothing) with the position mark
// through the line writer, as the followed file is spooled, held while
// the spool refuses it (spoolHeld): meanwhile journalctl waits on its
// full pipe and the journal keeps the entry.
func (j *journalInput) append(ctx context.Context, mark string, data []byte) error {
	pos := func(int) string { return mark }
	return spoolHeld(ctx, j.clock, j.log, "the journal", func() error {
		_, err := j.lw.WriteInput(data, pos)
		return err
	})
}

// end: every entry is spooled whole or not at all; nothing is held back.
func (j *journalInput) end() {}

// close waits until a started Follow has ended (it ends with the run's
// reading context), so that journalctl is reaped and nothing is appended
// to a closed spool.
func (j *journalInput) close() {
	j.mu.Lock()
	j.closed = true
	started := j.started
	j.mu.Unlock()
	if started {
		<-j.done
	}
}
