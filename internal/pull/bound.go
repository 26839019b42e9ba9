package pull

import (
	"bytes"
	"errors"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/stream"
)

// ErrFull is what the sink returns when the output reached its size bound
// (Options.MaxSize): the rest waits until the output has room again.
var ErrFull = errors.New("the output reached its size bound")

// roomPoll is how often an output at its size bound is looked at again;
// remindFull how often pull says again that it still is.
const (
	roomPoll   = 5 * time.Second
	remindFull = 10 * time.Minute
)

// bound is the output's size bound (--max-size). A hostile far side (the
// intruder on the watched host) must not fill the log host's disk through
// pull: the output never grows beyond max. What does not fit is not
// written, the cursor stays before it (the far side keeps it), and pull
// holds the connection until the output has room again: it was rotated
// and reopened (SIGHUP), or otherwise shrank.
type bound struct {
	max int64 // 0: no bound
	// full: the bound was reached at size fullAt, at since; reminded is
	// when that was last said.
	full            bool
	fullAt          int64
	since, reminded time.Time
}

// free is how many more bytes the output may take; -1: no bound.
func (s *sink) free() int64 {
	if s.bound.max <= 0 || s.out.path == "" {
		return -1
	}
	_, size, err := s.out.stat()
	if err != nil {
		return 0
	}
	return max(s.bound.max-size, 0)
}

// skippable is how many leading bytes of the next data the output already
// holds (unproven bytes from before a crash): they take no room.
func (s *sink) skippable() int64 {
	if s.unproven == nil {
		return 0
	}
	return s.unproven.remaining()
}

// fits reports whether n more bytes of data fit.
func (s *sink) fits(n int64) bool {
	free := s.free()
	return free < 0 || n <= s.skippable()+free
}

// fit splits frame f into what fits now and the rest (empty when all of
// it fits). A data frame is cut after its last whole line that fits, with
// the cursor moved back accordingly; a late frame, whose cursor is not
// the end of its data, fits whole or not at all. now.Type is 0 when
// nothing fits.
func (s *sink) fit(f stream.Frame) (now, rest stream.Frame) {
	if s.fits(int64(len(f.Data))) {
		return f, stream.Frame{}
	}
	if f.Type != stream.Data {
		return stream.Frame{}, f
	}
	allowed := s.skippable() + s.free()
	n := bytes.LastIndexByte(f.Data[:allowed], '\n') + 1
	rest = f
	rest.Data = f.Data[n:]
	if n == 0 {
		return stream.Frame{}, rest
	}
	now = f
	now.Data = f.Data[:n]
	now.Cursor.Offset -= int64(len(f.Data) - n)
	return now, rest
}

// fitLines is how many bytes of the whole lines p fit (compat mode).
func (s *sink) fitLines(p []byte) int {
	free := s.free()
	if free < 0 || int64(len(p)) <= free {
		return len(p)
	}
	return bytes.LastIndexByte(p[:free], '\n') + 1
}

// reached says, once per time the bound is reached, that it is, and
// returns ErrFull.
func (b *bound) reached(s *sink) error {
	if b.full {
		return ErrFull
	}
	_, size, _ := s.out.stat()
	now := s.clk.Now()
	b.full, b.fullAt, b.since, b.reminded = true, size, now, now
	s.log.Error("the output reached its size bound (--max-size): pull takes nothing more from the far side until the output is rotated (then SIGHUP reopens it) or pull is restarted with a larger bound; the far side keeps the data, and pull goes on from its cursor",
		"output", s.out.path, "max_size", b.max, "size", size, "cursor", s.cursor.String())
	return ErrFull
}

// hasRoom reports whether an output at its bound has shrunk since (a new
// file after rotation), and says so; while it has not, it reminds every
// remindFull.
func (s *sink) hasRoom() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &s.bound
	if !b.full || s.failed != nil {
		return true
	}
	_, size, err := s.out.stat()
	now := s.clk.Now()
	switch {
	case err == nil && size < b.fullAt:
		b.full = false
		s.log.Info("the output has room again; taking data from the far side again", "output", s.out.path, "size", size, "max_size", b.max, "waited", now.Sub(b.since).Round(time.Second))
		return true
	case now.Sub(b.reminded) >= remindFull:
		b.reminded = now
		s.log.Warn("the output is still at its size bound (--max-size): rotate it", "output", s.out.path, "max_size", b.max, "since", now.Sub(b.since).Round(time.Second))
	}
	return false
}
