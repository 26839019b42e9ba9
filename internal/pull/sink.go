package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// CursorSaveInterval is how often the cursor is saved when no fsync
// interval is set; such saves are not fsynced.
const CursorSaveInterval = 200 * time.Millisecond

// sink is what pull knows: the output, the position in the remote file that
// the output holds everything up to, and the cursor file. It is shared by
// the sessions and the SIGHUP reopen.
type sink struct {
	log        *slog.Logger
	clk        clock.Clock
	src        string
	cursorPath string        // "" in compat mode: no cursor is kept
	fsync      time.Duration // 0: never fsync, save the cursor every CursorSaveInterval
	bound      bound         // --max-size
	// stop ends the run with the error that makes pull refuse to go on
	// (ErrNotOurs); nil in tests that do not run.
	stop func(error)

	writing  atomic.Bool // a write to the output is under way, or waits for room
	received atomic.Int64
	piped    atomic.Int64  // of received, the bytes moved from ssh's pipe without a copy
	reopened chan struct{} // Reopen tells waitRoom to look again; made by open
	stats    pullStats

	mu       sync.Mutex
	out      *output
	cursor   tailer.Cursor
	have     bool      // cursor is known (it may be zero: the file did not exist yet)
	dirty    bool      // cursor changed since the last save
	unproven *unproven // bytes a killed pull may have written; nil once proven
	failed   error     // set once pull refuses to go on
	lastSave time.Time
	lastData time.Time // when data was last written (zero: not yet)
	closed   bool
}

// open loads the cursor file, if any, checks the output against it (see
// reconcile) and opens the output ("" = standard output).
func (s *sink) open(outputPath string) error {
	s.reopened = make(chan struct{}, 1)
	var rec record
	var found bool
	if s.cursorPath != "" {
		var err error
		if rec, found, err = loadRecord(s.cursorPath, s.src); err != nil {
			return err
		}
		s.cursor, s.have = rec.Cursor, found
	}
	if outputPath == "" {
		s.out = stdoutOutput()
		return nil
	}
	if found && rec.HasOutput {
		u, err := reconcile(outputPath, rec, s.log)
		if err != nil {
			return err
		}
		s.unproven = u
	}
	out, err := openOutput(outputPath)
	if err == nil && s.unproven != nil {
		// The tail is what pull had written up to the saved size.
		err = out.loadTail(s.unproven.pos)
	}
	if err != nil {
		if out != nil {
			out.close()
		}
		s.dropUnproven()
		return err
	}
	s.out = out
	return nil
}

// loadRecord reads the cursor file at path, if there is one, and checks
// that it is the position in src.
func loadRecord(path, src string) (record, bool, error) {
	b, err := fsutil.ReadOwned(path, maxRecord)
	if errors.Is(err, fs.ErrNotExist) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("read cursor: %w", err)
	}
	rec, err := parseRecord(string(b))
	if err != nil {
		return record{}, false, fmt.Errorf("%s: %w (remove it to start over)", path, err)
	}
	if rec.Source != src {
		return record{}, false, fmt.Errorf("%s holds the position in %s, not %s: give another --cursor-file, or remove it to start over", path, rec.Source, src)
	}
	return rec, true, nil
}

// lastDataTime is when data was last written. It takes the lock every
// write holds (the report pass relies on that).
func (s *sink) lastDataTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastData
}

// position is the cursor and whether one is known.
func (s *sink) position() (tailer.Cursor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, s.have
}

// apply writes one frame's effect and returns how many data bytes it wrote.
// At the output's size bound it applies what fits and returns ErrFull with
// the rest of the frame, to be applied once there is room (waitRoom).
// Once pull refused to go on (ErrNotOurs) every frame gets that error.
func (s *sink) apply(f stream.Frame) (int64, stream.Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return 0, f, s.failed
	}
	var n int64
	var err error
	switch f.Type {
	case stream.Start:
		s.applyStart(f)
		// Store the start at once: a restart must resume here, not start
		// at the (later) end again.
		return 0, f, s.saveLocked(true)
	case stream.Data, stream.Late:
		n, f, err = s.applyData(f)
	case stream.Rotated, stream.Truncated:
		err = s.applyBreak(f)
	}
	if serr := s.saveLocked(false); err == nil {
		err = serr
	}
	return n, f, err
}

func (s *sink) applyStart(f stream.Frame) {
	if f.How == stream.HowLost {
		s.log.Warn("the remote file of our cursor is gone (rotated away and compressed or deleted); continuing at the beginning of the current file: lines between the cursor and the rotation are missing",
			"src", s.src, "cursor", s.cursor.String(), "now", f.Cursor.String())
	}
	s.cursor, s.have, s.dirty = f.Cursor, true, true
}

