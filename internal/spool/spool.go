package spool

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// Options configure a Spool.
type Options struct {
	// Dir holds segment files and the state file. Empty: memory only.
	Dir string
	// Max bounds the bytes kept, memory and disk together.
	Max int64
	// MemMax is how many bytes may wait in memory before new segments go
	// to disk (default 4 MiB). Ignored when Durable.
	MemMax int64
	// SegmentSize is the size at which a new segment is started (default
	// min(16 MiB, Max/8), at least 64 KiB). Dropping happens a whole
	// segment at a time.
	SegmentSize int64
	// Durable puts every segment on disk at once; Sync makes them durable.
	Durable bool
	Logger  *slog.Logger
}

// Stats are counters over the life of the spool.
type Stats struct {
	AppendedBytes, AppendedLines int64
	DroppedBytes, DroppedLines   int64
	Pending                      int64 // bytes held now
	OnDisk                       int64 // of which in segment files
	Segments                     int   // segments held now, memory and files
}

// Spool is a bounded, ordered, segmented byte stream of whole lines.
type Spool struct {
	opts Options
	log  *slog.Logger

	// syncMu serialises the saves of the state file (Sync, Close), so
	// that they land in the order of their snapshots and the saved
	// positions never go backwards.
	syncMu sync.Mutex

	mu        sync.Mutex
	segs      []*segment
	head      int64 // offset of the oldest byte kept
	tail      int64 // offset of the next byte appended
	memBytes  int64
	consumers map[string]*Consumer
	saved     map[string]int64 // positions loaded from the state file
	wake      chan struct{}    // closed and replaced on every append
	stats     Stats
	closed    bool
	diskErr   error
	spare     []byte // buffer of a released memory segment, for the next one
	streamID  string // names this stream to receivers; kept in the state file

	// The input position (AppendInput): stream offset inputTail holds
	// the input up to inputMark; "" while the input has none. While it
	// has one, inputTail is the tail and the record in the file input
	// says the same.
	inputMark string
	inputTail int64
	input     *posFile

	// Moved input (AppendMoved, moved.go): the input's bytes go into the
	// segment files straight from a pipe. loose is how many bytes of an
	// unfinished line the tail segment file holds after its visible end;
	// openLine says the visible end is inside a line.
	moved    bool
	loose    int64
	openLine bool
}

type segment struct {
	start int64
	size  int64
	mem   []byte   // memory segment
	f     *os.File // file segment
	path  string
	dirty bool // written since the last Sync
}

func (g *segment) end() int64 { return g.start + g.size }

// memSegmentSize caps memory segments so a released one frees memory soon.
// A memory segment gets this capacity at once (growing it by appends
// copied every byte about once more), and the buffer of a released one is
// reused for the next, so a steady stream allocates nothing.
const memSegmentSize = 1 << 20

