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
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if w.midLine {
		// Finish the over-long line first, then let held lines in.
		j := bytes.IndexByte(p, '\n')
		if j < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= w.maxLine() {
				if err := w.S.Append(w.partial); err != nil {
					return 0, err
				}
				w.partial = w.partial[:0]
			}
			return n, nil
		}
		w.partial = append(w.partial, p[:j+1]...)
		if err := w.S.Append(w.partial); err != nil {
			return 0, err
		}
		w.partial = w.partial[:0]
		w.midLine = false
		if err := w.flushHeld(); err != nil {
			return 0, err
		}
		p = p[j+1:]
	}
	i := bytes.LastIndexByte(p, '\n')
	if i < 0 {
		w.partial = append(w.partial, p...)
		if limit := w.maxLine(); len(w.partial) >= limit {
			if err := w.S.Append(w.partial); err != nil {
				return 0, err
			}
			w.partial = w.partial[:0]
			w.midLine = true
		}
		return n, nil
	}
	var err error
	if len(w.partial) > 0 {
		// Finish the held line with p's first line and append it on its
		// own: appending it with the rest of p would copy all of p once
		// more, and a full read (256 KiB) almost always ends inside a line.
		j := bytes.IndexByte(p, '\n')
		w.partial = append(w.partial, p[:j+1]...)
		err = w.S.Append(w.partial)
		w.partial = w.partial[:0]
		if cap(w.partial) > 64<<10 {
			w.partial = nil
		}
		if err == nil && j < i {
			err = w.S.Append(p[j+1 : i+1])
		}
	} else {
		err = w.S.Append(p[:i+1])
	}
	if err != nil {
		return 0, err
	}
	w.midLine = false
	w.partial = append(w.partial, p[i+1:]...)
	if err := w.flushHeld(); err != nil {
		return 0, err
	}
	return n, nil
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

func (w *LineWriter) flushHeld() error {
	for len(w.held) > 0 {
		if err := w.S.Append(w.held[0]); err != nil {
			return err
		}
		w.held = w.held[1:]
	}
	return nil
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
	if len(w.partial) > 0 {
		if err := w.S.Append(w.partial); err != nil {
			return err
		}
		w.partial = w.partial[:0]
	}
	w.midLine = false
	return w.flushHeld()
}
