package push

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// The spools beside push's own. Each push keeps its lines in a spool
// directory of its own (by default one per set of DESTs under the state
// directory, the spool root). When the DESTs change (a typo fixed, a
// destination dropped), the old directory keeps what was not delivered,
// and nothing else would ever send it: push warns at start about such
// spools, and `sshlogfwd spool` lists, delivers and discards them.

// SpoolInfo is a spool directory of push as List finds it.
type SpoolInfo struct {
	Dir    string
	Record Record
	// Running is set while a process holds the spool's lock; Holder is
	// what it wrote there ("pid 42 sshlogfwd push").
	Running bool
	Holder  string
	// Held is what the spool holds for each of Record.Dests, as last
	// saved (a running push may have delivered some since).
	Held map[string]spool.Held
	// Err is why the directory could not be read (e.g. another user's).
	Err error
	// Unrecorded is a spool of an older sshlogfwd, which recorded nothing
	// (no push.json): no destination, mode or ssh settings. Its Held is
	// by the consumers its state file remembers (the DESTs that push sent
	// to), or, when it remembers none, under "" from its oldest line.
	// Only `spool deliver --to DEST` delivers it (see Retarget).
	Unrecorded bool
}

// Holding lists the names Held holds lines for, sorted.
func (s SpoolInfo) Holding() []string {
	var names []string
	for name, h := range s.Held {
		if h.Bytes > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// HeldBytes is what the spool holds for its destinations together.
func (s SpoolInfo) HeldBytes() int64 {
	var n int64
	for _, h := range s.Held {
		n += h.Bytes
	}
	return n
}

// List returns the spool directories of push in root, by name: the
// directories holding a record file, and the spools of an older
// sshlogfwd, which recorded nothing (see SpoolInfo.Unrecorded).
func List(root string) ([]SpoolInfo, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("spool root: %w", err)
	}
	var out []SpoolInfo
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if _, err := os.Lstat(filepath.Join(dir, recordFile)); err != nil && !spool.IsSpool(dir) {
			continue
		}
		out = append(out, Describe(dir))
	}
	return out, nil
}

// Describe reads the spool directory dir without touching it.
func Describe(dir string) SpoolInfo {
	s := SpoolInfo{Dir: dir, Held: map[string]spool.Held{}}
	lock := filepath.Join(dir, "lock")
	held, err := fsutil.Locked(lock)
	if err != nil {
		s.Err = err
		return s
	}
	if held {
		s.Running, s.Holder = true, fsutil.Holder(lock)
	}
	if s.Record, s.Err = ReadRecord(dir); s.Err != nil {
		if errors.Is(s.Err, fs.ErrNotExist) && spool.IsSpool(dir) {
			s.Unrecorded = true
			s.Held, s.Err = unrecordedHeld(dir)
		}
		return s
	}
	c, err := spool.Inspect(dir, s.Record.Dests...)
	if errors.Is(err, fs.ErrNotExist) {
		return s // recorded, nothing spooled yet
	}
	if err != nil {
		s.Err = err
		return s
	}
	for _, d := range s.Record.Dests {
		if h, ok := c.Held[d]; ok {
			s.Held[d] = h
		}
	}
	return s
}

// unrecordedHeld is what the spool dir, which names no destination of
// its own, holds for each consumer its state file remembers, or under ""
// when it remembers none (a compatible push killed before it saved them).
func unrecordedHeld(dir string) (map[string]spool.Held, error) {
	c, err := spool.Inspect(dir)
	if err == nil && len(c.Held) == 0 && c.Tail > c.Head {
		c, err = spool.Inspect(dir, "")
	}
	if err != nil {
		return map[string]spool.Held{}, err
	}
	return c.Held, nil
}

// warnStranded warns about every spool beside this run's own that no
// process runs on and that holds lines: nothing would ever deliver them.
// It names the destination, what is held and the commands that deliver
// or discard it.
func (e *engine) warnStranded() {
	own, err := filepath.Abs(e.opts.SpoolDir)
	if err != nil {
		return
	}
	spools, err := List(filepath.Dir(own))
	if err != nil {
		e.log.Debug("cannot look for spools beside this one", "err", err)
		return
	}
	given := map[string]bool{}
	for _, d := range e.dests {
		given[d.String()] = true
	}
	for _, s := range spools {
		if s.Dir == own || s.Running || s.Err != nil {
			continue
		}
		if s.Unrecorded {
			e.warnUnrecorded(s)
			continue
		}
		for _, dest := range s.Record.Dests {
			h := s.Held[dest]
			if h.Bytes == 0 {
				continue
			}
			msg := "lines for a destination this push does not deliver to wait in a spool no push runs on: deliver them (to that destination, or --to another) or discard them"
			if given[dest] {
				msg = "lines for this destination wait in another spool (of an earlier push with other destinations), which this push does not send: deliver or discard them"
			}
			args := []any{"dest", dest, "lines", h.Lines, "bytes", h.Bytes, "spool", s.Dir, "mode", s.Record.mode(),
				"deliver", DeliverCommand(s.Dir, ""), "discard", DiscardCommand(s.Dir)}
			if !given[dest] {
				args = append(args, "deliver_elsewhere", DeliverCommand(s.Dir, "DEST"))
			}
			if u := runAs(); u != "" {
				args = append(args, "as_user", u)
			}
			e.log.Warn(msg, args...)
		}
	}
}