// Open opens (or creates) a spool. Segment files left in Dir by an earlier
// run are loaded first, so their data is sent before anything new.
func Open(opts Options) (*Spool, error) {
	if opts.Max <= 0 {
		return nil, fmt.Errorf("spool: bound must be positive, got %d", opts.Max)
	}
	if opts.MemMax <= 0 {
		opts.MemMax = 4 << 20
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = min(16<<20, opts.Max/8)
	}
	opts.SegmentSize = max(opts.SegmentSize, 64<<10)
	if opts.Durable && opts.Dir == "" {
		return nil, errors.New("spool: durable mode needs a directory")
	}
	s := &Spool{opts: opts, log: opts.Logger, consumers: map[string]*Consumer{}, saved: map[string]int64{}, wake: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.Dir != "" {
		if err := s.ensureDir(); err != nil {
			return nil, err
		}
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	if s.streamID == "" {
		s.streamID = newStreamID()
		// Saved at once: a receiver that got data under this id must
		// see the same id after a crash, or it would take the resent
		// data for a new stream and keep it twice.
		if err := s.saveState(true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ErrForeignDir is a spool directory owned by a user other than us or
// root: its owner could replace or read the lines waiting in it.
var ErrForeignDir = errors.New("owned by another user")

// ErrSharedDir is a spool directory shared with the system or other users
// (/tmp, /var/lib, ...; see fsutil.SharedDir): lines do not wait there, and
// its mode is not ours to change.
var ErrSharedDir = errors.New("a directory shared with the system or other users")

// ensureDir creates the spool directory, or checks an existing one. Lines
// wait there, and a stranger who can write there could plant links or
// remove them, so it must be ours (or root's) and closed to others. One of
// ours that others may enter is tightened to 0700, with a warning, rather
// than refused: it is ours to fix, and a log forwarder that does not start
// loses lines. One of root's that we cannot tighten is warned about. A
// directory shared with the system or other users (/tmp, /var/lib) is
// refused: it is nobody's to tighten.
// Files planted while it was open are not trusted either (see load).
func (s *Spool) ensureDir() error {
	dir := s.opts.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("spool directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("spool directory %s: %w", dir, err)
	}
	uid, _ := fsutil.Owner(fi)
	me, perm := os.Geteuid(), fi.Mode().Perm()
	switch {
	case fsutil.SharedDir(dir, fi):
		// Tightening it would lock everyone else out of /tmp or /var/lib.
		return fmt.Errorf("spool directory %s: %w: give --spool a directory of its own below it, such as %s", dir, ErrSharedDir, filepath.Join(dir, "sshlogfwd"))
	case uid != me && uid != 0:
		return fmt.Errorf("spool directory %s: %w (uid %d, not %d): chown it to the user push runs as, or give another --spool", dir, ErrForeignDir, uid, me)
	case perm&0o077 == 0:
		return nil
	case uid == me:
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("spool directory %s: tighten mode %04o to 0700: %w", dir, perm, err)
		}
		s.log.Warn("spool directory was open to other users; tightened it", "dir", dir, "mode", fmt.Sprintf("%04o", perm), "now", "0700")
	default:
		s.log.Warn("spool directory belongs to root and is open to other users, who could remove lines waiting in it; this user cannot tighten it: chown it to this user",
			"dir", dir, "mode", fmt.Sprintf("%04o", perm), "uid", me)
	}
	return nil
}

// newStreamID returns 128 random bits in hex.
func newStreamID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("spool: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// StreamID names this spool's stream: random, made when the spool was
// first created and kept in its state file, so that a receiver can tell a
// restarted sender (same stream: resume) from a new one (a reinstalled
// host: a new stream whose offsets start over).
func (s *Spool) StreamID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamID
}

// SkipTo moves the end of the stream forward to pos, leaving a hole that
// no consumer reads. A receiver reported acknowledged offsets beyond the
// end: this spool lost data it had sent (a machine crash before it was
// synced here), and new lines must not reuse those offsets.
func (s *Spool) SkipTo(pos int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos <= s.tail {
		return
	}
	s.log.Warn("spool: a receiver holds offsets this spool no longer has (lost in a crash before they were synced here); continuing after them", "tail", s.tail, "to", pos)
	s.endLoose()
	s.tail = pos
	if len(s.segs) == 0 {
		s.head = pos
	}
}

// Append adds p, which must consist of whole lines (the caller assembles
// them), at the end of the stream. It never blocks on the destinations: if
// the bound is exceeded, the oldest segments are dropped. While the input
// has a position (AppendInput), p counts as data of our own (a mark line):
// the position stays where it is and covers p too. While the input is
// moved into the segment files (AppendMoved), p is recorded around its
// write, so that a kill in mid-write cannot glue it to the input.
func (s *Spool) Append(p []byte) error { return s.AppendInput("", p) }

// AppendInput appends parts, in this order, at the end of the stream,
// together with the position the input reached right after them: mark, an
// opaque string (a file cursor, a journal cursor) of at most MaxMark bytes
// that the input understands. Consumers see the data only once its
// position is recorded, in a file of the spool directory, at once and
// without fsync (a killed process leaves the page cache to the kernel;
// Sync makes it durable). After a crash, Open cuts the segments back to
// the last recorded position and InputMark says where the input resumes:
// no byte of the input is spooled twice, none is skipped, and what was
// appended without a position in between (mark lines) stays where it was.
//
// Either all of parts is appended or, with an error, nothing: the caller
// keeps the data and its position and tries again later. A mark needs a
// durable spool. With no parts, only the position moves (the input
// skipped something, such as a rotation).
func (s *Spool) AppendInput(mark string, parts ...[]byte) error {
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: append after close")
	}
	if mark != "" && !s.opts.Durable {
		return errors.New("spool: an input position needs a durable spool")
	}
	if s.moved && mark == "" {
		return s.appendSettled(parts, n)
	}
	if s.moved {
		// The input is no longer moved (another kind of input on this
		// spool directory).
		s.endLoose()
		s.moved = false
	}
	if mark == "" {
		mark = s.inputMark
	}
	if n == 0 && mark == s.inputMark {
		return nil
	}
	g, err := s.put(parts, n, mark != "")
	if err != nil {
		return err
	}
	if mark != "" {
		if err := s.recordInput(s.tail+n, mark); err != nil {
			s.unput(g)
			return err
		}
	}
	if n > 0 {
		s.commit(g, n, lineEnds(parts))
	}
	return nil
}

// put writes parts into the tail segment, not yet visible to consumers.
// When the disk fails, the data is kept in memory within the bound rather
// than lost, except for an input with a position (strict): there memory
// would not match the recorded position, and the input keeps the data.
func (s *Spool) put(parts [][]byte, n int64, strict bool) (*segment, error) {
	if n == 0 {
		return nil, nil
	}
	g := s.tailSegment(n)
	if g.f == nil && strict {
		if g = s.fileSegment(g); g == nil {
			return nil, fmt.Errorf("spool: cannot create a segment file: %w", s.diskErr)
		}
	}
	if g.f == nil {
		for _, p := range parts {
			g.mem = append(g.mem, p...)
		}
		s.memBytes += n
		return g, nil
	}
	err := writeParts(g.f, g.size, parts)
	if err == nil {
		s.diskErr = nil
		g.dirty = true
		return g, nil
	}
	// Whatever part was written is cut away again.
	_ = g.f.Truncate(g.size)
	if strict {
		return nil, fmt.Errorf("write spool segment %s: %w", g.path, err)
	}
	if s.diskErr == nil {
		s.log.Error("spool: writing segment failed; keeping data in memory", "file", g.path, "err", err)
	}
	s.diskErr = err
	g = s.newSegment(true)
	for _, p := range parts {
		g.mem = append(g.mem, p...)
	}
	s.memBytes += n
	return g, nil
}

// fileSegment replaces memory segment g at the tail, which a failing disk
// left there, by a new segment file; nil if that fails too.
func (s *Spool) fileSegment(g *segment) *segment {
	if g.size == 0 {
		s.segs = s.segs[:len(s.segs)-1]
	}
	f := s.newSegment(false)
	if f.f == nil {
		s.segs = s.segs[:len(s.segs)-1]
		return nil
	}
	return f
}

// lineEnds counts the line ends in parts.
func lineEnds(parts [][]byte) int64 {
	var n int64
	for _, p := range parts {
		n += int64(bytes.Count(p, []byte{'\n'}))
	}
	return n
}

// writeParts writes parts one after the other into f from offset off on.
// Segment files are written at explicit offsets, never in O_APPEND mode:
// splice(2) refuses a file opened O_APPEND (EINVAL), and moved input
// (AppendMoved) goes into the same files.
func writeParts(f *os.File, off int64, parts [][]byte) error {
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
		off += int64(len(p))
	}
	return nil
}

// unput takes back what put wrote into g.
func (s *Spool) unput(g *segment) {
	if g == nil {
		return
	}
	if g.f != nil {
		_ = g.f.Truncate(g.size)
		return
	}
	s.memBytes -= int64(len(g.mem)) - g.size
	g.mem = g.mem[:g.size]
}

// commit makes n bytes put into g, holding lines line ends, visible.
func (s *Spool) commit(g *segment, n, lines int64) {
	g.size += n
	s.tail += n
	s.stats.AppendedBytes += n
	s.stats.AppendedLines += lines
	s.enforceBound()
	close(s.wake)
	s.wake = make(chan struct{})
}

// recordInput records that stream offset off holds the input up to mark.
func (s *Spool) recordInput(off int64, mark string) error {
	if s.input == nil {
		p, _, _, err := s.openPosFile(inputPosFile, true)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.input = p
	}
	if err := s.input.write(off, mark); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.inputMark, s.inputTail = mark, off
	return nil
}

// tailSegment returns the segment to append n bytes to, starting a new one
// when the current one is full.
func (s *Spool) tailSegment(n int64) *segment {
	if k := len(s.segs); k > 0 {
		g := s.segs[k-1]
		limit := s.opts.SegmentSize
		if g.f == nil {
			limit = min(limit, memSegmentSize)
		}
		if (g.size+n <= limit || g.size == 0) && g.end() == s.tail {
			if g.f != nil || s.memBytes+n <= s.opts.MemMax || s.opts.Dir == "" || s.diskErr != nil {
				return g
			}
		}
	}
	inMemory := s.opts.Dir == "" || (!s.opts.Durable && s.memBytes+n <= s.opts.MemMax)
	return s.newSegment(inMemory)
}

func (s *Spool) newSegment(inMemory bool) *segment {
	g := &segment{start: s.tail}
	if inMemory {
		g.mem = s.spare
		s.spare = nil
		if g.mem == nil {
			g.mem = make([]byte, 0, memSegmentSize)
		}
	} else {
		g.path = filepath.Join(s.opts.Dir, fmt.Sprintf("%020d.seg", s.tail))
		f, err := os.OpenFile(g.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			if s.diskErr == nil {
				s.log.Error("spool: cannot create segment file; keeping data in memory", "err", err)
			}
			s.diskErr = err
			g.path = ""
		} else {
			g.f = f
		}
	}
	s.segs = append(s.segs, g)
	return g
}

// enforceBound drops the oldest segments until the bound holds again.
func (s *Spool) enforceBound() {
	for s.tail-s.head > s.opts.Max && len(s.segs) > 0 && !s.holdsLoose(0) {
		g := s.segs[0]
		lines, err := s.countLines(g, 0)
		if err != nil {
			s.log.Warn("spool: counting dropped lines failed", "err", err)
		}
		for _, c := range s.consumers {
			if c.read < g.end() {
				// Only a consumer in the middle of the segment needs a
				// count of its own.
				n := lines
				if c.read > g.start {
					n, _ = s.countLines(g, c.read-g.start)
				}
				c.gapLines += n
				c.gapBytes += g.end() - max(c.read, g.start)
				c.read = g.end()
			}
			c.acked = max(c.acked, g.end())
		}
		s.stats.DroppedBytes += g.size
		s.stats.DroppedLines += lines
		s.log.Warn("spool full: dropped oldest data", "bytes", g.size, "lines", lines, "bound", s.opts.Max)
		s.removeHead()
	}
}

func (s *Spool) countLines(g *segment, from int64) (int64, error) {
	if g.mem != nil || g.f == nil {
		return int64(bytes.Count(g.mem[from:], []byte{'\n'})), nil
	}
	var n int64
	buf := make([]byte, 256<<10)
	for off := from; off < g.size; {
		k, err := g.f.ReadAt(buf[:min(int64(len(buf)), g.size-off)], off)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		off += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// holdsLoose reports whether segment i holds the start of an unfinished
// line of moved input, which must stay where it is.
func (s *Spool) holdsLoose(i int) bool { return s.loose > 0 && i == len(s.segs)-1 }

// afterRemove, when a test sets it, is called right after a segment file
// is removed: the directory as it is then is what a kill there leaves.
var afterRemove func()

// removeHead discards the oldest segment.
func (s *Spool) removeHead() {
	g := s.segs[0]
	s.segs[0] = nil
	s.segs = s.segs[1:]
	if g.f != nil {
		g.f.Close()
		if err := os.Remove(g.path); err != nil {
			s.log.Warn("spool: removing segment failed", "file", g.path, "err", err)
		}
		if afterRemove != nil {
			afterRemove()
		}
	} else {
		s.memBytes -= g.size
	}
	if len(s.segs) > 0 {
		s.head = s.segs[0].start
	} else {
		s.head = s.tail
	}
}

// release drops segments that every consumer has acknowledged.
func (s *Spool) release() {
	if len(s.consumers) == 0 {
		return
	}
	low := s.tail
	for _, c := range s.consumers {
		low = min(low, c.acked)
	}
	for len(s.segs) > 0 && s.segs[0].end() <= low && !(len(s.segs) == 1 && s.segs[0].size == 0) && !s.holdsLoose(0) {
		g := s.segs[0]
		if len(s.segs) == 1 && s.keepsEnd() {
			// The empty segment that keeps the end of the stream on
			// disk (see below) is made before the last one goes: a kill
			// between the two would leave no segment file at all.
			s.newSegment(false)
		}
		s.removeHead()
		// Every consumer has acknowledged this segment, so none holds a
		// Batch of it any more: its buffer can take new data. (Not so in
		// enforceBound, where a consumer may be sending the segment it
		// drops.)
		if g.f == nil && cap(g.mem) == memSegmentSize {
			s.spare = g.mem[:0]
		}
	}
	if len(s.segs) == 0 && s.keepsEnd() {
		// Keep the end of the stream on disk: an empty segment file named
		// by the tail offset (load takes the tail from it). Otherwise a
		// restart after a crash would take the tail from the last saved
		// state, which may be older, and hand out again offsets a
		// receiver already has.
		s.newSegment(false)
	}
}

// keepsEnd reports whether the end of the stream is kept on disk as an
// empty segment file named by the tail offset, when no data is held: for a
// durable spool whose input has no position of its own.
func (s *Spool) keepsEnd() bool { return s.opts.Durable && s.inputMark == "" }

// Sync makes every byte appended so far durable (fsync of dirty segment
// files, of the position files and of the directory) and then saves the
// positions as they were when Sync began, so the saved state never claims
// more than is on disk. Syncs are serialised: the state saved last is the
// newest.
func (s *Spool) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil // Close synced everything
	}
	var dirty []*os.File
	for _, g := range s.segs {
		if g.f != nil && g.dirty {
			dirty = append(dirty, g.f)
			g.dirty = false
		}
	}
	pos := s.posFilesLocked()
	st := s.snapshotLocked()
	s.mu.Unlock()
	for _, f := range dirty {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("fsync spool segment %s: %w", f.Name(), err)
		}
	}
	for _, p := range pos {
		if err := p.sync(); err != nil {
			return err
		}
	}
	return s.writeState(st, true)
}

// posFilesLocked returns the open position files.
func (s *Spool) posFilesLocked() []*posFile {
	var pos []*posFile
	if s.input != nil {
		pos = append(pos, s.input)
	}
	for _, c := range s.consumers {
		c.resumeMu.Lock()
		if c.resume != nil {
			pos = append(pos, c.resume)
		}
		c.resumeMu.Unlock()
	}
	return pos
}

// saveState saves the positions as they are. The caller holds syncMu, or
// has the spool to itself (Open).
func (s *Spool) saveState(sync bool) error {
	s.mu.Lock()
	st := s.snapshotLocked()
	s.mu.Unlock()
	return s.writeState(st, sync)
}

func (s *Spool) snapshotLocked() state {
	st := state{Tail: s.tail, Consumers: map[string]int64{}, InputMark: s.inputMark, InputTail: s.inputTail, StreamID: s.streamID}
	for name, pos := range s.saved {
		st.Consumers[name] = pos
	}
	for name, c := range s.consumers {
		st.Consumers[name] = c.acked
	}
	return st
}

func (s *Spool) writeState(st state, sync bool) error {
	if s.opts.Dir == "" {
		return nil
	}
	b, _ := json.Marshal(st)
	return fsutil.WriteAtomic(filepath.Join(s.opts.Dir, stateFile), b, 0o600, sync)
}

// InputMark returns the input position that goes with the end of the
// stream (see AppendInput): after Open, where the input resumes; "" for
// an input without positions.
func (s *Spool) InputMark() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inputMark
}

