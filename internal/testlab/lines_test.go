package testlab

import (
	"bytes"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

func TestLinesFormat(t *testing.T) {
	t.Parallel()
	f := Numbered(20)
	if got, want := string(f.Line(42)), "L00000042 qrstuvwxy\n"; got != want {
		t.Errorf("Line(42) = %q, want %q", got, want)
	}
	if got, want := string(f.Line(43)), "L00000043 rstuvwxyz\n"; got != want {
		t.Errorf("Line(43) = %q, want %q: the body must shift with the number", got, want)
	}
	if got := f.Range(3, 6); !bytes.Equal(got, append(append(f.Line(3), f.Line(4)...), f.Line(5)...)) {
		t.Errorf("Range(3, 6) = %q", got)
	}
	if got := string(Numbered(MinLineSize).Line(99_999_999)); got != "L99999999 \n" {
		t.Errorf("shortest line %q", got)
	}
	fill := Lines{Size: 16, Fill: func(b []byte, i, n int) []byte { return append(b, bytes.Repeat([]byte{'x'}, n)...) }}
	if got := string(fill.Line(7)); got != "L00000007 xxxxx\n" {
		t.Errorf("with Fill: %q", got)
	}
	for _, tc := range []struct {
		line string
		want int
		ok   bool
	}{
		{"L00000042 abc", 42, true},
		{"L00000042 ", 42, true},
		{"L00000042", 0, false},
		{"L0000004x abc", 0, false},
		{"L+0000042 abc", 0, false},
		{"L000000042 abc", 0, false},
		{"P0000042 abc", 0, false},
		{"", 0, false},
	} {
		if got, ok := Number([]byte(tc.line)); got != tc.want || ok != tc.ok {
			t.Errorf("Number(%q) = %d, %v; want %d, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
	for _, bad := range []func(){
		func() { Numbered(MinLineSize - 1).Line(0) },
		func() { f.Line(-1) },
		func() { f.Line(100_000_000) },
		func() { Lines{Size: 16, Fill: func(b []byte, i, n int) []byte { return b }}.Line(0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a line the format cannot hold did not panic")
				}
			}()
			bad()
		}()
	}
}

// TestCheck feeds crafted streams of 10 lines to the checker: each fault
// must be counted exactly, and only where it is.
func TestCheck(t *testing.T) {
	t.Parallel()
	f := Numbered(24)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	line := f.Line
	for _, tc := range []struct {
		name string
		data []byte
		want Report
	}{
		{"exact", f.Range(0, 10), Report{Received: 10}},
		{"empty", nil, Report{Lost: 10, Missing: []Span{{0, 9}}}},
		{"lost range", cat(f.Range(0, 3), f.Range(6, 10)),
			Report{Received: 7, Lost: 3, Missing: []Span{{3, 5}}}},
		{"lost first and last", f.Range(1, 9),
			Report{Received: 8, Lost: 2, Missing: []Span{{0, 0}, {9, 9}}}},
		{"duplicate", cat(f.Range(0, 5), line(4), f.Range(5, 10)),
			Report{Received: 11, Duplicated: 1}},
		{"replayed block", cat(f.Range(0, 8), f.Range(5, 10)),
			Report{Received: 13, Duplicated: 3, OutOfOrder: 1}},
		{"swapped", cat(f.Range(0, 3), line(4), line(3), f.Range(5, 10)),
			Report{Received: 10, OutOfOrder: 1}},
		{"one moved to the front", cat(line(7), f.Range(0, 7), f.Range(8, 10)),
			Report{Received: 10, OutOfOrder: 1}},
		{"torn: head of 3 glued to tail of 4", cat(f.Range(0, 3), line(3)[:15], line(4)[15:], f.Range(5, 10)),
			Report{Received: 8, Lost: 2, Torn: 1, Missing: []Span{{3, 4}}}},
		{"torn: tail without head", cat(f.Range(0, 3), line(3)[12:], f.Range(4, 10)),
			Report{Received: 9, Lost: 1, Other: []string{string(line(3)[12:23])}, Missing: []Span{{3, 3}}}},
		{"torn: byte changed", cat(f.Range(0, 3), bytes.Replace(line(3), []byte("h"), []byte("H"), 1), f.Range(4, 10)),
			Report{Received: 9, Lost: 1, Torn: 1, Missing: []Span{{3, 3}}}},
		{"torn: number names another line's body", cat(f.Range(0, 3), append([]byte("L00000003"), line(4)[9:]...), f.Range(4, 10)),
			Report{Received: 9, Lost: 1, Torn: 1, Missing: []Span{{3, 3}}}},
		{"trailing line without newline", cat(f.Range(0, 9), line(9)[:23]),
			Report{Received: 9, Lost: 1, Torn: 1, Missing: []Span{{9, 9}}}},
		{"trailing partial line", cat(f.Range(0, 10), line(3)[:5]),
			Report{Received: 10, Torn: 1}},
		{"beyond the stream", cat(f.Range(0, 10), line(10)),
			Report{Received: 10, Torn: 1}},
		{"other lines", cat(f.Range(0, 2), []byte("2026-01-01T00:00:00Z h sshlogfwd: -- MARK --\n"), f.Range(2, 10), []byte("\n")),
			Report{Received: 10, Other: []string{"2026-01-01T00:00:00Z h sshlogfwd: -- MARK --", ""}}},
	} {
		got := f.Check(tc.data, 10)
		if !sameReport(got, tc.want) {
			t.Errorf("%s:\n got %s, missing %v, other %q\nwant %s, missing %v, other %q", tc.name, got, got.Missing, got.Other, tc.want, tc.want.Missing, tc.want.Other)
		}
		if exact := tc.name == "exact"; got.Exact(10) != exact {
			t.Errorf("%s: Exact = %v", tc.name, !exact)
		}
	}
}

func sameReport(a, b Report) bool {
	return a.Received == b.Received && a.Lost == b.Lost && a.Duplicated == b.Duplicated && a.OutOfOrder == b.OutOfOrder &&
		a.Torn == b.Torn && slices.Equal(a.Other, b.Other) && slices.Equal(a.Missing, b.Missing)
}

func TestCheckRange(t *testing.T) {
	t.Parallel()
	f := Numbered(24)
	// A warm-up (0..4), the counted lines 5..14 with 8 lost, 10 again
	// after 11 and 12 torn, and probes after them (15..17).
	data := bytes.Join([][]byte{f.Range(0, 8), f.Range(9, 12), f.Line(10), f.Line(12)[:14], []byte("\n"), f.Range(13, 18)}, nil)
	want := Report{Received: 9, Lost: 2, Duplicated: 1, OutOfOrder: 1, Torn: 1, Missing: []Span{{8, 8}, {12, 12}}}
	if got := f.CheckRange(data, 5, 15); !sameReport(got, want) {
		t.Errorf("got %s, missing %v; want %s, missing %v", got, got.Missing, want, want.Missing)
	}
}

func TestGapsAndTail(t *testing.T) {
	t.Parallel()
	r := Report{Missing: []Span{{1, 1}, {3, 7}, {9, 9}}}
	if got := r.Gaps(8); got != "1-1 3-7 9-9" {
		t.Errorf("Gaps(8) = %q", got)
	}
	if got := r.Gaps(2); got != "1-1 3-7 (and 1 more)" {
		t.Errorf("Gaps(2) = %q", got)
	}
	f := Numbered(24)
	data := bytes.Join([][]byte{f.Range(0, 10), f.Line(4), f.Line(12)[:12]}, nil)
	if got := f.TailMax(data, 3); got != 12 {
		t.Errorf("TailMax with a partial line 12 at the end = %d, want 12", got)
	}
	if got := f.TailMax(f.Range(0, 10)[:5], 3); got != -1 {
		t.Errorf("TailMax without a numbered line = %d, want -1", got)
	}
	if !f.Contains(data, 9) || f.Contains(data, 12) {
		t.Error("Contains: want line 9 whole and line 12 not")
	}
}

// quietRun drives waitQuiet on a fake clock: every read is served by the
// test, and between reads the clock moves by quietPoll.
type quietRun struct {
	t     *testing.T
	clk   *clock.Fake
	reads chan []byte
	res   chan quietResult
}

type quietResult struct {
	data []byte
	ok   bool
}

func startQuiet(t *testing.T, f Lines, last int, quiet, timeout time.Duration) *quietRun {
	q := &quietRun{t: t, clk: clock.NewFake(time.Unix(1e9, 0)), reads: make(chan []byte), res: make(chan quietResult, 1)}
	go func() {
		data, ok := f.waitQuiet(q.clk, func() []byte { return <-q.reads }, last, quiet, timeout)
		q.res <- quietResult{data, ok}
	}()
	return q
}

// serve answers one read with data and returns the result if WaitQuiet
// returned after it, or nil if it went back to waiting.
func (q *quietRun) serve(data []byte) *quietResult {
	q.t.Helper()
	q.reads <- data
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); runtime.Gosched() {
		select {
		case r := <-q.res:
			return &r
		default:
		}
		if q.clk.Waiters() > 0 {
			return nil
		}
	}
	q.t.Fatal("waitQuiet neither returned nor waited within 10 s (hang)")
	return nil
}

// wait serves data at every poll for d of fake time; it fails if WaitQuiet
// returns meanwhile.
func (q *quietRun) wait(data []byte, d time.Duration) {
	q.t.Helper()
	for range d / quietPoll {
		q.clk.Advance(quietPoll)
		if r := q.serve(data); r != nil {
			q.t.Fatalf("returned after %v of fake time, too early", q.clk.Now().Sub(time.Unix(1e9, 0)))
		}
	}
}

func TestWaitQuiet(t *testing.T) {
	t.Parallel()
	f := Numbered(24)
	const quiet = time.Second
	q := startQuiet(t, f, 9, quiet, time.Minute)
	if q.serve(f.Range(0, 9)) != nil {
		t.Fatal("returned without the last line")
	}
	q.wait(f.Range(0, 9), 2*quiet) // quiet, but incomplete
	all := f.Range(0, 10)
	q.wait(all, quiet-quietPoll) // complete, but not quiet for long enough yet
	// A late duplicate restarts the quiet time.
	late := append(all, f.Line(9)...)
	q.wait(late, quiet)
	q.clk.Advance(quietPoll)
	r := q.serve(late)
	if r == nil || !r.ok {
		t.Fatalf("still waiting (or timed out: %v) once quiet for %v after the last growth", r, quiet)
	}
	if rep := f.Check(r.data, 10); rep.Duplicated != 1 {
		t.Errorf("the late duplicate is not in the data returned: %s", rep)
	}
}

func TestWaitQuietTimeout(t *testing.T) {
	t.Parallel()
	f := Numbered(24)
	q := startQuiet(t, f, 9, 100*time.Millisecond, 300*time.Millisecond)
	some := f.Range(0, 5)
	if q.serve(some) != nil {
		t.Fatal("returned without the last line")
	}
	q.wait(some, 300*time.Millisecond) // at the deadline: not past it yet
	q.clk.Advance(quietPoll)
	r := q.serve(some)
	if r == nil || r.ok || !bytes.Equal(r.data, some) {
		t.Fatalf("after the deadline: %+v, want not ok with the data there", r)
	}
}
