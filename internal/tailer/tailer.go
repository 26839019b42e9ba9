package tailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
)

// Event says what happened to the followed file before a Chunk.
type Event int

const (
	// EventNone: Data continues the stream of the previous Chunk.
	EventNone Event = iota
	// EventRotated: the previous file was read to its end and the Tailer
	// switched to the next one (after a rename rotation or a deletion).
	// Data is empty and End is offset 0 of the new file.
	EventRotated
	// EventTruncated: the file shrank below the read offset or was rewritten
	// from the start; reading restarts at offset 0. Data is empty and End is
	// offset 0 of the same file.
	EventTruncated
	// EventLate: Data was written to the previous file after the Tailer had
	// switched away from it. It is delivered out of order rather than lost.
	// End is the unchanged position in the current file, so that a consumer
	// that stores End never moves backwards into the old file.
	EventLate
)

func (e Event) String() string {
	switch e {
	case EventNone:
		return "none"
	case EventRotated:
		return "rotated"
	case EventTruncated:
		return "truncated"
	case EventLate:
		return "late"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// LostPolicy says where to start when the file of a resume Cursor no longer
// exists uncompressed next to the followed name.
type LostPolicy int

const (
	// LostFromStart reads the current file from offset 0 (the default):
	// what was between the cursor and the rotation is gone, but nothing
	// after it is skipped.
	LostFromStart LostPolicy = iota
	// LostFromEnd starts at the end of the current file.
	LostFromEnd
	// LostFail makes Open fail with an error wrapping ErrCursorLost.
	LostFail
)

var (
	// ErrClosed is returned by Next after Close.
	ErrClosed = errors.New("tailer closed")
	// ErrCursorLost reports that the file a resume Cursor points into was
	// not found (see LostFail).
	ErrCursorLost = errors.New("file of the resume position not found")
)

// Defaults for Options.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultBufSize      = 64 << 10
	DefaultRotateSettle = 200 * time.Millisecond
	DefaultRotateLinger = 5 * time.Second
)

const (
	// safetyInterval is how often the file is checked in inotify mode when
	// no event arrives, so a lost event delays us but never stalls us.
	safetyInterval = time.Second
	// maxSettleWait bounds how long a busy old file can hold up the switch
	// to a new file that already has data: a writer that never reopens must
	// not stall the new file forever. Its later writes arrive as EventLate.
	maxSettleWait = 10 * time.Second
	// fingerprintLen is how many bytes before the read offset are remembered
	// to notice a truncation that was immediately followed by a longer write.
	fingerprintLen = 128
)

// Options configure a Tailer. Only Path is required.
type Options struct {
	// Path is the name to follow.
	Path string
	// Start is the position to resume from; nil or the zero Cursor means a
	// fresh start (see FromEnd).
	Start *Cursor
	// FromEnd makes a fresh start begin at the current end of the file
	// instead of its beginning. It applies only without Start and only if
	// the file exists at Open; a file that appears later is read from 0.
	FromEnd bool
	// IfLost says what to do when Start's file cannot be found.
	IfLost LostPolicy
	// Poll forces polling instead of inotify (for tests, and for file
	// systems where inotify sees no changes, such as NFS).
	Poll bool
	// PollInterval is the stat interval when polling; default 250 ms.
	PollInterval time.Duration
	// RotateSettle is how long the old file must have been quiet, after the
	// new file got data, before the Tailer switches to the new file;
	// default 200 ms.
	RotateSettle time.Duration
	// RotateLinger is how long the old file is still watched for late
	// writes after switching; default 5 s.
	RotateLinger time.Duration
	// Logger receives notices about rotation, truncation and fallbacks;
	// nil discards them.
	Logger *slog.Logger
	// PrivateLogger receives the notices that name a file next to the
	// followed one that the Tailer refuses to read, and why (a resume
	// position in a file that is not one of its rotations, a rotation
	// owned by someone else). They tell the reader what else the
	// directory holds: serve, whose Logger may reach its client, gives a
	// log the client cannot read. nil: Logger.
	PrivateLogger *slog.Logger
	// BufSize is the read size; default 64 KiB. With Pipe it is the most
	// moved into the pipe at once.
	BufSize int
	// Pipe, when set, is the write end of a pipe that Next moves the
	// followed file's bytes into with splice(2) instead of reading them
	// (Chunk.Piped says how many; Data stays empty): serve passes them on
	// to its client without copying them (see pipe.SpliceFromFile). The
	// caller takes every byte out of the pipe before it calls Next again,
	// and the pipe must hold BufSize bytes (pipe.Grow). Late data
	// (EventLate) is still read into Data.
	Pipe *os.File

	// safety replaces safetyInterval in tests: with an hour, an append
	// seen at all in inotify mode was seen through inotify.
	safety time.Duration
}

// Tailer follows one file by name. Next must not be called concurrently
// with itself; Close may be called from any goroutine.
type Tailer struct {
	path, dir, base string
	log, private    *slog.Logger
	pollInterval    time.Duration
	safety          time.Duration
	settle, linger  time.Duration

	buf   []byte
	pipe  *os.File // Options.Pipe
	max   int      // the most moved into pipe at once
	fp    []byte   // the last bytes before cur.off, as we read them
	fpTmp []byte

	watcher *fsnotify.Watcher
	polling atomic.Bool
	wake    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex // guards everything below; held by Next except while it waits
	closed   bool
	cur      *file   // the file being read; nil until the name first exists
	next     []*file // files to read after cur, oldest first
	prev     *file   // file we switched away from, watched for late writes
	prevEnd  time.Time
	finished []fsutil.ID // recently finished files, never to be read again
	pending  *Chunk      // to return before anything else
	atEnd    bool        // cur was read to its end: check before reading again
	curAway  bool        // cur is no longer at the name (renamed or deleted)
	growAt   time.Time
	readyAt  time.Time
	settleAt time.Time
	lookedAt time.Time
	badID    fsutil.ID // last non-regular file warned about
	timer    *time.Timer
}

// Open starts following opts.Path. It does not wait for the file: a name
// that does not exist yet is waited for by Next.
func Open(opts Options) (*Tailer, error) {
	if opts.Path == "" {
		return nil, errors.New("tailer: no path given")
	}
	if opts.PollInterval < 0 || opts.RotateSettle < 0 || opts.RotateLinger < 0 || opts.BufSize < 0 {
		return nil, fmt.Errorf("tail %s: negative interval or buffer size in options", opts.Path)
	}
	if opts.Start != nil && opts.Start.Offset < 0 {
		return nil, fmt.Errorf("tail %s: negative resume offset %d", opts.Path, opts.Start.Offset)
	}
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", opts.Path, err)
	}
	t := &Tailer{
		path:         path,
		dir:          filepath.Dir(path),
		base:         filepath.Base(path),
		log:          opts.Logger,
		pollInterval: orDefault(opts.PollInterval, DefaultPollInterval),
		safety:       orDefault(opts.safety, safetyInterval),
		settle:       orDefault(opts.RotateSettle, DefaultRotateSettle),
		linger:       orDefault(opts.RotateLinger, DefaultRotateLinger),
		buf:          make([]byte, orDefault(opts.BufSize, DefaultBufSize)),
		pipe:         opts.Pipe,
		max:          orDefault(opts.BufSize, DefaultBufSize),
		fp:           make([]byte, 0, 2*fingerprintLen),
		fpTmp:        make([]byte, fingerprintLen),
		atEnd:        true, // check the starting position first
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		timer:        time.NewTimer(time.Hour),
	}
	t.timer.Stop()
	if t.pipe != nil {
		// Only late data is read: the usual buffer will do.
		t.buf = make([]byte, min(t.max, DefaultBufSize))
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.log = t.log.With("path", path)
	t.private = t.log
	if opts.PrivateLogger != nil {
		t.private = opts.PrivateLogger.With("path", path)
	}

	// Watch before looking at the file, so that no change between the
	// first look and the watch goes unnoticed.
	if opts.Poll {
		t.polling.Store(true)
	} else {
		t.startWatching()
	}
	if err := t.start(opts); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// start positions the Tailer at Open.
func (t *Tailer) start(opts Options) error {
	if opts.Start != nil && !opts.Start.IsZero() {
		return t.resume(*opts.Start, opts.IfLost)
	}
	f, fi, err := openFile(t.path)
	if err != nil {
		return fmt.Errorf("tail %s: %w", t.path, err)
	}
	if f == nil {
		t.log.Info("file does not exist yet; waiting for it")
		return nil
	}
	t.cur = f
	if opts.FromEnd {
		f.off = fi.Size()
		t.loadFingerprint()
	}
	t.log.Debug("following file", "cursor", f.cursor())
	return nil
}

// resume positions the Tailer at c: in the file that has c's device and
// inode, be it the followed name itself or a rotation of it that the
// Tailer may read (see rotation.go).
func (t *Tailer) resume(c Cursor, ifLost LostPolicy) error {
	want := fsutil.ID{Dev: c.Dev, Ino: c.Ino}
	cf, cfi, err := openFile(t.path)
	if err != nil {
		return fmt.Errorf("tail %s: %w", t.path, err)
	}
	if cf != nil && cf.id == want {
		t.cur = cf
		t.seekResume(cf, cfi.Size(), c.Offset)
		return nil
	}

	sibs, compressed, err := t.scanSiblings()
	if err != nil {
		closeFile(cf)
		return err
	}
	found, foundFI, err := t.openResumed(want, sibs)
	if err != nil {
		closeFile(cf)
		return fmt.Errorf("resume %s at %s: %w", t.path, c, err)
	}
	if found == nil {
		return t.lost(c, ifLost, cf, cfi, compressed)
	}

	t.cur = found
	t.seekResume(found, foundFI.Size(), c.Offset)
	// Generations rotated after the cursor's file and before the current
	// one: name.2 holds the cursor, name.1 is newer, name is newest.
	known := func(id fsutil.ID) bool { return id == want || (cf != nil && id == cf.id) }
	for _, s := range missedGenerations(sibs, foundFI.ModTime(), known) {
		f, _, err := t.openSibling(s)
		if err != nil {
			t.log.Warn("cannot open rotated file written after the resume position; skipping it", "file", s.name, "err", err)
		}
		if f == nil {
			continue // refused (see the private log), or renamed again
		}
		t.next = append(t.next, f)
	}
	if cf != nil {
		t.next = append(t.next, cf)
	}
	names := make([]string, 0, len(t.next))
	for _, f := range t.next {
		names = append(names, f.name)
	}
	t.log.Info("resuming in a rotated file", "file", found.name, "cursor", c, "then", names)
	return nil
}

// lost starts as ifLost says when the file of the resume position c is not
// found (or may not be read); cf is the file at the name, if any.
func (t *Tailer) lost(c Cursor, ifLost LostPolicy, cf *file, cfi fs.FileInfo, compressed []string) error {
	if ifLost == LostFail {
		closeFile(cf)
		return fmt.Errorf("resume %s at %s: %w", t.path, c, ErrCursorLost)
	}
	where := "beginning"
	if ifLost == LostFromEnd {
		where = "end"
	}
	t.log.Warn("resume position not found: its file was rotated away, deleted or compressed; the data after the cursor that is not in the current file is skipped",
		"cursor", c, "start_at", where, "compressed_rotated_files", compressed)
	t.cur = cf
	if cf != nil && ifLost == LostFromEnd {
		cf.off = cfi.Size()
		t.loadFingerprint()
	}
	return nil
}

// seekResume sets f's offset for a resume at off in a file of the given size.
func (t *Tailer) seekResume(f *file, size, off int64) {
	if size < off {
		t.log.Info("file is shorter than the resume offset: it was truncated; reading it from the start",
			"file", f.name, "offset", off, "size", size)
		f.off = 0
		t.pending = &Chunk{End: f.cursor(), Event: EventTruncated}
		return
	}
	f.off = off
	t.loadFingerprint()
}

// Chunk is a range of bytes read from one file.
type Chunk struct {
	// Data is valid until the next call to Next.
	Data []byte
	// Piped is how many bytes Next moved into Options.Pipe instead of
	// reading them into Data (0 without a pipe).
	Piped int
	// End is the position right after Data in the file it came from
	// (except for EventLate, see there).
	End Cursor
	// Event says what happened before Data.
	Event Event
}

// Next returns the next bytes of the followed file, or an event. It blocks
// until there is something to report, ctx is done (ctx.Err() is returned) or
// the Tailer is closed (ErrClosed).
func (t *Tailer) Next(ctx context.Context) (Chunk, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.closed {
			return Chunk{}, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return Chunk{}, err
		}
		if p := t.pending; p != nil {
			t.pending = nil
			return *p, nil
		}
		if c := t.cur; c != nil && !t.atEnd {
			// As long as data keeps coming, a read is all it takes. Once
			// we have reached the end, check runs before the next read,
			// so that new data is read only after the file has been
			// checked for truncation and replacement.
			ch, n, err := t.read(c)
			if err == io.EOF {
				t.atEnd = true
			}
			if n > 0 {
				now := time.Now()
				t.growAt = now
				if now.Sub(t.lookedAt) >= t.pollInterval {
					// While we are behind, still notice a new file at the
					// name now and then, so that it is held open before it
					// can be rotated away again.
					if err := t.lookForSuccessor(now); err != nil {
						t.log.Warn("cannot check for a new file", "err", err)
					}
				}
				return ch, nil
			}
			if err != nil && err != io.EOF {
				return Chunk{}, fmt.Errorf("read %s: %w", c.name, err)
			}
		}
		ch, again, err := t.check(time.Now())
		if err != nil {
			return Chunk{}, err
		}
		if ch != nil {
			return *ch, nil
		}
		if again {
			t.atEnd = false
			continue
		}
		if err := t.wait(ctx); err != nil {
			return Chunk{}, err
		}
	}
}

// read reads the next bytes of c, or moves them into the caller's pipe,
// and remembers the last of them. It returns io.EOF when c ends, with or
// without bytes.
func (t *Tailer) read(c *file) (Chunk, int, error) {
	if t.pipe == nil {
		n, err := c.f.ReadAt(t.buf, c.off)
		if n > 0 {
			c.off += int64(n)
			t.remember(t.buf[:n])
		}
		return Chunk{Data: t.buf[:n], End: c.cursor()}, n, err
	}
	n, err := pipe.SpliceFromFile(t.pipe, c.f, &c.off, t.max)
	if n > 0 && n < t.max && err == nil {
		// As ReadAt says io.EOF with the last bytes: the end must be
		// known now, so that the file is checked for truncation before
		// anything more is read.
		if fi, serr := c.f.Stat(); serr == nil && fi.Size() <= c.off {
			err = io.EOF
		}
	}
	if n > 0 {
		// The fingerprint is read back from the file: a truncation
		// followed at once by a longer write between the splice and
		// this read goes unnoticed, as between two reads.
		k := min(n, fingerprintLen)
		if m, _ := c.f.ReadAt(t.fpTmp[:k], c.off-int64(k)); m == k {
			t.remember(t.fpTmp[:k])
		} else {
			t.resetFingerprint()
		}
	}
	return Chunk{Piped: n, End: c.cursor()}, n, err
}

// wait blocks until an event, the next check time, ctx or Close.
// It releases t.mu meanwhile.
func (t *Tailer) wait(ctx context.Context) error {
	now := time.Now()
	d := t.safety
	if t.polling.Load() || t.curAway || t.prev != nil || len(t.next) > 0 {
		// While a rotation is under way, also poll: writes to a deleted
		// file, or to one moved out of the watched directory, raise no
		// event there.
		d = t.pollInterval
	}
	if !t.settleAt.IsZero() {
		d = min(d, t.settleAt.Sub(now))
	}
	if t.prev != nil {
		d = min(d, t.prevEnd.Sub(now))
	}
	d = max(d, time.Millisecond)

	t.timer.Reset(d)
	t.mu.Unlock()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.done:
		err = ErrClosed
	case <-t.wake:
	case <-t.timer.C:
	}
	t.timer.Stop()
	t.mu.Lock()
	return err
}