// Close writes data still held in memory to segment files (so a restart
// sends it first), saves consumer positions and releases the files.
func (s *Spool) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var firstErr error
	if s.opts.Dir != "" {
		for _, g := range s.segs {
			if g.f != nil || len(g.mem) == 0 {
				continue
			}
			// Only the part some consumer has not acknowledged yet.
			g.path = filepath.Join(s.opts.Dir, fmt.Sprintf("%020d.seg", g.start))
			if err := os.WriteFile(g.path, g.mem, 0o600); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("save spool to %s: %w", g.path, err)
			}
		}
	}
	close(s.wake)
	s.mu.Unlock()
	if err := s.saveState(true); err != nil && firstErr == nil {
		firstErr = err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.segs {
		if g.f != nil {
			if err := g.f.Sync(); err != nil && firstErr == nil {
				firstErr = err
			}
			g.f.Close()
		}
	}
	for _, c := range s.consumers {
		c.resumeMu.Lock()
		c.closed = true
		c.resumeMu.Unlock()
	}
	for _, p := range s.posFilesLocked() {
		if err := p.sync(); err != nil && firstErr == nil {
			firstErr = err
		}
		p.close()
	}
	return firstErr
}

// Stats returns the counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending = s.tail - s.head
	st.Segments = len(s.segs)
	for _, g := range s.segs {
		if g.f != nil {
			st.OnDisk += g.size
		}
	}
	return st
}

