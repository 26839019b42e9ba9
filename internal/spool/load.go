package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// Files of the spool directory besides the segments.
const (
	stateFile = "state.json"
	// inputPosFile holds the input position record (see AppendInput).
	inputPosFile = "input.pos"
)

// consumerPosFile names the file of a consumer's resume record (see
// Consumer.SaveResume): consumer names are destinations, which may hold
// any character.
func consumerPosFile(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "consumer-" + hex.EncodeToString(sum[:8]) + ".pos"
}

type state struct {
	Tail      int64            `json:"tail"`
	Consumers map[string]int64 `json:"consumers"`
	// InputMark is the input position (e.g. a file cursor) matching
	// stream offset InputTail, as of the last Sync: everything before it
	// is in the spool or delivered, and on disk. The input position file
	// is newer; this one is what is left when a crash of the machine lost
	// segment data that was not synced yet.
	InputMark string `json:"input_mark,omitempty"`
	InputTail int64  `json:"input_tail,omitempty"`
	StreamID  string `json:"stream_id,omitempty"`
}

// load takes up what an earlier run left in the directory. Only regular
// files of ours count (fsutil.ReadOwned, OpenOwned): a symlink or a
// stranger's file planted there is neither read into the stream (it would
// be sent to the log host) nor written through.
//
// With an input position, the segments are cut back to it: bytes beyond
// it were written by a run that died before it could record their
// position, so no consumer has seen them, and the input reads them again.
func (s *Spool) load() error {
	st, err := s.loadState()
	if err != nil {
		return err
	}
	s.removeTemps()
	rec, recOK, err := s.openInputPos()
	if err != nil {
		return err
	}
	files, err := s.segmentFiles()
	if err != nil {
		return err
	}
	segs, err := s.openSegments(files)
	if err != nil {
		return err
	}
	s.streamID = st.StreamID
	for name, pos := range st.Consumers {
		s.saved[name] = pos
	}
	if recOK && rec.mark == movedMark {
		err = s.takeMoved(segs, rec, st)
	} else if cut, mark, ok := s.inputPosition(st, rec, recOK, segs); ok {
		s.inputMark, s.inputTail = mark, cut
		err = s.takeSegmentsUpTo(segs, cut)
	} else {
		err = s.takeSegments(segs, st.Tail, true)
	}
	if err != nil {
		return err
	}
	if len(s.segs) == 0 {
		s.head = s.tail
	} else {
		s.head = s.segs[0].start
	}
	if n := s.tail - s.head; n > 0 {
		s.log.Info("spool holds data from an earlier run; sending it first", "dir", s.opts.Dir, "bytes", n, "segments", len(s.segs))
	}
	return nil
}

// stateLimit bounds what is read of the state file.
const stateLimit = 1 << 20

// loadState reads the state file. One that is unreadable or not ours is
// ignored, with a warning: positions then start at the oldest data.
func (s *Spool) loadState() (state, error) {
	var st state
	path := filepath.Join(s.opts.Dir, stateFile)
	b, err := fsutil.ReadOwned(path, stateLimit)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, fsutil.ErrUnsafe), errors.As(err, new(*json.SyntaxError)), errors.As(err, new(*json.UnmarshalTypeError)):
		s.log.Warn("spool state file unreadable or not ours; ignoring it, positions start at the oldest data", "file", path, "err", err)
		return state{}, nil
	case err != nil:
		return state{}, fmt.Errorf("spool state %s: %w", path, err)
	}
	return st, nil
}

// removeTemps removes temporary files of the state left by a run killed
// between writing one and renaming it into place (fsutil.WriteAtomic).
func (s *Spool) removeTemps() {
	temps, _ := filepath.Glob(filepath.Join(s.opts.Dir, "."+stateFile+".*.tmp"))
	for _, p := range temps {
		if err := os.Remove(p); err != nil {
			s.log.Warn("spool: cannot remove a temporary file left by an earlier run", "file", p, "err", err)
		}
	}
}

// openPosFile opens the position file name in the directory (see openPos).
// One that is not a regular file of ours is removed, with a warning, and
// taken as missing.
func (s *Spool) openPosFile(name string, create bool) (*posFile, posRecord, bool, error) {
	path := filepath.Join(s.opts.Dir, name)
	p, r, ok, err := openPos(path, create)
	if errors.Is(err, fsutil.ErrUnsafe) {
		s.log.Warn("spool: a position file is not a file of ours; removing it", "file", path, "err", err)
		if rerr := os.Remove(path); rerr != nil {
			return nil, r, false, fmt.Errorf("remove %s: %w", path, rerr)
		}
		p, r, ok, err = openPos(path, create)
	}
	return p, r, ok, err
}

// openInputPos opens the input position file, if there is one, and reads
// its record.
func (s *Spool) openInputPos() (posRecord, bool, error) {
	p, r, ok, err := s.openPosFile(inputPosFile, false)
	if err != nil || p == nil {
		return r, false, err
	}
	s.input = p
	if !ok || r.mark == "" {
		// An empty one was created by a run killed before its first
		// record.
		if fi, err := p.f.Stat(); err == nil && fi.Size() > 0 {
			s.log.Warn("spool: the input position file holds no valid record; using the position saved with the last sync", "file", p.path)
		}
		return r, false, nil
	}
	return r, true, nil
}

// segFile is a segment file found in the directory.
type segFile struct {
	start int64
	path  string
}

