package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// Contents is what a spool directory holds, as Inspect reads it.
type Contents struct {
	// StreamID names the spool's stream ("" before its first run ended).
	StreamID string
	// Head and Tail are the offsets of the oldest byte kept and of the
	// next byte to be appended.
	Head, Tail int64
	// Held is, for each consumer (destination) the directory remembers,
	// what it has not had delivered.
	Held map[string]Held
}

// Held is what a spool holds for one consumer: bytes and whole lines from
// its position to the end of the stream.
type Held struct {
	Bytes, Lines int64
}

// Inspect reads what the spool directory dir holds for each consumer it
// remembers, without opening the spool: nothing in dir is created,
// changed or locked, so a push may be running on it. Positions are the
// ones last saved, so what a running push delivered since is still
// counted; the data found is exact for a spool no process holds. Files
// that are not regular files of ours are ignored, as Open ignores them.
// A directory without a state file is not a spool: fs.ErrNotExist.
//
// names are consumers to count besides those the state file remembers: a
// process killed before it saved the state (compatible mode with a FIFO
// never saves it while it runs) leaves its consumers in it unnamed. Each
// starts where Consumer would start it: at its resume record, else at the
// oldest data.
func Inspect(dir string, names ...string) (Contents, error) {
	b, err := fsutil.ReadOwned(filepath.Join(dir, stateFile), stateLimit)
	if err != nil {
		return Contents{}, fmt.Errorf("spool %s: %w", dir, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return Contents{}, fmt.Errorf("spool %s: state file: %w", dir, err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return Contents{}, err
	}
	c := Contents{StreamID: st.StreamID, Head: st.Tail, Tail: st.Tail, Held: map[string]Held{}}
	if len(segs) > 0 {
		c.Head = segs[0].start
		c.Tail = max(st.Tail, segs[len(segs)-1].end())
	}
	r, ok := readPos(filepath.Join(dir, inputPosFile))
	switch {
	case ok && r.mark == movedMark && len(segs) > 0:
		// Moved input: the segment files hold it beyond the record, up
		// to the last line end (see takeMoved).
		end, err := visibleMoved(segs[len(segs)-1], r.offset)
		if err != nil {
			return Contents{}, err
		}
		c.Tail = max(end, c.Head)
	case ok && r.mark != "" && r.mark != movedMark && r.offset < c.Tail:
		// A followed file's spool ends where its input position says
		// (Open cuts what lies beyond: the input reads it again).
		c.Tail = max(r.offset, c.Head)
	}
	if st.Consumers == nil {
		st.Consumers = map[string]int64{}
	}
	for _, name := range names {
		if _, ok := st.Consumers[name]; !ok {
			st.Consumers[name] = c.Head
		}
	}
	for name, pos := range st.Consumers {
		if r, ok := readPos(filepath.Join(dir, consumerPosFile(name))); ok && r.offset > pos {
			pos = r.offset
		}
		from := min(max(pos, c.Head), c.Tail)
		lines, err := countLines(segs, from, c.Tail)
		if err != nil {
			return Contents{}, err
		}
		c.Held[name] = Held{Bytes: c.Tail - from, Lines: lines}
	}
	return c, nil
}

// visibleMoved is where the stream of moved input ends in a spool not
// opened, whose last segment is g: after its last line end, but not
// before settled, where the input record says other data ends (as
// Spool.visibleEnd).
func visibleMoved(g segInfo, settled int64) (int64, error) {
	f, err := fsutil.OpenOwned(g.path, os.O_RDONLY)
	if err != nil {
		return 0, fmt.Errorf("spool segment %s: %w", g.path, err)
	}
	defer f.Close()
	whole, err := wholeLines(f, g.size)
	if err != nil {
		return 0, fmt.Errorf("spool segment %s: %w", g.path, err)
	}
	return min(max(g.start+whole, g.start, settled), g.end()), nil
}

// segInfo is a segment file of a spool not opened.
type segInfo struct {
	start, size int64
	path        string
}

func (g segInfo) end() int64 { return g.start + g.size }

// listSegments lists dir's segment files of ours, oldest first.
func listSegments(dir string) ([]segInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	var segs []segInfo
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		start, err := strconv.ParseInt(name, 10, 64)
		if err != nil || start < 0 {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := fsutil.OpenOwned(path, os.O_RDONLY)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		f.Close()
		if err == nil {
			segs = append(segs, segInfo{start: start, size: fi.Size(), path: path})
		}
	}
	// ReadDir sorts by name, and names are zero-padded offsets.
	return segs, nil
}

// countLines counts the line ends in stream offsets [from, to) of segs.
func countLines(segs []segInfo, from, to int64) (int64, error) {
	var n int64
	buf := make([]byte, 64<<10)
	for _, g := range segs {
		lo, hi := max(from, g.start), min(to, g.end())
		if lo >= hi {
			continue
		}
		f, err := fsutil.OpenOwned(g.path, os.O_RDONLY)
		if err != nil {
			return 0, fmt.Errorf("spool segment %s: %w", g.path, err)
		}
		r := io.NewSectionReader(f, lo-g.start, hi-lo)
		for {
			k, err := r.Read(buf)
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return 0, fmt.Errorf("spool segment %s: %w", g.path, err)
			}
		}
		f.Close()
	}
	return n, nil
}

// readPos reads the newest record of a position file without opening it
// for writing; false when there is none (or the file is not ours).
func readPos(path string) (posRecord, bool) {
	r, ok, _ := readPosFile(path)
	return r, ok
}

// readPosFile is readPos that says why a file that is there cannot be
// read (not a regular file of ours: fsutil.ErrUnsafe); a missing file is
// no record and no error.
func readPosFile(path string) (posRecord, bool, error) {
	b, err := fsutil.ReadOwned(path, 2*posSlotSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return posRecord{}, false, nil
	case err != nil:
		return posRecord{}, false, err
	}
	r, ok := newest(b)
	return r, ok, nil
}

// ReadInputMark returns the input position saved in the spool directory
// dir (see AppendInput), "" when there is none, without opening the spool,
// as Inspect reads it: Open would take the spool over (and cut segments),
// while push may be running on it. It is what Open resumes at, unless a
// crash of the machine lost segment data that was not synced, when Open
// falls back to the position of the last sync. check push asks the input
// whether the position is still good.
func ReadInputMark(dir string) (string, error) {
	r, ok, err := readPosFile(filepath.Join(dir, inputPosFile))
	switch {
	case err != nil:
		return "", fmt.Errorf("spool %s: %w", dir, err)
	case ok && r.mark != "":
		return r.mark, nil
	}
	b, err := fsutil.ReadOwned(filepath.Join(dir, stateFile), stateLimit)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("spool %s: %w", dir, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return "", fmt.Errorf("spool %s: state file: %w", dir, err)
	}
	return st.InputMark, nil
}

// IsSpool reports whether dir looks like a spool directory: it holds a
// state file.
func IsSpool(dir string) bool {
	fi, err := os.Lstat(filepath.Join(dir, stateFile))
	return err == nil && fi.Mode().IsRegular()
}

// Remove removes the files of the spool in dir (segments, state, position
// files, temporaries) and returns their names. Other files are left, and
// so is dir. The caller makes sure no process has the spool open.
func Remove(dir string) ([]string, error) {
	if !IsSpool(dir) {
		return nil, fmt.Errorf("%s is not a spool directory (no %s): %w", dir, stateFile, fs.ErrNotExist)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !isSpoolFile(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, fsutil.SyncDir(dir)
}

// isSpoolFile reports whether name is one of the files a spool keeps.
func isSpoolFile(name string) bool {
	switch {
	case name == stateFile, name == inputPosFile:
		return true
	case strings.HasPrefix(name, "consumer-") && strings.HasSuffix(name, ".pos"):
		return true
	case strings.HasPrefix(name, "."+stateFile+".") && strings.HasSuffix(name, ".tmp"):
		return true
	}
	n, ok := strings.CutSuffix(name, ".seg")
	_, err := strconv.ParseInt(n, 10, 64)
	return ok && err == nil
}

// RenameConsumer hands what the spool in dir remembers of consumer from
// (its saved position and its resume record) to consumer to, which it
// must not know yet: the lines held for one destination go to another.
// The caller makes sure no process has the spool open.
func RenameConsumer(dir, from, to string) error {
	path := filepath.Join(dir, stateFile)
	b, err := fsutil.ReadOwned(path, stateLimit)
	if err != nil {
		return fmt.Errorf("spool %s: %w", dir, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("spool %s: state file: %w", dir, err)
	}
	pos, ok := st.Consumers[from]
	if !ok {
		return fmt.Errorf("spool %s holds nothing for %s", dir, from)
	}
	if _, ok := st.Consumers[to]; ok {
		return fmt.Errorf("spool %s already holds lines for %s", dir, to)
	}
	oldPos, newPos := filepath.Join(dir, consumerPosFile(from)), filepath.Join(dir, consumerPosFile(to))
	if _, err := os.Lstat(newPos); err == nil {
		return fmt.Errorf("spool %s already has a position for %s (%s)", dir, to, newPos)
	}
	// The resume record first: a crash before the state is saved leaves
	// to with its record, which Consumer takes over the saved position.
	if err := os.Rename(oldPos, newPos); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool %s: %w", dir, err)
	}
	delete(st.Consumers, from)
	st.Consumers[to] = pos
	b, _ = json.Marshal(st)
	return fsutil.WriteAtomic(path, b, 0o600, true)
}