// errNotPiped: the frame's payload cannot go straight from the pipe into
// the output now (see canPipe); the caller reads it and applies the frame.
var errNotPiped = errors.New("payload not piped")

// canPipe reports whether the n payload bytes of data or late frame f can
// go straight from ssh's pipe into the output (applyPiped): the output is
// a file, every byte is new (none to prove against the output, see
// unproven) and all of it fits under the size bound. Otherwise the
// payload is read and applied as usual, which also cuts it at the bound.
func (s *sink) canPipe(f stream.Frame, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canPipeLocked(f, n)
}

func (s *sink) canPipeLocked(f stream.Frame, n int) bool {
	return (f.Type == stream.Data || f.Type == stream.Late) && s.failed == nil && !s.closed &&
		s.unproven == nil && s.out.at != nil && s.fits(int64(n))
}

// applyPiped applies data or late frame f whose payload is head, which the
// decoder had read, and the next rest bytes waiting in the pipe r: they
// go into the output without being copied through pull (output.spliceIn),
// all of it or nothing, and only then does the cursor move past them, as
// for a written frame. errNotPiped when canPipe no longer holds (the
// output was reopened or filled meanwhile): nothing was taken from r.
func (s *sink) applyPiped(f stream.Frame, head []byte, r io.Reader, rest int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(head) + rest
	if !s.canPipeLocked(f, n) {
		return 0, errNotPiped
	}
	s.warnGap(f, n)
	s.writing.Store(true)
	err := s.out.spliceIn(head, r, rest)
	s.writing.Store(false)
	if err != nil {
		return 0, err
	}
	s.received.Add(int64(n))
	s.piped.Add(int64(rest))
	s.lastData = s.clk.Now()
	if f.Type == stream.Data {
		s.cursor, s.dirty = f.Cursor, true
	}
	return int64(n), s.saveLocked(false)
}

// warnGap says so when data frame f, of n bytes, does not continue right
// after the cursor.
func (s *sink) warnGap(f stream.Frame, n int) {
	if f.Type == stream.Data && !contiguous(s.cursor, f, n) {
		s.log.Warn("stream is not contiguous; writing it anyway", "src", s.src, "before", s.cursor.String(), "frame", f.Cursor.String(), "bytes", n)
	}
}

// applyData writes a data or late frame, as much of it as the bound lets
// through; with ErrFull it returns the rest.
func (s *sink) applyData(f stream.Frame) (int64, stream.Frame, error) {
	s.warnGap(f, len(f.Data))
	now, rest := s.fit(f)
	n, err := s.put(now.Data)
	if err != nil {
		return 0, f, err
	}
	s.received.Add(n)
	if n > 0 {
		s.lastData = s.clk.Now()
	}
	if now.Type != 0 {
		s.cursor, s.dirty = now.Cursor, true
	}
	if len(rest.Data) > 0 {
		return n, rest, s.bound.reached(s)
	}
	return n, rest, nil
}

// contiguous reports whether data frame f, of n bytes, continues right
// after prev.
func contiguous(prev tailer.Cursor, f stream.Frame, n int) bool {
	if prev.IsZero() {
		return f.Cursor.Offset == int64(n)
	}
	return prev.Dev == f.Cursor.Dev && prev.Ino == f.Cursor.Ino && f.Cursor.Offset == prev.Offset+int64(n)
}

// applyBreak follows a rotation or truncation of the remote file.
func (s *sink) applyBreak(f stream.Frame) error {
	if !s.out.endsLine() {
		// The old file ended inside a line: end it here, so that the new
		// file's first line does not continue it.
		if !s.fits(1) {
			return s.bound.reached(s)
		}
		if _, err := s.put([]byte{'\n'}); err != nil {
			return err
		}
	}
	s.log.Info("remote file "+f.Type.String(), "src", s.src, "cursor", f.Cursor.String())
	s.cursor, s.dirty = f.Cursor, true
	return nil
}