// Bounds returns the offsets of the oldest byte kept and of the next byte
// to be appended.
func (s *Spool) Bounds() (head, tail int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, s.tail
}

// Consumer is one destination's view of the spool.
type Consumer struct {
	s        *Spool
	name     string
	read     int64 // next byte to hand out
	acked    int64 // everything before it is delivered
	gapLines int64
	gapBytes int64
	buf      []byte

	// The resume record (SaveResume, BeginHandover) has a lock of its
	// own: see record.
	resumeMu sync.Mutex
	resume   *posFile // nil until used
	closed   bool     // the spool was closed: no more records
}

// Consumer returns the consumer called name, creating it where an earlier
// run left it (its resume record, else its saved position), or at the
// oldest data kept.
func (s *Spool) Consumer(name string) *Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.consumers[name]; ok {
		return c
	}
	pos := s.head
	if p, ok := s.saved[name]; ok && p > pos {
		pos = min(p, s.tail)
	}
	c := &Consumer{s: s, name: name}
	if r, ok := c.openResume(); ok && r.offset > pos {
		pos = min(r.offset, s.tail)
		if r.offset > s.tail {
			// Offsets this spool no longer has (data held in memory died
			// with the process): new data will take them, and must not
			// be skipped after the next crash.
			if err := c.resume.write(pos, ""); err != nil {
				s.log.Warn("spool: cannot move a destination's resume record back to the end of the spool", "consumer", name, "err", err)
			}
		}
	}
	c.read, c.acked = pos, pos
	s.consumers[name] = c
	return c
}

