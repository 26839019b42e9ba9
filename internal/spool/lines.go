package spool

import (
	"bytes"
	"errors"
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

// looseAt is the length from which an unfinished line of moved input is
// taken out of the pipe before its end arrives (into the spool's file,
// unseen, see Move): the pipe keeps room for its writer.
const looseAt = 16 << 10

// Move takes input that goes straight from a pipe into the spool's files
// (Spool.AppendMoved). head is what the pipe holds now, looked at but not
// taken; ended says that nothing more will come. Whole lines go in. An
// unfinished last line stays in the pipe until its end arrives, unless it
// is long (looseAt: it goes into the spool's file, unseen), longer than
// MaxLine (passed on as it is, like Write does), or the input ended (a
// last line without newline, passed on as it is). It returns how many
// bytes it took; 0 means: wait for more. Lines of our own held back
// meanwhile (WriteLine) follow once the stream is between lines again.
func (w *LineWriter) Move(head []byte, ended bool, mv Mover) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(head) == 0 {
		return 0, nil
	}
	i := bytes.LastIndexByte(head, '\n')
	rest := len(head) - i - 1 // of an unfinished line
	open := int64(rest)
	if i < 0 {
		open += w.S.Unfinished()
	}
	n, whole := len(head), false
	switch {
	case ended, open >= int64(w.maxLine()):
		whole = true
	case rest >= looseAt, open > int64(rest):
		// The unfinished line goes into the spool's file too, unseen.
	case i >= 0:
		n = i + 1
	default:
		return 0, nil
	}
	took, err := w.S.AppendMoved(head[:n], whole, mv)
	if took > 0 && len(w.held) > 0 && !w.S.InLine() {
		if herr := w.S.AppendInput("", w.held...); herr != nil {
			return took, errors.Join(err, herr)
		}
		w.held = nil
	}
	return took, err
}

func (w *LineWriter) maxLine() int {
	if w.MaxLine > 0 {
		return w.MaxLine
	}
	return DefaultMaxLine
}

// WriteLine appends one complete line of our own (it must end in '\n')
// between the lines of the stream. Within an over-long line, or while a
// line of moved input is unfinished, it waits for that line's end.
func (w *LineWriter) WriteLine(line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.midLine || w.S.InLine() {
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
