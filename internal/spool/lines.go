package spool

import (
	"bytes"
	"sync"
)

// DefaultMaxLine is the longest line LineWriter holds back waiting for its
// newline. Longer lines are passed on in pieces (still in order and byte
// exact); only then could a dropped segment cut one.
const DefaultMaxLine = 16 << 20

// LineWriter turns arbitrary reads (from a FIFO or a file) into whole lines
// appended to a spool, and lets other goroutines insert lines of their own
// (marks, gap notices) without ever splitting a line in two.
type LineWriter struct {
	S       *Spool
	MaxLine int // 0 = DefaultMaxLine

	mu      sync.Mutex
	partial []byte
	midLine bool // an over-long line was passed on without its end
	held    [][]byte
}

// Write appends the whole lines in p and keeps an unfinished last line.
func (w *LineWriter) Write(p []byte) (int, error) {
	return w.WriteInput(p, nil)
}

// WriteInput is Write for an input with positions (see
// Spool.AppendInput): pos(k) is the input's position right after the
// first k bytes of p. The spool records, with every append, the position
// right after the last byte it took, so that an unfinished line held back
// here is read again after a crash, and nothing else is.
//
// It appends all it can of p or, with an error, nothing: the caller may
// give the same p again. An empty p only moves the position to pos(0),
// when no unfinished line is held (the input skipped something: a
// rotation).
func (w *LineWriter) WriteInput(p []byte, pos func(k int) string) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	mark := func(k int) string {
		if pos == nil {
			return ""
		}
		return pos(k)
	}
	if len(p) == 0 {
		if len(w.partial) > 0 || pos == nil {
			return 0, nil
		}
		return 0, w.S.AppendInput(mark(0))
	}
	i := bytes.LastIndexByte(p, '\n')
	if i < 0 {
		if len(w.partial)+len(p) < w.maxLine() {
			w.partial = append(w.partial, p...)
			return len(p), nil
		}
		// Over-long: passed on as it is, marks wait for its end.
		if err := w.S.AppendInput(mark(len(p)), w.partial, p); err != nil {
			return 0, err
		}
		w.partial = w.partial[:0]
		w.midLine = true
		return len(p), nil
	}
	parts := [][]byte{w.partial, p[:i+1]}
	if w.midLine && len(w.held) > 0 {
		// The over-long line ends with p's first line; the held lines
		// follow it.
		j := bytes.IndexByte(p, '\n')
		parts = append([][]byte{w.partial, p[:j+1]}, w.held...)
		parts = append(parts, p[j+1:i+1])
	}
	if err := w.S.AppendInput(mark(i+1), parts...); err != nil {
		return 0, err
	}
	w.held = nil
	w.midLine = false
	if cap(w.partial) > 64<<10 {
		w.partial = nil // an over-long line's buffer
	}
	w.partial = append(w.partial[:0], p[i+1:]...)
	return len(p), nil
}

func (w *LineWriter) maxLine() int {
	if w.MaxLine > 0 {
		return w.MaxLine
	}
	return DefaultMaxLine
}

// WriteLine appends one complete line of our own (it must end in '\n')
// between the lines of the stream. Within an over-long line it waits for
// that line's end.
func (w *LineWriter) WriteLine(line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.midLine {
		w.held = append(w.held, append([]byte(nil), line...))
		return nil
	}
	return w.S.Append(line)
}

// Partial reports how many bytes of an unfinished line are held back.
func (w *LineWriter) Partial() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.partial)
}

// Flush appends an unfinished last line as it is (at shutdown: a final
// line without newline is still delivered).
func (w *LineWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.S.AppendInput("", append([][]byte{w.partial}, w.held...)...); err != nil {
		return err
	}
	w.partial = w.partial[:0]
	w.midLine = false
	w.held = nil
	return nil
}