// openResume opens c's resume record, if there is one.
func (c *Consumer) openResume() (posRecord, bool) {
	s := c.s
	if s.opts.Dir == "" {
		return posRecord{}, false
	}
	p, r, ok, err := s.openPosFile(consumerPosFile(c.name), false)
	if err != nil {
		s.log.Warn("spool: cannot read a destination's resume record; it starts at its saved position", "consumer", c.name, "err", err)
		return r, false
	}
	c.resume = p
	return r, ok
}

// SaveResume records that a later run of this spool starts this consumer
// at pos: a destination that cannot acknowledge (a `cat >>` behind ssh)
// keeps what it was handed when this process is killed (ssh delivers it),
// and must not be handed it again. pos may go back, when what was handed
// turned out not to be delivered. Like the input position, the record is
// written at once without fsync (see AppendInput). Without a directory it
// does nothing.
func (c *Consumer) SaveResume(pos int64) error {
	_, err := c.record(func(p *posFile) (*int64, error) { return nil, p.write(pos, "") })
	return err
}

// BeginHandover records that the n bytes from stream offset start are
// being handed to the destination, and returns a word in the record file,
// mapped shared, that holds from plus the count of them it has taken so
// far: the offset, in the file the bytes are moved from, of the next byte
// to move (from: Batch.Off for a batch in a segment file, 0 for a memory
// file, see pipe.SendFile and pipe.Feed). splice(2) advances it in the
// same system call that moves the bytes. A later run starts this consumer
// at start plus that count, exact even when this process is killed in
// the middle. Without a directory it returns nil.
func (c *Consumer) BeginHandover(start int64, n int, from int64) (*int64, error) {
	if from < 0 || from > start {
		return nil, fmt.Errorf("spool: handover of stream offset %d from file offset %d", start, from)
	}
	return c.record(func(p *posFile) (*int64, error) { return p.begin(start-from, from+int64(n), from) })
}

