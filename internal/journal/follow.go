package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// DefaultMaxMessage is the longest MESSAGE forwarded whole (the spool's
// longest line is the same); the rest of a longer one is cut and the line
// says how many bytes.
const DefaultMaxMessage = 16 << 20

// machineIDPath names this machine for the system journal (see
// Spec.MachineID).
var machineIDPath = "/etc/machine-id"

// Options configure Follow.
type Options struct {
	Journalctl string // the journalctl binary; "" = "journalctl" in PATH
	Directory  string // read the journal files in this directory
	// Files are journal files to read instead (globs allowed); neither
	// means the system journal. journalctl does not follow a file's
	// rotation: for a journal that is still written, give its Directory.
	Files []string
	// Matches select entries (FIELD=value, "+" between OR groups; see
	// DefaultMatches). Empty selects every entry.
	Matches  []string
	Priority string   // journalctl --priority, ANDed with Matches
	Units    []string // journalctl --unit, ANDed with Matches
	// Cursor is the cursor of the last entry already delivered (stored by
	// the caller): Follow starts after it. "" starts at the oldest entry.
	Cursor     string
	Format     Format
	Location   *time.Location // time zone of the line's timestamp; nil = Local
	MaxMessage int            // 0 = DefaultMaxMessage

	// Backoff paces restarts of journalctl after it ended; zero = 250 ms
	// doubling up to 30 s. It starts over after a run that delivered an
	// entry or lasted HealthyAfter (default 30 s).
	Backoff      backoff.Backoff
	HealthyAfter time.Duration
	// StopGrace is how long journalctl gets after SIGTERM before SIGKILL
	// (default 2 s).
	StopGrace time.Duration
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Entry is one journal entry, rendered.
type Entry struct {
	// Line is the entry as one line in Options.Format, without the final
	// newline (newlines inside are "#012"). It is valid only until the
	// handler returns.
	Line []byte
	// Cursor names the entry: store it (with the spooled line, atomically)
	// and pass it as Options.Cursor to resume right after this entry. It
	// is valid only until the handler returns: a handler copies the
	// cursor of the last entry it keeps, and makes a string of it only
	// to store it.
	Cursor []byte
	Time   time.Time // __REALTIME_TIMESTAMP: when journald received it
}

// Gap reports that Options.Cursor (or the cursor of the last entry
// delivered, after a restart of journalctl) names an entry that no longer
// exists: the journal was vacuumed or rotated away, or wiped, while we were
// not reading. Follow continues at the oldest entry.
type Gap struct {
	Cursor string // the cursor that is gone
	Next   string // cursor of the entry now at its place; "" when none
	// Lost is how many entries were written after Cursor's and are gone,
	// counted before any match (so an upper bound of the lines lost); -1
	// when unknowable (another seqnum id: the journal was started afresh).
	// 0: the cursor's own entry was removed, nothing after it.
	Lost int64
}

// String says what happened, for a log line or a notice on the log host.
func (g Gap) String() string {
	switch {
	case g.Lost < 0:
		return "journal cursor no longer exists (journal vacuumed, rotated away or wiped): an unknown number of entries were lost; continuing at the oldest entry"
	case g.Lost == 0:
		return "journal cursor no longer exists (its entry was vacuumed), but no entry after it was lost"
	}
	return fmt.Sprintf("journal cursor no longer exists (journal vacuumed or rotated away): %d entries were lost (counted before matching); continuing at the oldest entry", g.Lost)
}

// Handler receives what Follow reads, in its goroutine, one call at a
// time. An error from any function stops Follow, which returns it.
type Handler struct {
	Entry func(Entry) error
	// Flush, if set, is called whenever Follow has no further entry at
	// hand: before it waits for journalctl to print more, before a Gap,
	// and when a journalctl run ends (also at the end of Follow). Entry may
	// keep the entries it takes and write them all at once in Flush: at
	// full speed that is one write for many entries, while a lone entry
	// is still flushed as soon as it is read. An entry Entry accepted
	// counts as delivered: Follow resumes after it.
	Flush func() error
	Gap   func(Gap) error // nil: gaps are only logged
}

// Follow runs `journalctl --follow --output=export`, delivers every selected
// entry after Options.Cursor exactly once and in order to h, and restarts
// journalctl with backoff whenever it ends, resuming after the last entry
// h accepted. It returns nil when ctx is done, the handler's error, or an
// error when journalctl cannot be run at all (missing binary, invalid
// matches).
func Follow(ctx context.Context, opts Options, h Handler) error {
	f, err := newFollower(opts, h)
	if err != nil {
		return err
	}
	return f.run(ctx)
}

// follower is one Follow: the options, the position, the restart loop.
type follower struct {
	spec    Spec
	h       Handler
	format  Format
	loc     *time.Location
	maxMsg  int
	backoff backoff.Backoff
	healthy time.Duration
	grace   time.Duration
	clk     clock.Clock
	log     *slog.Logger

	cursor  []byte // last entry delivered; empty = start at the oldest
	reread  string // an entry that came without MESSAGE and is read again (errReread)
	prev    uint64 // its seqnum, for FormatRFC5424
	hasPrev bool
	seqID   string // the last seqnum id seen, for FormatRFC5424
	stamp   *stamper
	line    []byte
}

func newFollower(o Options, h Handler) (*follower, error) {
	if h.Entry == nil {
		return nil, errors.New("journal: no entry handler")
	}
	f := &follower{
		spec: Spec{Program: o.Journalctl, Directory: o.Directory, Files: o.Files,
			Matches: o.Matches, Priority: o.Priority, Units: o.Units},
		h: h, format: o.Format, loc: o.Location, maxMsg: o.MaxMessage,
		backoff: o.Backoff, healthy: o.HealthyAfter, grace: o.StopGrace,
		clk: clock.OrReal(o.Clock), log: o.Logger, cursor: []byte(o.Cursor),
	}
	if f.loc == nil {
		f.loc = time.Local
	}
	f.stamp = newStamper(f.loc)
	if f.maxMsg <= 0 {
		f.maxMsg = DefaultMaxMessage
	}
	if f.backoff.Min <= 0 && f.backoff.Max <= 0 {
		f.backoff.Min, f.backoff.Max = 250*time.Millisecond, 30*time.Second
	}
	if f.healthy <= 0 {
		f.healthy = 30 * time.Second
	}
	if f.grace <= 0 {
		f.grace = 2 * time.Second
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.spec.Directory == "" && len(f.spec.Files) == 0 {
		if b, err := os.ReadFile(machineIDPath); err == nil {
			f.spec.MachineID = strings.TrimSpace(string(b))
		} else {
			f.log.Warn("journal: cannot read the machine id; journals of other machines (containers, journal-remote) are read too", "err", err)
		}
	}
	if _, err := Argv(f.spec); err != nil {
		return nil, err
	}
	prog := f.spec.Program
	if prog == "" {
		prog = "journalctl"
	}
	// Only with a journalctl to run: stdbuf would turn a missing one into
	// an exit status, and Follow into retrying for ever.
	if _, err := exec.LookPath(prog); err == nil {
		f.spec.Stdbuf = lookStdbuf(stdbufProgram, f.log)
	}
	if p, err := parseCursor(o.Cursor); err == nil {
		f.prev, f.hasPrev = p.seqnum, true
	}
	return f, nil
}

// stdbufProgram is coreutils' stdbuf (see Spec.Stdbuf).
var stdbufProgram = "stdbuf"

// lookStdbuf returns the path of prog when it is a stdbuf that works, or
// "": journalctl then runs without it, as fast as it can with stdio's
// small buffer.
func lookStdbuf(prog string, log *slog.Logger) string {
	path, err := exec.LookPath(prog)
	if err != nil {
		log.Debug("journal: no stdbuf; journalctl writes its output 4 KiB at a time", "err", err)
		return ""
	}
	// stdbuf works through a library of its own, preloaded into the
	// command; without it, it fails for every command.
	if out, err := exec.Command(path, "--output="+stdbufSize, "true").CombinedOutput(); err != nil {
		log.Info("journal: stdbuf does not work; journalctl writes its output 4 KiB at a time", "stdbuf", path, "err", err, "output", strings.TrimSpace(string(out)))
		return ""
	}
	return path
}

// stopError carries a handler's error out of the restart loop.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

func (f *follower) run(ctx context.Context) error {
	for {
		start := f.clk.Now()
		delivered, err := f.once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errReread) {
			f.log.Debug("journal: an entry came without MESSAGE; reading it again", "cursor", f.reread)
			continue
		}
		var stop *stopError
		if errors.As(err, &stop) {
			return stop.err
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return err
		}
		up := clock.Since(f.clk, start).Round(time.Millisecond)
		if err == nil {
			err = errors.New("journalctl exited with status 0")
		}
		f.log.Warn("journal reader ended: "+err.Error(), "uptime", up, "delivered", delivered)
		if delivered > 0 || up >= f.healthy {
			f.backoff.Reset()
		}
		d := f.backoff.Next()
		f.log.Info("restarting journalctl", "in", d.Round(time.Millisecond))
		if clock.Sleep(ctx, f.clk, d) != nil {
			return nil
		}
	}
}

// once checks the cursor, then runs one follower journalctl until it ends,
// and returns how many entries it delivered.
func (f *follower) once(ctx context.Context) (n int, err error) {
	if len(f.cursor) > 0 {
		if err := f.probe(ctx); err != nil {
			return 0, err
		}
	}
	spec := f.spec
	spec.Cursor = string(f.cursor)
	argv, err := Argv(spec)
	if err != nil {
		return 0, err
	}
	defer func() {
		if ferr := f.flush(); ferr != nil && err == nil {
			err = ferr
		}
	}()
	// --cursor starts at the cursor's entry: drop it, once, if it is there.
	skip := spec.Cursor
	err = f.runChild(ctx, argv, func(r *exportReader) error {
		for {
			if r.buffered() == 0 {
				// Reading on may wait for journalctl: hand over what
				// the handler keeps first.
				if err := f.flush(); err != nil {
					return err
				}
			}
			e, err := r.next()
			if err != nil {
				return err
			}
			if skip != "" {
				same := string(e.cursor) == skip
				skip = ""
				if same {
					continue
				}
			}
			if ctx.Err() != nil {
				return nil
			}
			if !e.hasMessage && string(e.cursor) != f.reread {
				f.reread = string(e.cursor)
				return errReread
			}
			if err := f.deliver(e); err != nil {
				return &stopError{err}
			}
			n++
		}
	})
	return n, err
}

// flush calls the handler's Flush, if it has one.
func (f *follower) flush() error {
	if f.h.Flush == nil {
		return nil
	}
	if err := f.h.Flush(); err != nil {
		return &stopError{err}
	}
	return nil
}

// errReread ends a journalctl run to read an entry again that came
// without MESSAGE. journalctl (systemd 252) prints an entry that the writer
// is still appending without the fields it cannot read yet: measured on a
// loaded machine, about 1 entry in 10,000 came without MESSAGE, and
// journalctl then went on with the next. Read again after the last entry
// delivered, it is complete.
var errReread = errors.New("journal entry without MESSAGE; reading it again")

// deliver renders e and hands it to the handler; entries without MESSAGE
// (also when read again: see errReread) are skipped, as journalctl's own
// short formats skip them.
func (f *follower) deliver(e *entry) error {
	if !e.hasMessage {
		return nil
	}
	var seq seqInfo
	if f.format == FormatRFC5424 {
		if id, n, ok := cursorSeq(e.cursor); ok {
			if string(id) != f.seqID {
				f.seqID = string(id)
			}
			seq.cur = cursorPos{seqnumID: f.seqID, seqnum: n}
		}
		seq.prev, seq.hasPrev = f.prev, f.hasPrev
	}
	f.line = appendLine(f.line[:0], e, f.format, f.stamp, seq)
	if err := f.h.Entry(Entry{Line: f.line, Cursor: e.cursor, Time: time.UnixMicro(e.realtime)}); err != nil {
		return err
	}
	f.cursor = append(f.cursor[:0], e.cursor...)
	if f.format == FormatRFC5424 {
		f.prev, f.hasPrev = seq.cur.seqnum, true
	}
	if cap(f.line) > 1<<20 {
		f.line = nil // do not keep one huge message's buffer for ever
	}
	return nil
}

// probeTries is how many one-shot journalctls must agree that the
// cursor's entry is gone before it counts as a gap, probeRetry the pause
// between them. A journal file being rotated (renamed to its archive name
// while a new one is made) can be missing from journalctl's listing for a
// moment: one probe then finds nothing, and taking that for a vacuumed
// journal would start again at the oldest entry and send everything twice
// (seen: 2,052 duplicates in TestJournalctlKilled). A real gap is only
// reported that much later.
const (
	probeTries = 3
	probeRetry = 250 * time.Millisecond
)

// probe asks one-shot journalctls whether the cursor's entry still
// exists. When it does not (probeTries times in a row), it reports a Gap
// and moves the position to the oldest entry. Only a probe that exited
// normally decides: a killed one, or one cut short by ctx, is an error and
// the next attempt probes again.
func (f *follower) probe(ctx context.Context) error {
	cursor := string(f.cursor)
	if _, err := parseCursor(cursor); err != nil {
		return f.gap(Gap{Cursor: cursor, Lost: -1})
	}
	spec := f.spec
	spec.Probe, spec.Cursor = true, cursor
	argv, err := Argv(spec)
	if err != nil {
		return err
	}
	var first string
	for try := 1; ; try++ {
		if first, err = f.probeOnce(ctx, argv); err != nil {
			return err
		}
		if first == cursor {
			return nil
		}
		if try == probeTries {
			break
		}
		f.log.Debug("journal: the cursor's entry was not found; asking again", "cursor", cursor, "next", first, "try", try)
		if err := clock.Sleep(ctx, f.clk, probeRetry); err != nil {
			return err
		}
	}
	return f.gap(Gap{Cursor: cursor, Next: first, Lost: lostBetween(cursor, first)})
}

// probeOnce runs one probe and returns the cursor of the first entry it
// printed ("" for none).
func (f *follower) probeOnce(ctx context.Context, argv []string) (first string, err error) {
	err = f.runChild(ctx, argv, func(r *exportReader) error {
		for {
			e, err := r.next()
			if err != nil {
				return err
			}
			if first == "" {
				first = string(e.cursor)
			}
		}
	})
	if err != nil {
		return "", err
	}
	return first, ctx.Err()
}

func (f *follower) gap(g Gap) error {
	if err := f.flush(); err != nil {
		return err
	}
	f.log.Warn("journal: "+g.String(), "cursor", g.Cursor, "next", g.Next, "lost", g.Lost)
	if f.h.Gap != nil {
		if err := f.h.Gap(g); err != nil {
			return &stopError{err}
		}
	}
	f.cursor = f.cursor[:0]
	return nil
}

// runChild starts argv, hands its stdout to read, and reaps it. A stream
// torn by journalctl's death ends read quietly; journalctl's exit status is
// the result unless read failed.
func (f *follower) runChild(ctx context.Context, argv []string, read func(*exportReader) error) error {
	c, err := startChild(argv, f.log, f.clk.Now())
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.terminate(f.clk, f.grace) })
	defer stop()
	rerr := read(newExportReader(c.stdout, f.maxMsg))
	switch {
	case rerr == nil, errors.Is(rerr, io.EOF):
		rerr = nil
	case errors.Is(rerr, errTorn):
		f.log.Debug("journalctl ended inside an entry; it is read again after the restart")
		rerr = nil
	default:
		c.terminate(f.clk, f.grace)
	}
	werr := c.wait()
	if rerr != nil {
		return rerr
	}
	return werr
}
