package testlab

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
)

// maxLogLines is how many recent daemon output lines Log() keeps.
const maxLogLines = 2000

// logBuf collects a daemon's output lines, keeps the most recent ones for
// assertions and copies them to t.Log until stopped. Calling t.Log after a
// test has finished panics, and daemons (or the children that inherit their
// stderr) can outlive it, so the owner's cleanup calls stop before returning.
type logBuf struct {
	t      testing.TB
	prefix string

	mu      sync.Mutex
	lines   []string
	stopped bool
	watches []logWatch
}

type logWatch struct {
	substr string
	ch     chan struct{}
}

func newLogBuf(t testing.TB, prefix string) *logBuf {
	return &logBuf{t: t, prefix: prefix}
}

// add records one line, forwarding it to the test log while allowed.
func (b *logBuf) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if len(b.lines) > maxLogLines {
		b.lines = append(b.lines[:0], b.lines[len(b.lines)-maxLogLines:]...)
	}
	kept := b.watches[:0]
	for _, w := range b.watches {
		if strings.Contains(line, w.substr) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	b.watches = kept
	if !b.stopped {
		// Held under mu so that stop cannot return while a call is running.
		b.t.Log(b.prefix + line)
	}
}

// watch returns a channel closed when a line containing substr is added
// after this call.
func (b *logBuf) watch(substr string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan struct{})
	b.watches = append(b.watches, logWatch{substr, ch})
	return ch
}

// readFrom adds every line read from r until EOF or a read error, then
// closes done.
func (b *logBuf) readFrom(r io.Reader, done chan<- struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		b.add(sc.Text())
	}
	// A line too long for the scanner: keep draining so the daemon never
	// blocks on a full pipe.
	io.Copy(io.Discard, r)
}

// stop ends forwarding to t.Log; lines are still kept for String.
func (b *logBuf) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
}

// String returns the kept lines, each ending in a newline.
func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) == 0 {
		return ""
	}
	return strings.Join(b.lines, "\n") + "\n"
}