// warnUnrecorded warns about a stranded spool of an older sshlogfwd, one
// warning for each name it holds lines for: with no DEST recorded, only
// `spool deliver --to DEST` delivers them.
func (e *engine) warnUnrecorded(s SpoolInfo) {
	for _, name := range s.Holding() {
		h := s.Held[name]
		args := []any{"lines", h.Lines, "bytes", h.Bytes, "spool", s.Dir}
		if name != "" {
			args = append(args, "held_for", name)
		}
		args = append(args, "deliver", DeliverCommand(s.Dir, "DEST"), "discard", DiscardCommand(s.Dir))
		if u := runAs(); u != "" {
			args = append(args, "as_user", u)
		}
		e.log.Warn("lines wait in a spool of an older sshlogfwd, which recorded no destination (no "+recordFile+"), and no push runs on it: "+
			"deliver them with --to DEST (compatible mode, ssh's defaults) or discard them", args...)
	}
}

// mode names the record's delivery mode.
func (r Record) mode() string {
	if r.Reliable {
		return "reliable"
	}
	return "compatible"
}

// Mode is "reliable" or "compatible".
func (r Record) Mode() string { return r.mode() }

// DeliverCommand is the command that delivers what the spool dir holds,
// to its recorded destinations or, with to, to another one.
func DeliverCommand(dir, to string) string {
	w := []string{"sshlogfwd", "spool", "deliver"}
	if to != "" {
		w = append(w, "--to", to)
	}
	return forcedcmd.ShellJoin(append(w, dir)...)
}

// DiscardCommand is the command that removes the spool dir.
func DiscardCommand(dir string) string {
	return forcedcmd.ShellJoin("sshlogfwd", "spool", "discard", dir)
}

// runAs is the user the spool commands must run as, when it is not root:
// a spool is its owner's alone.
func runAs() string {
	if os.Geteuid() == 0 {
		return ""
	}
	if u, err := user.LookupId(fmt.Sprint(os.Geteuid())); err == nil {
		return u.Username
	}
	return fmt.Sprint(os.Geteuid())
}

// ErrNotSpool is a directory that is no spool of push.
var ErrNotSpool = errors.New("not a spool directory of sshlogfwd push")

// lockExisting takes the lock of the spool directory dir, which must be
// one (see lockSpool), for what.
func lockExisting(dir, what string) (*fsutil.Lock, error) {
	if _, err := os.Lstat(filepath.Join(dir, recordFile)); err != nil && !spool.IsSpool(dir) {
		return nil, fmt.Errorf("%s: %w (neither %s nor a spool state in it)", dir, ErrNotSpool, recordFile)
	}
	lock, err := fsutil.TryLockFile(filepath.Join(dir, "lock"), fmt.Sprintf("pid %d %s", os.Getpid(), what))
	if err != nil {
		return nil, fmt.Errorf("lock spool %s: %w", dir, err)
	}
	return lock, nil
}

// Discarded is what Discard removed.
type Discarded struct {
	Record Record
	// Held is what the spool held, by destination.
	Held map[string]spool.Held
	// Files are the files removed; Left, those that were not the
	// spool's and stayed, with the directory.
	Files, Left []string
	DirRemoved  bool
}