// record writes c's resume record with put, opening its file first.
func (c *Consumer) record(put func(*posFile) (*int64, error)) (*int64, error) {
	s := c.s
	if s.opts.Dir == "" {
		return nil, nil
	}
	// Not s.mu: a record must not wait for an append holding it.
	c.resumeMu.Lock()
	defer c.resumeMu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.resume == nil {
		p, _, _, err := s.openPosFile(consumerPosFile(c.name), true)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		c.resume = p
	}
	adv, err := put(c.resume)
	if err != nil {
		return nil, fmt.Errorf("spool: resume record of %s: %w", c.name, err)
	}
	return adv, nil
}

// Gap is data the spool had to drop before this consumer could read it.
type Gap struct{ Lines, Bytes int64 }

// Batch is a piece of the stream handed to a consumer.
type Batch struct {
	Gap        Gap    // dropped just before Data, if non-zero
	Data       []byte // valid until the next call to Next or an Ack past it
	Start, End int64  // stream offsets of Data
	// File holds Data at offset Off when Data comes from a segment file,
	// so that it can be moved on from the page cache without being copied
	// (splice(2)); nil for data in memory. The file is the spool's: never
	// written or closed by the consumer, and possibly closed by the spool
	// meanwhile (the bound dropped the segment), when the consumer writes
	// Data instead. The bytes of Data in it never change.
	File *os.File
	Off  int64
}

