package pull

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
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

	writing  atomic.Bool // a write to the output is under way
	received atomic.Int64

	mu       sync.Mutex
	out      *output
	cursor   tailer.Cursor
	have     bool // cursor is known (it may be zero: the file did not exist yet)
	dirty    bool // cursor changed since the last save
	lastSave time.Time
	closed   bool
}

// open loads the cursor file, if any, brings the output back to the state
// it records (see reconcile) and opens the output ("" = standard output).
func (s *sink) open(outputPath string) error {
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
		if err := reconcile(outputPath, rec, s.log); err != nil {
			return err
		}
	}
	out, err := openOutput(outputPath)
	if err != nil {
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

// reconcile cuts the output at path back to the size recorded with the
// cursor: bytes beyond it were written after the last save (a crash came
// between the write and the save) and are received again from the
// cursor. An output that is missing, or is another file than the one the
// cursor was saved with (rotated away meanwhile), is left alone.
//
// The cut assumes that nobody but us appends to the output (the lock keeps
// a second pull away, not other writers).
func reconcile(path string, rec record, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if id, ok := fsutil.IDOf(fi); !ok || id != rec.Output {
		log.Info("the output is not the file the cursor was saved with (rotated or replaced meanwhile); not checking it", "output", path)
		return nil
	}
	switch size := fi.Size(); {
	case size > rec.OutputSize:
		log.Info("removing the output's last bytes, written after the cursor was saved: they are received again now",
			"output", path, "bytes", size-rec.OutputSize)
		if err := os.Truncate(path, rec.OutputSize); err != nil {
			return fmt.Errorf("cut %s back to the saved cursor: %w", path, err)
		}
	case size < rec.OutputSize:
		log.Warn("the output is shorter than when the cursor was saved: data was lost (a crash before fsync, or the file was truncated)",
			"output", path, "missing_bytes", rec.OutputSize-size)
	}
	return nil
}

// position is the cursor and whether one is known.
func (s *sink) position() (tailer.Cursor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, s.have
}

// apply writes one frame's effect and returns how many data bytes it wrote.
func (s *sink) apply(f stream.Frame) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	switch f.Type {
	case stream.Start:
		s.applyStart(f)
		// Store the start at once: a restart must resume here, not start
		// at the (later) end again.
		return 0, s.saveLocked(true)
	case stream.Data, stream.Late:
		if err = s.applyData(f); err != nil {
			return 0, err
		}
	case stream.Rotated, stream.Truncated:
		if err = s.applyBreak(f); err != nil {
			return 0, err
		}
	}
	n := int64(len(f.Data))
	return n, s.saveLocked(false)
}

func (s *sink) applyStart(f stream.Frame) {
	if f.How == stream.HowLost {
		s.log.Warn("the remote file of our cursor is gone (rotated away and compressed or deleted); continuing at the beginning of the current file: lines between the cursor and the rotation are missing",
			"src", s.src, "cursor", s.cursor.String(), "now", f.Cursor.String())
	}
	s.cursor, s.have, s.dirty = f.Cursor, true, true
}

func (s *sink) applyData(f stream.Frame) error {
	if f.Type == stream.Data && !contiguous(s.cursor, f) {
		s.log.Warn("stream is not contiguous; writing it anyway", "src", s.src, "before", s.cursor.String(), "frame", f.Cursor.String(), "bytes", len(f.Data))
	}
	if err := s.write(f.Data); err != nil {
		return err
	}
	s.received.Add(int64(len(f.Data)))
	s.cursor, s.dirty = f.Cursor, true
	return nil
}

// contiguous reports whether data frame f continues right after prev.
func contiguous(prev tailer.Cursor, f stream.Frame) bool {
	if prev.IsZero() {
		return f.Cursor.Offset == int64(len(f.Data))
	}
	return prev.Dev == f.Cursor.Dev && prev.Ino == f.Cursor.Ino && f.Cursor.Offset == prev.Offset+int64(len(f.Data))
}

// applyBreak follows a rotation or truncation of the remote file.
func (s *sink) applyBreak(f stream.Frame) error {
	if !s.out.endsLine() {
		// The old file ended inside a line: end it here, so that the new
		// file's first line does not continue it.
		if err := s.write([]byte{'\n'}); err != nil {
			return err
		}
	}
	s.log.Info("remote file "+f.Type.String(), "src", s.src, "cursor", f.Cursor.String())
	s.cursor, s.dirty = f.Cursor, true
	return nil
}

func (s *sink) write(p []byte) error {
	s.writing.Store(true)
	defer s.writing.Store(false)
	return s.out.write(p)
}

// writeRaw writes without a cursor (compat mode), syncing the output every
// fsync interval.
func (s *sink) writeRaw(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received.Add(int64(len(p)))
	if err := s.write(p); err != nil {
		return err
	}
	if now := s.clk.Now(); s.fsync > 0 && now.Sub(s.lastSave) >= s.fsync {
		s.lastSave = now
		return s.out.sync()
	}
	return nil
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
	sync := s.fsync > 0
	if sync {
		if err := s.out.sync(); err != nil {
			return err
		}
	}
	rec := record{Source: s.src, Cursor: s.cursor}
	if s.out.path != "" {
		id, size, err := s.out.stat()
		if err != nil {
			return err
		}
		rec.Output, rec.OutputSize, rec.HasOutput = id, size, true
	}
	if err := fsutil.WriteAtomic(s.cursorPath, []byte(rec.String()), 0o600, sync); err != nil {
		return fmt.Errorf("save cursor: %w", err)
	}
	s.dirty = false
	s.lastSave = now
	return nil
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
	if err := s.out.sync(); err != nil {
		s.log.Warn("flushing the output failed", "err", err)
	}
	s.out.close()
}