// Discard removes the spool directory dir and the lines in it. It takes
// the spool's lock first, so it refuses (a *fsutil.HeldError naming the
// holder) while a push runs on it, and no push starts on it meanwhile.
// Only the spool's own files are removed; the directory goes only once
// it is empty.
func Discard(dir string) (Discarded, error) {
	var d Discarded
	lock, err := lockExisting(dir, "sshlogfwd spool discard")
	if err != nil {
		return d, err
	}
	defer lock.Close()
	info := Describe(dir)
	d.Record, d.Held = info.Record, info.Held
	if info.Err != nil && !errors.Is(info.Err, fs.ErrNotExist) {
		return d, info.Err
	}
	if spool.IsSpool(dir) {
		if d.Files, err = spool.Remove(dir); err != nil {
			return d, err
		}
	}
	for _, name := range []string{recordFile, "lock"} {
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			d.Files = append(d.Files, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return d, err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return d, err
	}
	for _, e := range ents {
		d.Left = append(d.Left, e.Name())
	}
	if len(d.Left) == 0 {
		if err := os.Remove(dir); err != nil {
			return d, err
		}
		d.DirRemoved = true
	}
	return d, nil
}

// Retarget hands the lines the spool dir holds for its destination to
// the destination to instead (a DEST with a typo, whose lines belong to
// the corrected one): the next `spool deliver` sends them there, in the
// recorded mode. Exactly one recorded destination must hold lines. Like
// Discard it refuses while a push runs on the spool.
func Retarget(dir, to string) (from string, err error) {
	lock, err := lockExisting(dir, "sshlogfwd spool deliver --to")
	if err != nil {
		return "", err
	}
	defer lock.Close()
	info := Describe(dir)
	if info.Err != nil {
		return "", info.Err
	}
	if info.Unrecorded {
		return retargetUnrecorded(dir, to, info)
	}
	var holding []string
	for _, d := range info.Record.Dests {
		if info.Held[d].Bytes > 0 {
			holding = append(holding, d)
		}
	}
	switch {
	case len(holding) == 0:
		return "", fmt.Errorf("%s holds no lines to deliver", dir)
	case len(holding) > 1:
		return "", fmt.Errorf("%s holds lines for several destinations (%s): --to cannot tell whose lines to send; deliver them to their own destinations without --to", dir, strings.Join(holding, ", "))
	case holding[0] == to:
		return to, nil
	case slices.Contains(info.Record.Dests, to):
		return "", fmt.Errorf("%s already delivers to %s; the lines held for %s cannot be merged into that destination's", dir, to, holding[0])
	}
	from = holding[0]
	if err := spool.RenameConsumer(dir, from, to); err != nil {
		return "", err
	}
	r := info.Record
	r.Dests = slices.Clone(r.Dests)
	r.Dests[slices.Index(r.Dests, from)] = to
	return from, writeRecord(dir, r)
}

// retargetUnrecorded names to as the destination of the spool of an older
// sshlogfwd in dir, which recorded none: the lines it holds (for the one
// consumer its state file remembers, if any) go there, in compatible mode
// and with ssh's defaults, the settings a record without them stands for.
// The record written makes it a spool like the others.
func retargetUnrecorded(dir, to string, info SpoolInfo) (from string, err error) {
	holding := info.Holding()
	switch {
	case len(holding) == 0:
		return "", fmt.Errorf("%s holds no lines to deliver", dir)
	case len(holding) > 1:
		return "", fmt.Errorf("%s holds lines for several destinations (%s) and records none (no %s): --to cannot tell whose lines to send", dir, strings.Join(holding, ", "), recordFile)
	}
	from = holding[0]
	if from != "" && from != to {
		if err := spool.RenameConsumer(dir, from, to); err != nil {
			return "", err
		}
	}
	return from, writeRecord(dir, Record{Dests: []string{to}})
}

// Deliver delivers what the spool opts.SpoolDir holds to opts.Dests and
// returns once all of it is delivered; it reads no input and writes no
// marks. When ctx ends first, the rest stays in the spool and the error
// says how much. The spool's record is left as it is.
func Deliver(ctx context.Context, opts Options) error {
	if !spool.IsSpool(opts.SpoolDir) {
		return fmt.Errorf("%s: %w (no spool state in it)", opts.SpoolDir, ErrNotSpool)
	}
	opts.Input, opts.File, opts.Journal, opts.Mark, opts.Reach = strings.NewReader(""), "", nil, 0, nil
	log := opts.Logger
	var names []string
	for _, d := range opts.Dests {
		names = append(names, d.String())
	}
	before, err := spool.Inspect(opts.SpoolDir, names...)
	if err != nil {
		return err
	}
	var total int64
	for _, d := range opts.Dests {
		h := before.Held[d.String()]
		total += h.Bytes
		if log != nil && h.Bytes > 0 {
			log.Info("delivering what the spool holds", "dest", d.String(), "lines", h.Lines, "bytes", h.Bytes, "spool", opts.SpoolDir)
		}
	}
	if total == 0 {
		if log != nil {
			log.Info("the spool holds nothing for its destinations", "spool", opts.SpoolDir)
		}
		return nil
	}
	if err := Run(ctx, opts); err != nil {
		return err
	}
	after, err := spool.Inspect(opts.SpoolDir, names...)
	if err != nil {
		return err
	}
	var left []string
	for _, d := range opts.Dests {
		if h := after.Held[d.String()]; h.Bytes > 0 {
			left = append(left, fmt.Sprintf("%d lines (%d bytes) for %s", h.Lines, h.Bytes, d.String()))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("not delivered: %s; they stay in %s", strings.Join(left, ", "), opts.SpoolDir)
	}
	if log != nil {
		log.Info("delivered everything the spool held; it can be removed", "spool", opts.SpoolDir, "discard", DiscardCommand(opts.SpoolDir))
	}
	return nil
}