// segmentFiles lists the segment files in the directory, oldest first.
func (s *Spool) segmentFiles() ([]segFile, error) {
	names, err := filepath.Glob(filepath.Join(s.opts.Dir, "*.seg"))
	if err != nil {
		return nil, err
	}
	var segs []segFile
	for _, p := range names {
		n, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(p), ".seg"), 10, 64)
		if err != nil || n < 0 {
			s.log.Warn("ignoring unexpected file in spool directory", "file", p)
			continue
		}
		segs = append(segs, segFile{n, p})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	return segs, nil
}

// openSegments opens the segment files of an earlier run, each with its
// size on disk. A file that is not a segment of ours is ignored.
func (s *Spool) openSegments(files []segFile) ([]*segment, error) {
	var segs []*segment
	for _, fo := range files {
		f, err := fsutil.OpenOwned(fo.path, os.O_RDWR)
		if errors.Is(err, fsutil.ErrUnsafe) {
			s.log.Warn("ignoring a file in the spool directory that is not a segment of ours", "file", fo.path, "err", err)
			continue
		}
		if err == nil {
			var fi fs.FileInfo
			if fi, err = f.Stat(); err == nil {
				segs = append(segs, &segment{start: fo.start, size: fi.Size(), f: f, path: fo.path})
				continue
			}
			f.Close()
		}
		for _, g := range segs {
			g.f.Close()
		}
		return nil, fmt.Errorf("open spool segment %s: %w", fo.path, err)
	}
	return segs, nil
}

// inputPosition chooses where the spool and its input resume: at the
// input position record, unless it claims data the segments do not hold
// (a crash of the machine lost segment data that was not synced yet), then
// at the position saved with the last Sync. ok is false for a spool whose
// input has no position (a FIFO).
func (s *Spool) inputPosition(st state, rec posRecord, recOK bool, segs []*segment) (cut int64, mark string, ok bool) {
	end := int64(-1) // no segment left: everything was delivered
	if len(segs) > 0 {
		end = segs[len(segs)-1].end()
	}
	switch {
	case recOK && (end < 0 || rec.offset <= end):
		return rec.offset, rec.mark, true
	case st.InputMark != "":
		if recOK {
			s.log.Warn("spool: the input position record claims data the spool does not hold (a crash of the machine lost what was not synced); resuming at the position of the last sync",
				"record", rec.offset, "data_end", end, "synced", st.InputTail)
		}
		return st.InputTail, st.InputMark, true
	case recOK:
		s.log.Warn("spool: data before the input position is missing (a crash of the machine lost what was not synced); those lines are lost",
			"record", rec.offset, "data_end", end)
		return rec.offset, rec.mark, true
	}
	return 0, "", false
}

// takeSegmentsUpTo takes up the segments of a spool whose input has a
// position: cut back to stream offset cut, which becomes the tail.
func (s *Spool) takeSegmentsUpTo(segs []*segment, cut int64) error {
	for i, g := range segs {
		if g.end() > cut {
			size := max(0, cut-g.start)
			s.log.Debug("spool: cutting data written after the last recorded input position; the input reads it again", "file", g.path, "bytes", g.size-size)
			if err := g.f.Truncate(size); err != nil {
				closeSegments(segs[i:])
				return fmt.Errorf("truncate spool segment %s to the input position: %w", g.path, err)
			}
			g.size = size
		}
		if g.size == 0 {
			g.f.Close()
			os.Remove(g.path)
			continue
		}
		s.segs = append(s.segs, g)
	}
	s.tail = cut
	return nil
}

// takeSegments takes up the segments of a spool whose input has no
// position, each cut to whole lines when cutTorn is set (a crash may have
// torn the last write). The tail is never below tail, the one saved:
// offsets handed out before are never handed out again (see SkipTo).
func (s *Spool) takeSegments(segs []*segment, tail int64, cutTorn bool) error {
	s.tail = tail
	for i, g := range segs {
		if err := s.cutTornIf(cutTorn, g); err != nil {
			closeSegments(segs[i:])
			return err
		}
		if i > 0 && g.start != s.tail {
			s.log.Warn("spool segments are not contiguous; the gap is treated as dropped data", "file", g.path, "expected_offset", s.tail)
		}
		if g.size == 0 && i < len(segs)-1 {
			g.f.Close()
			os.Remove(g.path)
			s.tail = max(s.tail, g.start)
			continue
		}
		// The last segment stays even when empty: its name is the end of
		// the stream on disk. Removed, a kill before the next segment
		// file exists would make the next start take the end from the
		// saved state, which may be older, and hand out again offsets a
		// receiver already has (and the data then appended at them would
		// be skipped as the receiver's).
		s.segs = append(s.segs, g)
		s.tail = max(s.tail, g.end())
	}
	s.tail = max(s.tail, tail)
	return nil
}

// cutTornIf cuts g to whole lines, if cut is set.
func (s *Spool) cutTornIf(cut bool, g *segment) error {
	if !cut || g.size == 0 {
		return nil
	}
	whole, err := wholeLines(g.f, g.size)
	if err != nil || whole == g.size {
		return nil
	}
	s.log.Warn("spool segment ends in a torn line; cutting it", "file", g.path, "bytes", g.size-whole)
	if err := g.f.Truncate(whole); err != nil {
		return fmt.Errorf("truncate torn spool segment %s: %w", g.path, err)
	}
	g.size = whole
	return nil
}

func closeSegments(segs []*segment) {
	for _, g := range segs {
		g.f.Close()
	}
}

// wholeLines returns the length of the prefix of f that ends with '\n'.
func wholeLines(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return size, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}