// check runs when cur has been read to its end (or there is no cur yet),
// before anything more is read from it. It returns a Chunk to report, or
// again=true when there is more to read, or neither when Next should wait.
func (t *Tailer) check(now time.Time) (ch *Chunk, again bool, err error) {
	t.settleAt = time.Time{}
	c := t.cur
	if c == nil {
		f, err := t.openName()
		if f == nil || err != nil {
			return nil, false, err
		}
		t.cur = f
		t.resetFingerprint()
		t.log.Info("file appeared; reading it from the start", "cursor", f.cursor())
		return nil, true, nil
	}

	fi, err := c.f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("stat %s: %w", c.name, err)
	}
	size := fi.Size()
	if size < c.off {
		return t.truncated(c, size, "size fell below the read offset"), false, nil
	}
	changed, err := t.rewritten(c)
	if err != nil {
		return nil, false, err
	}
	if changed {
		return t.truncated(c, size, "the bytes before the read offset changed: truncated and rewritten"), false, nil
	}
	if err := t.lookForSuccessor(now); err != nil {
		return nil, false, err
	}
	if ch := t.checkLate(now); ch != nil {
		return ch, false, nil
	}
	if size > c.off {
		return nil, true, nil
	}
	ch, err = t.maybeSwitch(now)
	return ch, false, err
}

