package testlab

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// The numbered test streams prove that a transport loses, repeats,
// reorders and tears no line: line i of a stream is "L", i in eight
// digits, a space, a body that depends on i, and a newline. Every line
// tells its own number, and a line that is not byte for byte the one its
// number names was torn (cut, or glued to part of another).

// prefixLen is the length of "L00000042 ".
const prefixLen = 10

// MinLineSize is the shortest numbered line: the prefix and the newline.
const MinLineSize = prefixLen + 1

// maxNumber is the highest line number eight digits hold.
const maxNumber = 99_999_999

// Lines is the format of one numbered stream.
type Lines struct {
	// Size is the length of every line, newline included; at least
	// MinLineSize.
	Size int
	// Fill appends the body of line i, exactly n bytes without newline,
	// to b. Nil means letters that shift with i, so that no line's body is
	// another's.
	Fill func(b []byte, i, n int) []byte
}

// Numbered is the plain stream of lines of size bytes.
func Numbered(size int) Lines { return Lines{Size: size} }

// Line returns line i.
func (f Lines) Line(i int) []byte { return f.Append(make([]byte, 0, f.Size), i) }

// Range returns lines from..to-1, one after the other.
func (f Lines) Range(from, to int) []byte {
	b := make([]byte, 0, max(0, to-from)*f.Size)
	for i := from; i < to; i++ {
		b = f.Append(b, i)
	}
	return b
}

// Append appends line i to b.
func (f Lines) Append(b []byte, i int) []byte {
	if f.Size < MinLineSize || i < 0 || i > maxNumber {
		panic(fmt.Sprintf("testlab: line %d of size %d is not a numbered line", i, f.Size))
	}
	start := len(b)
	b = append(b, 'L')
	for d := 10_000_000; d > 0; d /= 10 {
		b = append(b, byte('0'+i/d%10))
	}
	b = append(b, ' ')
	body := f.Size - MinLineSize
	if f.Fill != nil {
		b = f.Fill(b, i, body)
	} else {
		for k := range body {
			b = append(b, byte('a'+(i+k)%26))
		}
	}
	if len(b)-start != f.Size-1 {
		panic(fmt.Sprintf("testlab: Fill wrote %d bytes of body, want %d", len(b)-start-prefixLen, body))
	}
	return append(b, '\n')
}