// put appends p to the output. Its leading bytes that the output already
// holds from before a crash (unproven) are compared instead of written; a
// difference ends the run (ErrNotOurs). It returns how many bytes it
// wrote.
func (s *sink) put(p []byte) (int64, error) {
	if u := s.unproven; u != nil && len(p) > 0 {
		n, err := u.match(p)
		if err != nil {
			return 0, s.fail(err)
		}
		s.out.wrote(p[:n])
		p = p[n:]
		if u.remaining() == 0 {
			s.log.Info("the bytes after the saved cursor were pull's own, written before it was killed: kept, not written twice",
				"output", s.out.path, "bytes", u.end-u.start)
			s.dropUnproven()
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.writing.Store(true)
	defer s.writing.Store(false)
	if err := s.out.write(p); err != nil {
		return 0, err
	}
	return int64(len(p)), nil
}

// fail makes err the end of the run: every later frame gets it.
func (s *sink) fail(err error) error {
	s.failed = err
	if s.stop != nil {
		s.stop(err)
	}
	return err
}

func (s *sink) dropUnproven() {
	if s.unproven != nil {
		s.unproven.close()
		s.unproven = nil
	}
}

// writeRaw writes whole lines without a cursor (compat mode), syncing the
// output every fsync interval. At the size bound it writes the lines that
// fit and returns ErrFull with the rest.
func (s *sink) writeRaw(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.fitLines(p)
	if _, err := s.put(p[:n]); err != nil {
		return p, err
	}
	s.received.Add(int64(n))
	if n > 0 {
		s.lastData = s.clk.Now()
	}
	if n < len(p) {
		return p[n:], s.bound.reached(s)
	}
	if now := s.clk.Now(); s.fsync > 0 && now.Sub(s.lastSave) >= s.fsync {
		s.lastSave = now
		return nil, s.out.sync()
	}
	return nil, nil
}

// save saves the cursor if it changed; unless force, only when the save
// interval has passed.
func (s *sink) save(force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked(force)
}

// saveLocked flushes the output to disk (with an fsync interval) and then
// replaces the cursor file, so the stored cursor never claims data the
// disk lacks. Without an fsync interval neither is synced.
func (s *sink) saveLocked(force bool) error {
	if s.cursorPath == "" || !s.dirty {
		return nil
	}
	interval := s.fsync
	if interval == 0 {
		interval = CursorSaveInterval
	}
	now := s.clk.Now()
	if !force && now.Sub(s.lastSave) < interval {
		return nil
	}
	if err := s.writeRecord(false); err != nil {
		return err
	}
	s.dirty = false
	s.lastSave = now
	return nil
}

// writeRecord syncs the output (with an fsync interval) and replaces the
// cursor file with the current position; stopped marks the last save of
// a clean stop.
func (s *sink) writeRecord(stopped bool) error {
	sync := s.fsync > 0
	if sync {
		if err := s.out.sync(); err != nil {
			return err
		}
	}
	rec := record{Source: s.src, Cursor: s.cursor, Stopped: stopped}
	if s.out.path != "" {
		if err := s.out.freshTail(); err != nil {
			return err
		}
		id, size, err := s.out.stat()
		if err != nil {
			return err
		}
		if s.unproven != nil {
			// Only what is proven is pull's.
			size = s.unproven.pos
		}
		rec.Output, rec.OutputSize, rec.HasOutput = id, size, true
		rec.TailLen, rec.Tail = s.out.tailSum(size)
	}
	if err := fsutil.WriteAtomic(s.cursorPath, []byte(rec.String()), 0o600, sync); err != nil {
		return fmt.Errorf("save cursor: %w", err)
	}
	return nil
}

// stopped saves the cursor for the last time, marked as a clean stop, so
// that the next start knows every byte after it is someone else's; while
// bytes from before a crash are still unproven it is not marked so. After
// a refusal nothing is saved: the record stays as it was.
func (s *sink) stopped() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursorPath == "" || !s.have || s.failed != nil {
		return nil
	}
	return s.writeRecord(s.unproven == nil)
}

// Reopen reopens the output under its name (SIGHUP, after logrotate moved
// it) and saves the cursor with the new file at once, so that a crash right
// after cannot confuse the old file's size with the new one's. After the
// pull ended it does nothing.
func (s *sink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.out.path == "" {
		return nil
	}
	if err := s.out.sync(); err != nil {
		s.log.Warn("flushing the output before reopening failed", "err", err)
	}
	o, err := openOutput(s.out.path)
	if err != nil {
		return err
	}
	s.out.close()
	s.out = o
	// Bytes still unproven were in the old file: they are no longer
	// where pull writes.
	s.dropUnproven()
	select {
	case s.reopened <- struct{}{}:
	default:
	}
	if s.have {
		s.dirty = true
		return s.saveLocked(true)
	}
	return nil
}

// close syncs and closes the output.
func (s *sink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.out == nil {
		return
	}
	s.closed = true
	s.dropUnproven()
	if err := s.out.sync(); err != nil {
		s.log.Warn("flushing the output failed", "err", err)
	}
	s.out.close()
}

// waitRoom waits, after ErrFull, until the output has room again (see
// bound): it looks at once after a reopen, and every roomPoll on the
// clock. It returns false when ctx ends first.
func (s *sink) waitRoom(ctx context.Context) bool {
	s.writing.Store(true)
	defer s.writing.Store(false)
	t := s.clk.NewTimer(roomPoll)
	defer t.Stop()
	for !s.hasRoom() {
		select {
		case <-ctx.Done():
			return false
		case <-s.reopened:
		case <-t.C():
			t.Reset(roomPoll)
		}
	}
	return true
}
