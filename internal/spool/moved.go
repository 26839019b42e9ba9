package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// Moved input: bytes that go from the input (a pipe) straight into the
// tail segment file, with splice(2), never through this process's memory
// (AppendMoved). The file then counts them: the kernel takes them out of
// the pipe and extends the file in one system call, so that after a kill
// -9 at any moment every byte is either still in the pipe or in the file,
// and the file's size says which. No record has to follow each move; the
// input position record (input.pos) only says, once, that the segment
// files hold moved input beyond the offset it names, and moves that
// offset on where the stream holds something else: data of our own (mark
// lines, appendSettled), or a stretch made visible that does not end with
// a line (endLoose). Open then takes everything the files hold (takeMoved).

// movedMark is the input position of moved input: it has none to resume
// from (a pipe is not read again); the record only says where moved input
// begins. A NUL never occurs in the positions of other inputs.
const movedMark = "\x00moved"

// Mover is input whose bytes are moved into the spool's files
// (pipe.Source).
type Mover interface {
	// MoveTo moves the input's first n bytes into f at offset *off,
	// advances *off by what it moved and returns that count.
	MoveTo(f *os.File, off *int64, n int) (int, error)
	// Read takes up to the input's first len(p) bytes into p instead,
	// without waiting: for when no file takes them (a failing disk); the
	// spool then keeps them in memory, as it does any data then.
	Read(p []byte) (int, error)
}

// AppendMoved appends p, input that mv moves straight into the tail
// segment file: p is what the caller looked at of the input, which still
// holds it. Consumers see the moved bytes up to the last line end among
// them; the rest is the start of a line whose end is still in the input,
// kept in the file, unseen, until that end arrives (Unfinished). With
// whole, all of p is made visible, line end or not: a line too long to
// hold back, or a last line at the end of the input.
//
// It returns how many bytes of p moved. Fewer, with an error, when the
// disk fails: what moved stays. When no byte moves and p ends a line (or
// whole is set), the bytes are taken into memory instead, as other data is
// when the disk fails; a kill -9 then loses them, as it loses anything in
// memory.
func (s *Spool) AppendMoved(p []byte, whole bool, mv Mover) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, errors.New("spool: append after close")
	case !s.opts.Durable:
		return 0, errors.New("spool: moved input needs a durable spool")
	case len(p) == 0:
		return 0, nil
	}
	if err := s.beginMoved(); err != nil {
		return 0, err
	}
	g, err := s.moveSegment(len(p))
	m := 0
	if err == nil {
		off := g.size + s.loose
		m, err = mv.MoveTo(g.f, &off, len(p))
		s.loose += int64(m)
	}
	if m == 0 && err != nil {
		if whole || p[len(p)-1] == '\n' {
			return s.takeIntoMemory(len(p), mv, err)
		}
		return 0, err
	}
	g.dirty = true
	if err == nil {
		s.diskErr = nil
	}
	return m, errors.Join(err, s.settle(g, p[:m], whole && m == len(p)))
}

// beginMoved records, before the first move, that what the segment files
// hold beyond the stream's end is moved input from now on.
func (s *Spool) beginMoved() error {
	if s.moved {
		return nil
	}
	if err := s.recordMoved(s.tail, 0); err != nil {
		return err
	}
	s.moved, s.inputMark = true, ""
	return nil
}

// moveSegment returns the segment file that n bytes of moved input go
// into: the tail one, which holds the start of an unfinished line if there
// is one, while it has room; else a new one.
func (s *Spool) moveSegment(n int) (*segment, error) {
	if k := len(s.segs); k > 0 {
		g := s.segs[k-1]
		if s.loose > 0 {
			return g, nil
		}
		if g.f != nil && g.end() == s.tail && (g.size+int64(n) <= s.opts.SegmentSize || g.size == 0) {
			return g, nil
		}
	}
	g := s.newSegment(false)
	if g.f == nil {
		s.segs = s.segs[:len(s.segs)-1]
		return nil, fmt.Errorf("spool: cannot create a segment file: %w", s.diskErr)
	}
	return g, nil
}