// Number returns the number a line (with or without its newline) starts
// with; ok is false when it does not start like a numbered line. It says
// nothing about whether the rest of the line is whole.
func Number(line []byte) (i int, ok bool) {
	if len(line) < prefixLen || line[0] != 'L' || line[prefixLen-1] != ' ' {
		return 0, false
	}
	for _, c := range line[1 : prefixLen-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, true
}

// Contains reports whether line i stands whole somewhere in data.
func (f Lines) Contains(data []byte, i int) bool { return bytes.Contains(data, f.Line(i)) }

// TailMax returns the highest number among the lines that start in the
// last k lines' worth of data (whole or not), or -1: how far a stream got,
// cheaply, while it is still arriving.
func (f Lines) TailMax(data []byte, k int) int {
	best := -1
	for _, line := range bytes.Split(data[max(0, len(data)-k*f.Size):], []byte{'\n'}) {
		if i, ok := Number(line); ok {
			best = max(best, i)
		}
	}
	return best
}

// Report is what arrived of the lines a check expected.
type Report struct {
	// Received counts the expected lines that arrived whole, each time
	// they arrived (duplicates included).
	Received int
	// Lost counts the expected lines that never arrived whole.
	Lost int
	// Duplicated counts the arrivals of a line that had arrived before.
	Duplicated int
	// OutOfOrder counts the places where a line's number is lower than
	// that of the line received before it.
	OutOfOrder int
	// Torn counts the lines that start like a numbered line but are not
	// one of the expected lines whole, and a last line without its
	// newline, whatever it holds: it was cut.
	Torn int
	// Other holds the whole lines that are not numbered lines (marks,
	// notices), without newline, in order.
	Other []string
	// Missing lists the lost lines as ranges, in order.
	Missing []Span
}

// Span is the lines First..Last, both included.
type Span struct{ First, Last int }

func (r Report) String() string {
	return fmt.Sprintf("received %d, lost %d, duplicated %d, out of order %d, torn %d, other %d",
		r.Received, r.Lost, r.Duplicated, r.OutOfOrder, r.Torn, len(r.Other))
}

// Exact reports whether every one of n lines arrived exactly once, in
// order and whole, with nothing else in between.
func (r Report) Exact(n int) bool {
	return r.Received == n && r.Lost == 0 && r.Duplicated == 0 && r.OutOfOrder == 0 && r.Torn == 0 && len(r.Other) == 0
}

// Gaps describes the first most missing ranges as "first-last ...", for
// failure messages.
func (r Report) Gaps(most int) string {
	var out []string
	for _, s := range r.Missing[:min(most, len(r.Missing))] {
		out = append(out, fmt.Sprintf("%d-%d", s.First, s.Last))
	}
	if len(r.Missing) > most {
		out = append(out, fmt.Sprintf("(and %d more)", len(r.Missing)-most))
	}
	return strings.Join(out, " ")
}

// Check compares data with lines 0..n-1: a numbered line outside that
// range is torn.
func (f Lines) Check(data []byte, n int) Report {
	return f.check(data, 0, n, true)
}

// CheckRange counts what arrived of lines first..end-1 only: whole lines
// outside that range (a warm-up before it, probes after it) are left out.
func (f Lines) CheckRange(data []byte, first, end int) Report {
	return f.check(data, first, end, false)
}

func (f Lines) check(data []byte, first, end int, strict bool) Report {
	var r Report
	seen := make([]bool, max(0, end-first))
	want := make([]byte, 0, f.Size)
	last := -1
	for len(data) > 0 {
		k := bytes.IndexByte(data, '\n')
		if k < 0 {
			r.Torn++
			break
		}
		line, whole := data[:k], data[:k+1]
		data = data[k+1:]
		if len(line) == 0 || line[0] != 'L' {
			r.Other = append(r.Other, string(line))
			continue
		}
		i, ok := Number(line)
		inRange := ok && i >= first && i < end
		if !ok || (strict && !inRange) || !bytes.Equal(whole, f.Append(want[:0], i)) {
			r.Torn++
			continue
		}
		if !inRange {
			continue
		}
		r.Received++
		if seen[i-first] {
			r.Duplicated++
		}
		seen[i-first] = true
		if i < last {
			r.OutOfOrder++
		}
		last = i
	}
	r.Lost, r.Missing = missing(seen, first)
	return r
}

// missing counts the false entries of seen and lists them as ranges of
// line numbers (seen[0] is line first).
func missing(seen []bool, first int) (int, []Span) {
	lost := 0
	var spans []Span
	for k := 0; k < len(seen); k++ {
		if seen[k] {
			continue
		}
		j := k
		for j+1 < len(seen) && !seen[j+1] {
			j++
		}
		spans = append(spans, Span{first + k, first + j})
		lost += j - k + 1
		k = j
	}
	return lost, spans
}

// quietPoll is how often WaitQuiet reads the data again.
const quietPoll = 50 * time.Millisecond

// WaitQuiet waits until the data read returns holds line last whole and
// has then kept its length for quiet, and returns that data; ok is false
// when timeout passed first (data is then what was there at the end).
// Waiting only for the last line would miss what comes after it: a late
// duplicate, a second notice.
func (f Lines) WaitQuiet(read func() []byte, last int, quiet, timeout time.Duration) (data []byte, ok bool) {
	return f.waitQuiet(clock.Real(), read, last, quiet, timeout)
}

func (f Lines) waitQuiet(c clock.Clock, read func() []byte, last int, quiet, timeout time.Duration) ([]byte, bool) {
	want := f.Line(last)
	deadline := c.Now().Add(timeout)
	size, has := -1, false
	var since time.Time
	for {
		data := read()
		now := c.Now()
		if len(data) != size {
			size, since = len(data), now
			has = bytes.Contains(data, want)
		}
		if has && now.Sub(since) >= quiet {
			return data, true
		}
		if now.After(deadline) {
			return data, false
		}
		clock.Sleep(context.Background(), c, quietPoll)
	}
}