// openName opens the followed name if it holds a regular file.
func (t *Tailer) openName() (*file, error) {
	f, fi, err := openFile(t.path)
	if errors.Is(err, errNotRegular) {
		if id, _ := fsutil.IDOf(fi); id != t.badID {
			t.badID = id
			t.log.Warn("name is not a regular file; ignoring it until it is replaced", "err", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", t.path, err)
	}
	return f, nil
}

// truncated restarts c at offset 0.
func (t *Tailer) truncated(c *file, size int64, why string) *Chunk {
	t.log.Info("file truncated; reading it again from the start", "file", c.name, "offset", c.off, "size", size, "reason", why)
	c.off = 0
	t.resetFingerprint()
	return &Chunk{End: c.cursor(), Event: EventTruncated}
}

// lookForSuccessor opens the file at the followed name if it is one we do not
// hold yet, and queues it to be read after cur. Holding it open at once means
// that a later rotation or deletion cannot take its data from us.
func (t *Tailer) lookForSuccessor(now time.Time) error {
	t.lookedAt = now
	fi, err := os.Stat(t.path)
	if err != nil {
		t.curAway = true
		if !errors.Is(err, fs.ErrNotExist) {
			t.log.Debug("cannot stat name", "err", err)
		}
		return nil
	}
	id, ok := fsutil.IDOf(fi)
	t.curAway = id != t.cur.id
	if !ok || t.holds(id) {
		return nil
	}
	f, err := t.openName()
	if f == nil || err != nil {
		return err
	}
	if t.holds(f.id) { // replaced once more between stat and open
		closeFile(f)
		return nil
	}
	t.next = append(t.next, f)
	t.log.Info("new file at the name; it will be read once the current one is finished",
		"current", t.cur.cursor(), "new", f.cursor())
	return nil
}

// holds reports whether we hold the file id open: we read it, will read it
// or watch it for late writes. While we hold a file open its inode number
// cannot be reused, so the comparison is safe.
func (t *Tailer) holds(id fsutil.ID) bool {
	if (t.cur != nil && t.cur.id == id) || (t.prev != nil && t.prev.id == id) {
		return true
	}
	for _, f := range t.next {
		if f.id == id {
			return true
		}
	}
	return false
}

// known reports whether we hold id or have recently finished it. Only the
// search for missed generations uses it: the inode number of a finished and
// deleted file may be reused by a new file, which must not be ignored when
// it appears at the name.
func (t *Tailer) known(id fsutil.ID) bool {
	return t.holds(id) || slices.Contains(t.finished, id)
}

// maybeSwitch moves from cur, which has been read to its end, to the next
// file, if that is safe.
//
// The end of a rotated file cannot be known: any process that still has it
// open may write to it. The rule used is:
//
//  1. The next file must have data (or itself have been replaced already).
//     A writer that reopens the name after rotation writes there; while the
//     new file is empty, its writers evidently still write to the old file
//     (logrotate creates the new file before it signals the daemon to
//     reopen), and staying costs nothing because there is nothing to read in
//     the new one.
//  2. The old file must then have been quiet for the settle time, measured
//     from the later of our last read of data from it and the moment rule 1
//     became true, so that other writers that reopen later get a chance.
//     A writer that never stops writing to the old file holds the switch up
//     for at most maxSettleWait.
//  3. After switching, the old file stays open until it has been quiet for
//     the linger time; data written to it late is delivered as EventLate
//     (checkLate). Writes after that are lost; a writer that pauses for
//     longer than the linger time and then writes to a file it should have
//     reopened long ago is beyond what we can follow.
func (t *Tailer) maybeSwitch(now time.Time) (*Chunk, error) {
	if len(t.next) == 0 {
		return nil, nil
	}
	if len(t.next) == 1 {
		fi, err := t.next[0].f.Stat()
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", t.next[0].name, err)
		}
		if fi.Size() == 0 {
			return nil, nil
		}
	}
	if t.readyAt.IsZero() {
		t.readyAt = now
	}
	quiet := t.readyAt
	if t.growAt.After(quiet) {
		quiet = t.growAt
	}
	if at := quiet.Add(t.settle); now.Before(at) {
		if limit := t.readyAt.Add(maxSettleWait); now.Before(limit) {
			t.settleAt = at
			if limit.Before(at) {
				t.settleAt = limit
			}
			return nil, nil
		}
		t.log.Warn("the old file is still being written although the new one has data; switching anyway, later writes to the old file are delivered late",
			"opened_as", t.cur.name, "waited", now.Sub(t.readyAt).Round(time.Millisecond))
	}

	t.addMissedGenerations()

	old, nx := t.cur, t.next[0]
	t.next = slices.Delete(t.next, 0, 1)
	if t.prev != nil {
		// checkLate has just found nothing new in it.
		t.finish(t.prev)
		t.prev = nil
	}
	if t.linger > 0 {
		t.prev, t.prevEnd = old, now.Add(t.linger)
	} else {
		t.finish(old)
	}
	t.cur = nx
	t.curAway = false // until the next look says otherwise
	t.resetFingerprint()
	t.growAt, t.readyAt = time.Time{}, time.Time{}
	t.log.Info("finished file; switching to the next one", "opened_as", old.name, "end", old.cursor(), "next", nx.name, "start", nx.cursor())
	return &Chunk{End: nx.cursor(), Event: EventRotated}, nil
}

// addMissedGenerations queues, before the files already queued, rotated
// siblings that were written after cur and that we never saw at the name: a
// generation that was created and rotated away again while we were still
// reading an older one.
func (t *Tailer) addMissedGenerations() {
	fi, err := t.cur.f.Stat()
	if err != nil {
		return
	}
	sibs, _, err := t.scanSiblings()
	if err != nil {
		t.log.Warn("cannot look for missed rotated files", "err", err)
		return
	}
	var add []*file
	for _, s := range missedGenerations(sibs, fi.ModTime(), t.known) {
		f, _, err := t.openSibling(s)
		if err != nil || f == nil {
			continue
		}
		t.log.Warn("found a rotated file we never saw at the name; reading it before the newer ones", "file", s.name, "cursor", f.cursor())
		add = append(add, f)
	}
	t.next = append(add, t.next...)
}

// checkLate delivers data written to the previous file after we switched
// away from it, and closes that file when its linger time is over.
func (t *Tailer) checkLate(now time.Time) *Chunk {
	p := t.prev
	if p == nil {
		return nil
	}
	if fi, err := p.f.Stat(); err == nil && fi.Size() > p.off {
		n, _ := p.f.ReadAt(t.buf, p.off)
		if n > 0 {
			p.off += int64(n)
			t.prevEnd = now.Add(t.linger) // someone still writes there
			t.log.Warn("data was written to the previous file after we switched away; delivering it late, out of order",
				"opened_as", p.name, "bytes", n, "end", p.cursor())
			return &Chunk{Data: t.buf[:n], End: t.cur.cursor(), Event: EventLate}
		}
	}
	if !now.Before(t.prevEnd) {
		t.finish(p)
		t.prev = nil
	}
	return nil
}

// finish closes a file we are done with and remembers it, so that it is not
// mistaken for a missed generation later.
func (t *Tailer) finish(f *file) {
	closeFile(f)
	const keep = 16
	if len(t.finished) >= keep {
		t.finished = slices.Delete(t.finished, 0, len(t.finished)-keep+1)
	}
	t.finished = append(t.finished, f.id)
}

func closeFile(f *file) {
	if f != nil {
		f.f.Close()
	}
}

// The fingerprint is the last fingerprintLen bytes before cur.off as we read
// them. When the size is not below our offset, comparing it with the file's
// current bytes is how a truncation followed at once by a longer write is
// noticed: log lines carry timestamps and sequence data, so rewritten content
// practically never repeats the same bytes at the same offset.

func (t *Tailer) resetFingerprint() { t.fp = t.fp[:0] }

func (t *Tailer) remember(data []byte) {
	if len(data) >= fingerprintLen {
		t.fp = append(t.fp[:0], data[len(data)-fingerprintLen:]...)
		return
	}
	t.fp = append(t.fp, data...)
	if extra := len(t.fp) - fingerprintLen; extra > 0 {
		t.fp = append(t.fp[:0], t.fp[extra:]...)
	}
}

// loadFingerprint takes the fingerprint from the file when we start at an
// offset we did not read up to ourselves.
func (t *Tailer) loadFingerprint() {
	t.resetFingerprint()
	c := t.cur
	n := int(min(c.off, fingerprintLen))
	if n == 0 {
		return
	}
	if m, _ := c.f.ReadAt(t.fpTmp[:n], c.off-int64(n)); m == n {
		t.fp = append(t.fp, t.fpTmp[:n]...)
	}
}

// rewritten reports whether the bytes before c.off differ from what we read.
func (t *Tailer) rewritten(c *file) (bool, error) {
	n := len(t.fp)
	if n == 0 {
		return false, nil
	}
	m, err := c.f.ReadAt(t.fpTmp[:n], c.off-int64(n))
	if m < n {
		if err != nil && err != io.EOF {
			return false, fmt.Errorf("read %s: %w", c.name, err)
		}
		return true, nil // shrank since our stat
	}
	return !bytes.Equal(t.fpTmp[:n], t.fp), nil
}

// Close stops the Tailer and closes its files. A Next blocked in another
// goroutine returns ErrClosed.
func (t *Tailer) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		if t.watcher != nil {
			if err := t.watcher.Close(); err != nil {
				t.closeErr = fmt.Errorf("close watcher of %s: %w", t.dir, err)
			}
		}
		t.wg.Wait()
		t.mu.Lock()
		defer t.mu.Unlock()
		t.closed = true
		closeFile(t.cur)
		closeFile(t.prev)
		for _, f := range t.next {
			closeFile(f)
		}
		t.cur, t.prev, t.next = nil, nil, nil
	})
	return t.closeErr
}