// settle makes the moved bytes p visible up to their last line end, or
// all of them with whole.
func (s *Spool) settle(g *segment, p []byte, whole bool) error {
	i := bytes.LastIndexByte(p, '\n')
	switch {
	case whole && i < len(p)-1:
		// Visible without a line end: recorded, so that Open does not
		// take it for the start of an unfinished line again.
		if err := s.recordMoved(s.tail+s.loose, 0); err != nil {
			return err
		}
		s.openLine = true
	case whole || i >= 0:
		s.openLine = false
	default:
		return nil
	}
	n := s.loose - int64(len(p)-i-1)
	if whole {
		n = s.loose
	}
	s.loose -= n
	s.commit(g, n, int64(bytes.Count(p, []byte{'\n'})))
	return nil
}

// takeIntoMemory takes the input's first n bytes into memory, because no
// segment file takes them (cause). They go in without records: most likely
// into memory, which a kill loses anyway.
func (s *Spool) takeIntoMemory(n int, mv Mover, cause error) (int, error) {
	if s.diskErr == nil {
		s.log.Error("spool: moving input into a segment file failed; taking it into memory", "err", cause)
	}
	s.diskErr = cause
	buf := make([]byte, n)
	k, rerr := mv.Read(buf)
	if k == 0 {
		return 0, errors.Join(cause, rerr)
	}
	// What was taken goes in, even short of a line end: it is out of the
	// input.
	buf = buf[:k]
	s.endLoose()
	g, _ := s.put([][]byte{buf}, int64(k), false)
	s.commit(g, int64(k), lineEnds([][]byte{buf}))
	s.openLine = buf[k-1] != '\n'
	if rerr != nil {
		return k, fmt.Errorf("spool: take input into memory: %w", rerr)
	}
	return k, nil
}

// appendSettled appends parts, data that is not moved (lines of our own),
// to a spool whose input is moved. An unfinished line's start ends where
// it is, also when parts are empty (LineWriter.Flush). The record says, before the write, where it starts and how long
// it is, so that Open cuts away a write a kill cut off rather than take it
// for moved input; and, after it, that moved input follows it.
func (s *Spool) appendSettled(parts [][]byte, n int64) error {
	s.endLoose()
	if n == 0 {
		return nil
	}
	if err := s.recordMoved(s.tail, n); err != nil {
		return err
	}
	g, err := s.put(parts, n, false)
	if err != nil {
		return err
	}
	if err := s.recordMoved(s.tail+n, 0); err != nil && g.f != nil {
		s.unput(g)
		return err
	}
	s.commit(g, n, lineEnds(parts))
	s.openLine = !endsLine(parts)
	return nil
}

// endsLine reports whether the last byte of parts is a line end (true for
// no bytes).
func endsLine(parts [][]byte) bool {
	for i := len(parts) - 1; i >= 0; i-- {
		if p := parts[i]; len(p) > 0 {
			return p[len(p)-1] == '\n'
		}
	}
	return true
}

// endLoose makes the start of an unfinished line visible as it is: other
// data goes after it (the input ended, or the stream has to move on). A
// record that cannot be written is logged: the data is there all the
// same, and must not be written over.
func (s *Spool) endLoose() {
	if s.loose == 0 {
		return
	}
	if err := s.recordMoved(s.tail+s.loose, 0); err != nil {
		s.log.Warn("spool: cannot record the end of an unfinished line made visible; a kill now could hide it again", "err", err)
	}
	n := s.loose
	s.loose = 0
	s.openLine = true
	s.commit(s.segs[len(s.segs)-1], n, 0)
}

// recordMoved records that the stream up to off is settled: the segment
// files hold moved input beyond it, except, with pending > 0, a write of
// that many bytes of other data that starts at off.
func (s *Spool) recordMoved(off, pending int64) error {
	if s.input == nil {
		p, _, _, err := s.openPosFile(inputPosFile, true)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.input = p
	}
	if _, err := s.input.put(off, pending, movedMark); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Unfinished is how many bytes of an unfinished line of moved input the
// spool holds, unseen, waiting for the line's end.
func (s *Spool) Unfinished() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loose
}