// ErrClosed is returned by Next after the spool is closed.
var ErrClosed = errors.New("spool closed")

// Next returns up to max bytes from the consumer's position, ending at a
// line boundary whenever a line ends within them. It blocks until there is
// data or ctx is done.
func (c *Consumer) Next(ctx context.Context, maxBytes int) (Batch, error) {
	s := c.s
	for {
		s.mu.Lock()
		if c.gapBytes > 0 {
			b := Batch{Gap: Gap{c.gapLines, c.gapBytes}, Start: c.read, End: c.read}
			c.gapLines, c.gapBytes = 0, 0
			s.mu.Unlock()
			return b, nil
		}
		if c.read < s.head {
			// Positions below head come from Rewind or an old state
			// file: that data was dropped or released.
			c.read = s.head
		}
		if c.read < s.tail {
			c.skipHole()
		}
		if c.read < s.tail {
			b, err := c.readLocked(maxBytes)
			s.mu.Unlock()
			return b, err
		}
		if s.closed {
			s.mu.Unlock()
			return Batch{}, ErrClosed
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		case <-wake:
		}
	}
}

// skipHole moves the read position past offsets no segment holds (see
// SkipTo).
func (c *Consumer) skipHole() {
	s := c.s
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].end() > c.read })
	if i == len(s.segs) {
		c.read = s.tail
	} else if c.read < s.segs[i].start {
		c.read = s.segs[i].start
	}
}

func (c *Consumer) readLocked(maxBytes int) (Batch, error) {
	s := c.s
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].end() > c.read })
	g := s.segs[i]
	off := c.read - g.start
	n := min(int64(maxBytes), g.size-off)
	var data []byte
	if g.f == nil {
		// Memory segments are only appended to while they hold data,
		// and reused only once every consumer acknowledged them, so
		// handing out a slice is safe.
		data = g.mem[off : off+n]
	} else {
		if cap(c.buf) < int(n) {
			c.buf = make([]byte, n)
		}
		k, err := g.f.ReadAt(c.buf[:n], off)
		if err != nil && k < int(n) {
			return Batch{}, fmt.Errorf("read spool segment %s at %d: %w", g.path, off, err)
		}
		data = c.buf[:n]
	}
	if off+n < g.size {
		if j := bytes.LastIndexByte(data, '\n'); j >= 0 {
			data = data[:j+1]
		}
	}
	b := Batch{Data: data, Start: c.read, End: c.read + int64(len(data))}
	if g.f != nil {
		b.File, b.Off = g.f, off
	}
	c.read = b.End
	return b, nil
}

// Ack records that everything before pos reached the destination; the
// spool may release it once all consumers have.
func (c *Consumer) Ack(pos int64) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos > c.acked {
		c.acked = min(pos, s.tail)
		s.release()
	}
}

// Rewind moves the read position back (or forward) to pos, after a
// reconnect, so unacknowledged data is sent again.
func (c *Consumer) Rewind(pos int64) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c.read = min(max(pos, s.head), s.tail)
}

// Position returns the consumer's read and acknowledged offsets.
func (c *Consumer) Position() (read, acked int64) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.read, c.acked
}

// Available is how many bytes are ready to be read by this consumer.
func (c *Consumer) Available() int64 {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.tail - max(c.read, c.s.head) + c.gapBytes
}

// Pending is how many bytes this consumer has not had acknowledged.
func (c *Consumer) Pending() int64 {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.tail - c.acked
}

// RestoreGap puts back a gap notice that could not be delivered.
func (c *Consumer) RestoreGap(g Gap) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.gapLines += g.Lines
	c.gapBytes += g.Bytes
}
