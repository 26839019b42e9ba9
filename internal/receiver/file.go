package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
)

// StatePath is the state file kept beside path. It is hidden so that
// logrotate patterns like *.log do not rotate it; its name is the writers'
// convention (internal/onewriter), by which pull knows the file is ours.
func StatePath(path string) string { return onewriter.HiddenPath(path) }

// LockPath is the lock file kept beside path: the one every writer of ours
// takes (internal/onewriter).
func LockPath(path string) string { return onewriter.LockPath(path) }

// fileMode is the mode of files we create; the umask applies.
const fileMode = 0o640

// state is the durable mapping between the stream and the file: the stream
// offset Offset corresponds to file size Size of the file Dev:Ino.
type state struct {
	Version int    `json:"version"`
	Stream  string `json:"stream"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	Offset  int64  `json:"offset"`
	// GapTo is set while a gap notice is being written after Size: once
	// any of it is there, the stream continues at GapTo.
	GapTo *int64 `json:"gap_to,omitempty"`
}

// QuotaError refuses a write that would take the file beyond its bound.
type QuotaError struct {
	Path      string
	Max, Size int64
	Need      int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%s has reached its size bound (--max-size %d bytes; it holds %d, the next %d bytes do not fit): rotate the file or raise --max-size; the sender keeps the data until then",
		e.Path, e.Max, e.Size, e.Need)
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("receiver: file closed")

// ErrDamagedState is a state file that cannot be trusted: a symlink, a
// file not ours, or not a state file at all. Why is logged on the log
// host; the sender is told no more than this, so that a state file planted
// as a link to another file never shows the client a byte of that file.
var ErrDamagedState = errors.New("damaged state file, see the log host's log")

// stateLimit bounds what is read of a state file (ours are ~150 bytes).
const stateLimit = 64 << 10

// The data file's writes and fsyncs go through these, so that tests can
// count them and make them fail.
var (
	writeFile = (*os.File).Write
	fsyncFile = (*os.File).Sync
	openData  = os.OpenFile
)

// After a rotation took the file away, receive waits up to recreateWait,
// looking every recreatePoll, for someone else to create the new one
// before it creates the file itself. logrotate's "create" makes it right
// after its rename, with O_EXCL: had receive made it first, logrotate
// would rename receive's file aside (NAME-YYYYMMDDHH.backup), with the
// lines receive wrote into it, and create another (issue #15; measured in
// e2e TestReceiveLogrotate). A logrotate run as root also creates the file
// with mode 0600 before it hands it to its owner (fchown): an open refused
// for permission is tried again within the same wait.
const (
	recreateWait = time.Second
	recreatePoll = 5 * time.Millisecond
)

// Appender appends one stream to one file and keeps the position durable.
// Its methods may be called concurrently (Sync runs beside writes).
type Appender struct {
	path, statePath string
	max             int64
	stateEvery      time.Duration
	log             *slog.Logger
	clock           clock.Clock
	warns           *warnLimiter // warnings a sender can repeat

	mu        sync.Mutex
	f         *os.File
	dev, ino  uint64
	size      int64  // size of f, as we wrote it
	pos       int64  // stream offset after the last byte written
	stream    string // "" until a sender names one
	gen       int    // bumped whenever f or the stream changes
	synced    int64  // everything before it is on disk (current stream)
	saved     state  // last state written
	lastSave  time.Time
	unsynced  int64 // bytes written since the last sync
	closed    bool
	broken    error // a failed write could not be undone: no more writes
	rotations int
}

// AppenderOptions configure OpenAppender.
type AppenderOptions struct {
	MaxSize int64 // 0: no bound
	// StateEvery is how often Sync also rewrites the state file (default
	// 1 s). Between saves the position is recovered from the file size.
	StateEvery time.Duration
	Clock      clock.Clock // default the wall clock
	Logger     *slog.Logger
}

// OpenAppender opens (creating it) the file at path and recovers the
// stream position from the state file beside it. The caller holds the
// lock. Everything the file holds is synced before the position is
// reported, so the position is durable.
func OpenAppender(path string, opts AppenderOptions) (*Appender, error) {
	a := &Appender{path: path, statePath: StatePath(path), max: opts.MaxSize, stateEvery: opts.StateEvery, log: opts.Logger, clock: clock.OrReal(opts.Clock)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.warns = newWarnLimiter(a.log, a.clock)
	if a.stateEvery <= 0 {
		a.stateEvery = time.Second
	}
	st, err := a.loadState()
	if err != nil {
		return nil, err
	}
	open := a.openFile
	if st != nil {
		// A position was saved: a missing file was rotated away while no
		// receiver ran, perhaps a moment ago by a logrotate about to
		// create the new one.
		open = a.openSuccessor
	}
	if err := open(); err != nil {
		return nil, err
	}
	if st != nil {
		a.stream = st.Stream
		a.pos = a.recover(st)
	}
	if err := fsyncFile(a.f); err != nil {
		a.f.Close()
		return nil, fmt.Errorf("fsync %s: %w", a.path, err)
	}
	a.synced = a.pos
	if err := a.saveState(nil); err != nil {
		a.f.Close()
		return nil, err
	}
	return a, nil
}

// loadState reads the saved mapping; nil if there is none. A state file
// that is not ours or not a state file is refused rather than guessed
// around (a wrong position loses or repeats data): the administrator
// decides, and the reason goes to the log only (see ErrDamagedState).
func (a *Appender) loadState() (*state, error) {
	b, err := fsutil.ReadOwned(a.statePath, stateLimit)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, fsutil.ErrUnsafe):
		return nil, a.damaged(err.Error())
	case err != nil:
		return nil, fmt.Errorf("read state %s: %w", a.statePath, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, a.damaged(describeJSONError(err))
	}
	if st.Version != 1 || (st.Stream != "" && ackproto.CheckStream(st.Stream) != nil) || st.Size < 0 || st.Offset < 0 {
		return nil, a.damaged("not a version 1 state, or a field out of range")
	}
	return &st, nil
}

// damaged logs why the state file is refused and returns the error the
// sender may see.
func (a *Appender) damaged(reason string) error {
	a.log.Error("the state file is damaged or not ours; refusing to guess the position: move it away to accept the stream as new (the sender then resends what it still holds)",
		"path", a.path, "state", a.statePath, "reason", reason)
	return fmt.Errorf("%s: %w", a.statePath, ErrDamagedState)
}

// describeJSONError says what is wrong with a state file without quoting
// any of it (the file may be a link to someone else's data).
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not JSON (syntax error at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	}
	return "not JSON"
}

// openFile opens the path for appending, creating it if it is missing,
// and records its identity.
func (a *Appender) openFile() error {
	return a.open(os.O_CREATE)
}

// openSuccessor opens the file that follows ours at the path after a
// rotation renamed or removed ours: the one logrotate creates, if it does
// within recreateWait (see there); otherwise one receive creates, O_EXCL,
// so that a file that appears at that very moment is opened, never taken
// over.
func (a *Appender) openSuccessor() error {
	deadline := a.clock.Now().Add(recreateWait)
	for {
		err := a.open(0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return err
		}
		if !a.clock.Now().Before(deadline) {
			if errors.Is(err, fs.ErrPermission) {
				return err
			}
			break
		}
		clock.Sleep(context.Background(), a.clock, recreatePoll)
	}
	a.log.Info("nothing created the file again within the wait after its rotation; creating it", "path", a.path, "waited", recreateWait)
	err := a.open(os.O_CREATE | os.O_EXCL)
	if errors.Is(err, fs.ErrExist) {
		err = a.open(0)
	}
	return err
}

// open opens the path for appending, with the extra flags, and records
// its identity.
func (a *Appender) open(flags int) error {
	f, err := openData(a.path, os.O_WRONLY|os.O_APPEND|flags, fileMode)
	if err != nil {
		return fmt.Errorf("open %s: %w", a.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat %s: %w", a.path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file (%s)", a.path, fi.Mode().Type())
	}
	id, ok := fsutil.IDOf(fi)
	if !ok {
		f.Close()
		return fmt.Errorf("%s: the file system gives no inode number", a.path)
	}
	a.f, a.dev, a.ino, a.size = f, id.Dev, id.Ino, fi.Size()
	return nil
}

// recover computes the stream position from the saved state and what the
// file (or, after a rotation while we were not running, its renamed
// predecessor) holds now.
func (a *Appender) recover(st *state) int64 {
	size, found := a.size, st.Dev == a.dev && st.Ino == a.ino
	if !found {
		if old, sz := findInode(a.path, st.Dev, st.Ino); old != "" {
			size, found = sz, true
			a.log.Info("the file was rotated while receive was not running; the position continues in the new file", "path", a.path, "previous", old)
		}
	}
	switch {
	case st.GapTo != nil:
		return *st.GapTo
	case !found:
		a.log.Warn("the file of the saved position is gone (rotated and compressed, or deleted); lines written after the last state save may be repeated", "path", a.path, "offset", st.Offset)
		return st.Offset
	case size < st.Size:
		a.log.Warn("the file is shorter than when its position was saved (truncated while receive was not running); continuing at the saved position", "path", a.path, "size", size, "saved_size", st.Size)
		return st.Offset
	case size > st.Size:
		// Written by us after the last state save (a crash between the
		// write and the save): received, so not asked for again.
		a.log.Info("bytes written after the last state save count as received", "path", a.path, "bytes", size-st.Size)
	}
	return st.Offset + size - st.Size
}

// findInode looks for the file dev:ino among the siblings of path whose
// names start with its name (logrotate's path.1, path-20260101, ...).
func findInode(path string, dev, ino uint64) (string, int64) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", 0
	}
	for i, e := range ents {
		if i > 10000 {
			break
		}
		if !strings.HasPrefix(e.Name(), base) || e.Name() == base {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if id, ok := fsutil.IDOf(fi); ok && id == (fsutil.ID{Dev: dev, Ino: ino}) {
			return p, fi.Size()
		}
	}
	return "", 0
}

// saveState writes the current mapping (or the one given) durably.
// Called with mu held, or before the Appender is shared.
func (a *Appender) saveState(st *state) error {
	if st == nil {
		st = &state{Version: 1, Stream: a.stream, Dev: a.dev, Ino: a.ino, Size: a.size, Offset: a.pos}
	}
	b, _ := json.Marshal(st)
	if err := fsutil.WriteAtomic(a.statePath, append(b, '\n'), 0o600, true); err != nil {
		return fmt.Errorf("save receive state: %w", err)
	}
	a.saved, a.lastSave = *st, a.clock.Now()
	return nil
}

// Position returns the stream held ("" for none) and the offset up to
// which it is durably written.
func (a *Appender) Position() (stream string, synced int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stream, a.synced
}

// Unsynced is how many bytes were written since the last sync.
func (a *Appender) Unsynced() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unsynced
}

// Size is the current size of the file, as written by us.
func (a *Appender) Size() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.size
}

// Rotations is how many times the file was found rotated.
func (a *Appender) Rotations() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rotations
}

// Write appends p, the bytes of stream at offset off. The first write of
// another stream than the one held starts that stream at off. Bytes before
// the position are skipped (already written); a write beyond the position
// would leave a hole and is refused.
func (a *Appender) Write(stream string, off int64, p []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usable(); err != nil {
		return err
	}
	if stream != a.stream {
		if err := a.switchStream(stream, off); err != nil {
			return err
		}
	}
	if off > a.pos {
		return fmt.Errorf("%w: data at offset %d leaves a hole after %d", ackproto.ErrProtocol, off, a.pos)
	}
	if skip := a.pos - off; skip > 0 {
		if skip >= int64(len(p)) {
			return nil
		}
		p = p[skip:]
	}
	if err := a.checkRotated(); err != nil {
		return err
	}
	if err := a.append(p); err != nil {
		return err
	}
	a.pos += int64(len(p))
	return nil
}

// Gap writes notice in place of the stream bytes up to to, which the
// sender no longer has, and continues the stream at to.
//
// A gap to the position itself changes nothing (nothing is missing; it
// is a repeat, or empty) and costs nothing: no fsync, no state rewrite, no
// log line, whatever a sender sends. Only as the first frame of a new
// stream does its notice count (the new stream's head was dropped).
func (a *Appender) Gap(stream string, to int64, notice []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usable(); err != nil {
		return err
	}
	switched := stream != a.stream
	if switched {
		if err := a.switchStream(stream, to); err != nil {
			return err
		}
	}
	if to < a.pos {
		return fmt.Errorf("%w: gap to offset %d is behind the position %d", ackproto.ErrProtocol, to, a.pos)
	}
	if to == a.pos && (!switched || len(notice) == 0) {
		return nil
	}
	if err := a.checkRotated(); err != nil {
		return err
	}
	if to > a.pos {
		a.warns.warn("the sender no longer has part of the stream (its spool bound dropped it)", "path", a.path, "from", a.pos, "to", to, "bytes", to-a.pos)
	}
	return a.jump(to, notice)
}

// jump continues the stream at to, with notice in the file in place of
// what is missing. Durable before and after: while the notice is being
// written the state says where the stream continues, so that a crash in
// between neither counts the notice as stream bytes nor loses the jump.
func (a *Appender) jump(to int64, notice []byte) error {
	if err := a.syncLocked(); err != nil {
		return err
	}
	if len(notice) == 0 {
		// Nothing to write: one state save makes the jump durable.
		a.pos, a.synced = to, to
		return a.saveState(nil)
	}
	pending := state{Version: 1, Stream: a.stream, Dev: a.dev, Ino: a.ino, Size: a.size, Offset: a.pos, GapTo: &to}
	if err := a.saveState(&pending); err != nil {
		return err
	}
	if err := a.append(notice); err != nil {
		return err
	}
	a.pos = to
	if err := a.syncLocked(); err != nil {
		return err
	}
	return a.saveState(nil)
}

func (a *Appender) usable() error {
	if a.closed {
		return ErrClosed
	}
	return a.broken
}

// switchStream starts another stream at off: what the old stream wrote is
// synced first, then the new mapping is saved before any of its bytes.
func (a *Appender) switchStream(stream string, off int64) error {
	if a.stream != "" {
		a.log.Info("a new stream starts (the sender's spool is new: reinstalled or reset)", "path", a.path, "stream", stream, "offset", off, "previous_stream", a.stream, "previous_offset", a.pos)
	} else {
		a.log.Info("stream starts", "path", a.path, "stream", stream, "offset", off)
	}
	if err := fsyncFile(a.f); err != nil {
		return fmt.Errorf("fsync %s: %w", a.path, err)
	}
	a.stream, a.pos, a.synced, a.unsynced = stream, off, off, 0
	a.gen++
	return a.saveState(nil)
}

// checkRotated notices that the path no longer names our file (renamed
// or deleted by logrotate) and continues in a new file at the path.
func (a *Appender) checkRotated() error {
	fi, err := os.Stat(a.path)
	if err == nil {
		if id, ok := fsutil.IDOf(fi); ok && id == (fsutil.ID{Dev: a.dev, Ino: a.ino}) {
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat %s: %w", a.path, err)
	}
	// Everything written to the old file must be durable before the
	// state points at the new one.
	if err := fsyncFile(a.f); err != nil {
		return fmt.Errorf("fsync rotated %s: %w", a.path, err)
	}
	oldIno := a.ino
	a.f.Close()
	if err := a.openSuccessor(); err != nil {
		a.broken = err
		return err
	}
	if err := fsutil.SyncDir(filepath.Dir(a.path)); err != nil {
		return fmt.Errorf("fsync directory of %s: %w", a.path, err)
	}
	a.synced, a.unsynced = a.pos, 0
	a.gen++
	a.rotations++
	a.log.Info("the file was rotated; continuing in a new file", "path", a.path, "old_inode", oldIno, "new_inode", a.ino, "offset", a.pos)
	return a.saveState(nil)
}

// append writes p whole, or not at all: a partial write (disk full) is cut
// off again, so that no torn line stays behind. It cuts back to the size
// the file had right before the write, not to the size we last knew:
// bytes someone else appended meanwhile (an administrator's echo >>) are
// not ours to cut.
func (a *Appender) append(p []byte) error {
	if a.max > 0 && a.size+int64(len(p)) > a.max {
		return &QuotaError{Path: a.path, Max: a.max, Size: a.size, Need: len(p)}
	}
	fi, err := a.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", a.path, err)
	}
	before := fi.Size()
	n, err := writeFile(a.f, p)
	if err != nil {
		if n > 0 {
			if terr := a.f.Truncate(before); terr != nil {
				a.broken = fmt.Errorf("write %s failed (%v) and cutting the partial write failed: %w", a.path, err, terr)
				return a.broken
			}
		}
		return fmt.Errorf("write %s: %w", a.path, err)
	}
	a.size += int64(n)
	a.unsynced += int64(n)
	return nil
}

// syncLocked fsyncs the file; mu is held.
func (a *Appender) syncLocked() error {
	if err := fsyncFile(a.f); err != nil {
		return fmt.Errorf("fsync %s: %w", a.path, err)
	}
	a.synced, a.unsynced = a.pos, 0
	return nil
}

// Sync makes everything written so far durable and returns the offset
// before which the stream is on disk. Writes go on while it fsyncs.
func (a *Appender) Sync() (int64, error) {
	a.mu.Lock()
	if a.closed {
		defer a.mu.Unlock()
		return a.synced, nil
	}
	f, gen, pos, size, written := a.f, a.gen, a.pos, a.size, a.unsynced
	a.unsynced = 0
	a.mu.Unlock()

	err := fsyncFile(f)

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		// The file or stream changed meanwhile; that path synced what it
		// left behind.
		return a.synced, nil
	}
	if err != nil {
		a.unsynced += written
		return a.synced, fmt.Errorf("fsync %s: %w", a.path, err)
	}
	a.synced = max(a.synced, pos)
	if err := a.checkForeign(); err != nil {
		return a.synced, err
	}
	if (a.saved.Offset != pos || a.saved.Size != size) && clock.Since(a.clock, a.lastSave) >= a.stateEvery {
		st := state{Version: 1, Stream: a.stream, Dev: a.dev, Ino: a.ino, Size: size, Offset: pos}
		if err := a.saveState(&st); err != nil {
			return a.synced, err
		}
	}
	return a.synced, nil
}

// SaveIfStale rewrites the state file when everything written is synced
// but the saved mapping is older than the state interval: the syncer calls
// it while the input is quiet, so that the state is current then too.
func (a *Appender) SaveIfStale() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.broken != nil || a.unsynced > 0 || a.synced != a.pos {
		return nil
	}
	if (a.saved.Offset == a.pos && a.saved.Size == a.size) || clock.Since(a.clock, a.lastSave) < a.stateEvery {
		return nil
	}
	return a.saveState(nil)
}

// checkForeign notices that someone else changed the file's size
// (logrotate's copytruncate, another writer) and saves a new mapping.
func (a *Appender) checkForeign() error {
	fi, err := a.f.Stat()
	if err != nil || fi.Size() == a.size {
		return nil
	}
	if fi.Size() < a.size {
		a.warns.warn("the file was truncated (copytruncate?); lines written since the copy are lost from it", "path", a.path, "size", fi.Size(), "expected", a.size)
	} else {
		a.warns.warn("something else appended to the file", "path", a.path, "bytes", fi.Size()-a.size)
	}
	a.size = fi.Size()
	if err := fsyncFile(a.f); err != nil {
		return fmt.Errorf("fsync %s: %w", a.path, err)
	}
	a.synced = a.pos
	return a.saveState(nil)
}

// Close syncs, saves the state and closes the file. Writes in progress
// finish first; later ones fail with ErrClosed.
func (a *Appender) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	a.warns.flush()
	var errs []error
	if err := fsyncFile(a.f); err != nil {
		errs = append(errs, fmt.Errorf("fsync %s: %w", a.path, err))
	} else {
		a.synced = a.pos
		if a.saved.Offset != a.pos || a.saved.Size != a.size || a.saved.Ino != a.ino || a.saved.GapTo != nil {
			if err := a.saveState(nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := a.f.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