// InLine reports whether the end of the stream is inside a line of moved
// input: an unfinished line is held, or a line was made visible without
// its end (too long, or the input ended). A line of our own appended now
// would land inside it.
func (s *Spool) InLine() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loose > 0 || s.openLine
}

// takeMoved takes up the segments of a spool whose input is moved into
// them (the input record rec says so): all of their data, every moved
// byte once, visible up to the last line end; what follows it is the
// start of a line whose end is still in the input (Unfinished). Only a
// write of other data that a kill cut off is cut away (the record names
// it). Offsets handed out before, up to the record or the saved tail,
// are never handed out again: if the data no longer reaches them (a crash
// of the machine), an unfinished line's start is dropped and the stream
// goes on after them.
func (s *Spool) takeMoved(segs []*segment, rec posRecord, st state) error {
	s.moved = true
	settled := rec.offset
	if rec.pending > 0 && len(segs) > 0 {
		g := segs[len(segs)-1]
		if g.end() < rec.offset+rec.pending && g.end() > rec.offset {
			s.log.Warn("spool: a line of our own was cut off by a kill while it was written; dropping it", "file", g.path, "bytes", g.end()-rec.offset)
			if err := s.truncate(g, max(0, rec.offset-g.start)); err != nil {
				closeSegments(segs)
				return err
			}
		} else if g.end() >= rec.offset+rec.pending {
			settled += rec.pending
		}
	}
	if err := s.takeSegments(segs, 0, false); err != nil {
		return err
	}
	end := s.tail
	visible, err := s.visibleEnd(settled)
	if err != nil {
		return err
	}
	s.tail, s.loose = visible, end-visible
	if floor := max(settled, st.Tail); s.tail < floor {
		s.log.Warn("spool: data before the recorded position is missing (a crash of the machine lost what was not synced); continuing after it", "record", settled, "data_end", end)
		s.dropLoose()
		s.tail = floor
	}
	s.openLine, err = s.endsInLine(settled)
	return err
}

// visibleEnd returns where the visible stream of moved input ends after
// Open: after the last line end in the tail segment, but not before
// settled (which may be inside a line) nor before the segment's start
// (which is after a line end, or settled).
func (s *Spool) visibleEnd(settled int64) (int64, error) {
	if len(s.segs) == 0 {
		return s.tail, nil
	}
	g := s.segs[len(s.segs)-1]
	whole, err := wholeLines(g.f, g.size)
	if err != nil {
		return 0, fmt.Errorf("read spool segment %s: %w", g.path, err)
	}
	end := min(max(g.start+whole, g.start, settled), g.end())
	g.size = end - g.start
	return end, nil
}

// endsInLine reports whether the visible stream ends inside a line: at
// settled, where a stretch made visible without a line end stopped.
func (s *Spool) endsInLine(settled int64) (bool, error) {
	if s.tail != settled || s.tail == 0 {
		return false, nil
	}
	for i := len(s.segs) - 1; i >= 0; i-- {
		g := s.segs[i]
		if g.start < s.tail && s.tail <= g.end() {
			var b [1]byte
			if _, err := g.f.ReadAt(b[:], s.tail-g.start-1); err != nil {
				return false, fmt.Errorf("read spool segment %s: %w", g.path, err)
			}
			return b[0] != '\n', nil
		}
	}
	return false, nil
}

// dropLoose cuts an unfinished line's start away.
func (s *Spool) dropLoose() {
	if s.loose == 0 {
		return
	}
	g := s.segs[len(s.segs)-1]
	if err := g.f.Truncate(g.size); err != nil {
		s.log.Warn("spool: cannot cut an unfinished line away", "file", g.path, "err", err)
	}
	s.loose = 0
}

// truncate cuts segment g to size bytes.
func (s *Spool) truncate(g *segment, size int64) error {
	if err := g.f.Truncate(size); err != nil {
		return fmt.Errorf("truncate spool segment %s: %w", g.path, err)
	}
	g.size = size
	return nil
}
