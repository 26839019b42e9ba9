package e2e

// The real logrotate against both far sides under a steady stream (issue
// #15): the log host's file that `sshlogfwd receive` appends to, and the
// watched file that `sshlogfwd serve` follows, in the modes administrators
// use. TestContribLogrotate (units_test.go) checks the shipped stanzas,
// one rotation between two batches; these check each mode's promise
// while lines keep coming.

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// straceBin slows logrotate down at one system call: what a loaded machine
// does to it at random.
const straceBin = "/usr/bin/strace"

// lrRotator runs the real logrotate on one file with its own configuration
// and state file.
type lrRotator struct {
	t           *testing.T
	path        string
	conf, state string
	// slow, if set, delays logrotate's open of a new file at path (its
	// create, right after the rename) by this much, through strace.
	slow time.Duration
	runs int
	// ended is the second in which the last run ended.
	ended int64
}

// newLRRotator writes a configuration for path with stanza (rotate 10,
// missingok and the stanza's lines).
func newLRRotator(t *testing.T, path, stanza string, slow time.Duration) *lrRotator {
	t.Helper()
	testlab.RequireBinary(t, logrotateBin)
	if slow > 0 {
		testlab.RequireBinary(t, straceBin)
	}
	dir := t.TempDir()
	r := &lrRotator{t: t, path: path, conf: filepath.Join(dir, "logrotate.conf"), state: filepath.Join(dir, "state"), slow: slow}
	conf := fmt.Sprintf("%q {\n\trotate 10\n\tmissingok\n\t%s\n}\n", path, strings.ReplaceAll(stanza, "\n", "\n\t"))
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// rotate runs `logrotate -f -s STATE CONF` once, in a later second than
// the one the last run ended in: logrotate names dated copies by the time
// it started (dateformat %s), and skips a rotation whose name is taken.
// Its time(2) is the kernel's coarse clock, a few milliseconds behind
// ours: a run started right at the turn of a second still named its copy
// after the second before (measured), hence the margin.
// logrotate's complaints (a destination that already exists, renamed to
// a .backup) fail the test even where its exit status is 0.
func (r *lrRotator) rotate() {
	t := r.t
	t.Helper()
	const margin = 100 * time.Millisecond
	testlab.WaitFor(t, 3*time.Second, func() bool { return time.Now().Add(-margin).Unix() > r.ended }, "a new second")
	defer func() { r.ended = time.Now().Unix() }()
	args := []string{"-f", "-s", r.state, r.conf}
	cmd := exec.Command(logrotateBin, args...)
	if r.slow > 0 {
		// Only system calls on path are delayed (-P): the open with
		// O_CREAT|O_EXCL that is logrotate's create.
		cmd = exec.Command(straceBin, append([]string{"-f", "-qq", "-o", "/dev/null", "-P", r.path,
			"-e", "trace=openat", "-e", fmt.Sprintf("inject=openat:delay_enter=%d", r.slow.Microseconds()), logrotateBin}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("logrotate, rotation %d: %v\n%s", r.runs+1, err, out)
	}
	r.runs++
}

// lrGenerations returns the rotated copies of path, oldest first:
// logrotate numbers them path.1 (the newest) upwards, or, with dateext,
// names them by date, which sorts oldest first. Backups logrotate made of
// a file that was in its way (NAME-YYYYMMDDHH.backup) are not
// generations: lrBackups lists them.
func lrGenerations(path string) []string {
	dir, base := filepath.Split(path)
	ents, _ := os.ReadDir(dir)
	var numbered, dated []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, base) || name == base || strings.HasSuffix(name, ".backup") {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(name[len(base):], ".gz"), ".")); err == nil {
			numbered = append(numbered, name)
		} else {
			dated = append(dated, name)
		}
	}
	num := func(name string) int {
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(name[len(base):], ".gz"), "."))
		return n
	}
	slices.SortFunc(numbered, func(a, b string) int { return num(b) - num(a) })
	slices.Sort(dated)
	var out []string
	for _, name := range append(dated, numbered...) {
		out = append(out, filepath.Join(dir, name))
	}
	return out
}

// lrBackups lists the files logrotate renamed out of its way.
func lrBackups(path string) []string {
	names, _ := filepath.Glob(path + "*.backup")
	return names
}

// lrRead reads a file, decompressing a .gz one.
func lrRead(t *testing.T, name string) []byte {
	t.Helper()
	b := readFile(name)
	if !strings.HasSuffix(name, ".gz") || len(b) == 0 {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// lrConcat is path's rotated copies, oldest first, then path: the stream
// as it was written, when nothing was lost or put elsewhere.
func lrConcat(t *testing.T, path string) []byte {
	t.Helper()
	var b []byte
	for _, name := range lrGenerations(path) {
		b = append(b, lrRead(t, name)...)
	}
	return append(b, readFile(path)...)
}

// lrNames lists the names in dir, for failure messages and logs.
func lrNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			names = append(names, fmt.Sprintf("%s(%d)", e.Name(), fi.Size()))
		}
	}
	return names
}

// lrMode is one way of rotating, and what it promises.
type lrMode struct {
	name   string
	stanza string
	// slow delays logrotate between its rename and its create (see
	// lrRotator.slow).
	slow time.Duration
	// exact: every line exactly once across the file and its rotated
	// copies. Otherwise (copytruncate) what the writer adds between
	// logrotate's copy and its truncation is lost, and the loss per
	// rotation must stay within lossBound lines.
	exact     bool
	lossBound int
	// gz is how many of the rotated copies are compressed in the end.
	gz int
}

// TestReceiveLogrotate runs the real logrotate, three times, against the
// file `sshlogfwd receive` appends to while push --reliable delivers 2,000
// lines/s. With create (also compressed, dated, or with logrotate slowed
// down between its rename and its create) and with nocreate (receive makes
// the file), every line is exactly once in the rotated copies and the
// file, in order; logrotate never finds a file in the way of its create
// (it would rename it to NAME-YYYYMMDDHH.backup, with receive's lines in
// it). With copytruncate, what receive appends between logrotate's copy
// and its truncation is lost: measured, and bounded.
func TestReceiveLogrotate(t *testing.T) {
	t.Parallel()
	testlab.RequireBinary(t, logrotateBin)
	const rate, rotations, between = 2000, 3, 1000
	for _, tc := range []lrMode{
		{name: "create", stanza: "create", exact: true},
		{name: "create+compress+delaycompress", stanza: "create\ncompress\ndelaycompress", exact: true, gz: rotations - 1},
		// The name has no %: the test's temporary directories, named
		// after it, end up in ssh's configuration, which expands %.
		{name: "dateext, dateformat with epoch", stanza: "create\ndateext\ndateformat -%Y%m%d-%s", exact: true},
		{name: "create, logrotate slowed 300ms before its create", stanza: "create", slow: 300 * time.Millisecond, exact: true},
		{name: "nocreate", stanza: "nocreate", exact: true},
		{name: "copytruncate", stanza: "copytruncate", lossBound: rate / 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newRelLab(t, relLabOptions{})
			rot := newLRRotator(t, l.Remote, tc.stanza, tc.slow)
			l.push(t)
			w := startRelWriter(t, l.FIFO, rate, 0)
			for range rotations {
				waitGrowth(t, l.Remote, between*relLineSize, 30*time.Second)
				rot.rotate()
			}
			waitGrowth(t, l.Remote, between*relLineSize, 30*time.Second)
			n := w.Stop(t)
			_, r := waitLines(t, relLines, func() []byte { return lrConcat(t, l.Remote) }, n, 60*time.Second)
			lrCheck(t, "receive", tc, l.Remote, rotations, rate, n, r)
		})
	}
}

// lrCheck checks what a mode promises of the rotated copies of path and
// path itself, which hold the n lines written at rate with r.
func lrCheck(t *testing.T, side string, tc lrMode, path string, rotations, rate, n int, r testlab.Report) {
	t.Helper()
	lrCheckFiles(t, tc, path, rotations, relLines, n)
	lrCheckReport(t, side, tc, rotations, rate, n, r, lrStarts(t, path), lrNames(filepath.Dir(path)))
}

// lrStarts returns the number of the first line of every file that
// follows a rotation: each rotated copy but the oldest, then path itself
// (if it has a line yet).
func lrStarts(t *testing.T, path string) []int {
	t.Helper()
	var starts []int
	gens := lrGenerations(path)
	for i, name := range append(gens, path) {
		data := readFile(name)
		if i < len(gens) {
			data = lrRead(t, name)
		}
		line, _, _ := bytes.Cut(data, []byte{'\n'})
		if n, ok := testlab.Number(line); ok && i > 0 {
			starts = append(starts, n)
		}
	}
	return starts
}

// lrCheckFiles checks that logrotate rotated path as often as it was run,
// each time something, compressed as the mode says, and that it never
// found a file in its way (a backup would hold lines of ln).
func lrCheckFiles(t *testing.T, tc lrMode, path string, rotations int, ln testlab.Lines, n int) {
	t.Helper()
	gens := lrGenerations(path)
	gz := 0
	for _, g := range gens {
		if strings.HasSuffix(g, ".gz") {
			gz++
		}
		if len(lrRead(t, g)) == 0 {
			t.Errorf("rotated copy %s is empty: a rotation of nothing proves nothing", g)
		}
	}
	if len(gens) != rotations || gz != tc.gz {
		t.Errorf("rotated copies %q (%d compressed), want %d (%d compressed); files %v", gens, gz, rotations, tc.gz, lrNames(filepath.Dir(path)))
	}
	for _, b := range lrBackups(path) {
		t.Errorf("logrotate found a file in the way of its create and renamed it to %s, which holds %s", b, ln.CheckRange(readFile(b), 0, n))
	}
}

// lrCheckReport checks r, what arrived of n lines written at rate: every
// line exactly once in order, or, for a mode that loses lines, none
// repeated, reordered or garbled, at most one torn per rotation, and lost
// only what the rotation's window can take: the lines right before the
// first line of a file that follows a rotation (starts), never one after
// it, and at most the mode's bound per rotation. It logs the figures
// (docs/guarantees.md quotes them).
func lrCheckReport(t *testing.T, side string, tc lrMode, rotations, rate, n int, r testlab.Report, starts []int, files []string) {
	t.Helper()
	perRotation := float64(r.Lost) / float64(rotations)
	t.Logf("LOGROTATE %s %s, %d rotations, %d lines at %d/s: %s (%.1f lost per rotation, %.1f ms of writing); missing %s; files %v",
		side, tc.name, rotations, n, rate, r, perRotation, perRotation*1000/float64(rate), r.Gaps(8), files)
	note := ""
	if !tc.exact {
		note = fmt.Sprintf("%.1f lines lost per rotation (bound %d)", perRotation, tc.lossBound)
	}
	recordLogrotate(t, side, tc, rotations, rate, n, r, note)
	if tc.exact {
		exactlyOnce(t, r, n)
		return
	}
	// A copy made while a write was half done can end in part of a
	// line; the rest was lost with the truncation.
	if r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn > rotations || len(r.Other) != 0 {
		t.Errorf("%s must never repeat, reorder or garble a line, nor tear more than one per rotation: %s; other lines %q", tc.name, r, first(r.Other, 5))
	}
	for _, gap := range r.Missing {
		if !slices.Contains(starts, gap.Last+1) {
			t.Errorf("lines %d-%d lost, not right before the first line of a file after a rotation (first lines %v): lost where %s does not lose", gap.First, gap.Last, starts, tc.name)
		}
	}
	if len(r.Missing) > rotations {
		t.Errorf("%d gaps in %d rotations", len(r.Missing), rotations)
	}
	if r.Lost > tc.lossBound*rotations {
		t.Errorf("%d lines lost in %d rotations, more than the bound of %d per rotation (%v of writing at %d lines/s): %s",
			r.Lost, rotations, tc.lossBound, time.Duration(tc.lossBound)*time.Second/time.Duration(rate), rate, r.Gaps(8))
	}
}

// recordLogrotate records a run for the logrotate table of
// docs/guarantees.md (scripts/faulttable.sh).
func recordLogrotate(t *testing.T, side string, tc lrMode, rotations, rate, n int, r testlab.Report, note string) {
	t.Helper()
	mode := "push --reliable (receive)"
	if side == "serve" {
		mode = "pull (serve)"
	}
	times := fmt.Sprintf("%d forced rotations", rotations)
	if rotations == 1 {
		times = "1 forced rotation"
	}
	fault := fmt.Sprintf("logrotate %s: %s at %d,%03d lines/s", tc.name, times, rate/1000, rate%1000)
	testlab.RecordResult(t, testlab.FaultResult{
		Table: "logrotate", Mode: mode, Fault: fault, Lines: n, Faults: rotations,
		Lost: r.Lost, Duplicated: r.Duplicated, OutOfOrder: r.OutOfOrder, Torn: r.Torn, Note: note,
	})
}

// TestServeLogrotate runs the real logrotate three times against the file
// serve follows while a writer appends 2,000 lines/s and reopens the file
// after each rotation (what postrotate's HUP makes a daemon do), also
// when pull is away during a rotation and serve resumes in the rotated
// file. create, create+compress+delaycompress and dateext promise every
// line exactly once through pull. copytruncate promises less: what the
// writer adds between serve's last read (or logrotate's copy) and the
// truncation exists only in the copy; nothing may be repeated or
// reordered, and the loss is measured and bounded.
func TestServeLogrotate(t *testing.T) {
	t.Parallel()
	testlab.RequireBinary(t, logrotateBin)
	const rate = 2000
	for _, tc := range []struct {
		lrMode
		reopen bool   // the daemon reopens its file after a rotation (postrotate's HUP)
		away   []bool // per rotation: pull is stopped while it happens
	}{
		{lrMode{name: "create", stanza: "create", exact: true}, true, []bool{false, true, false}},
		{lrMode{name: "create+compress+delaycompress", stanza: "create\ncompress\ndelaycompress", exact: true, gz: 2}, true, []bool{false, true, false}},
		{lrMode{name: "dateext", stanza: "create\ndateext", exact: true}, true, []bool{true}},
		// The name has no %: the test's temporary directories, named
		// after it, end up in ssh's configuration, which expands %.
		{lrMode{name: "dateext, dateformat with epoch", stanza: "create\ndateext\ndateformat -%Y%m%d-%s", exact: true}, true, []bool{false, true, false}},
		// serve's own latency adds to logrotate's window here.
		{lrMode{name: "copytruncate", stanza: "copytruncate", lossBound: rate / 4}, false, []bool{false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newPLLab(t)
			rot := newLRRotator(t, l.log, tc.stanza, 0)
			w := newPLWriter(t, l.log)
			p := l.startPull("--from", "start")
			w.Start(t, 0, rate, nil)
			for _, away := range tc.away {
				// Each rotation once pull has the next 1,000 lines (it
				// has caught up with the last one).
				mark := w.Next() + 1000
				testlab.WaitFor(t, 30*time.Second, func() bool { return plLines.TailMax(readFile(l.out), 8) >= mark },
					"pull to get line %d: %s\n%s", mark, plLines.Check(readFile(l.out), w.Next()), p.log())
				if away {
					if err := p.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
						t.Fatalf("pull after SIGTERM: %v", err)
					}
					// Lines only the rotated file will hold beyond pull's
					// cursor: serve must resume there to send them.
					next := w.Next() + 200
					testlab.WaitFor(t, 10*time.Second, func() bool { return w.Next() >= next }, "writer to write 200 lines")
				}
				rot.rotate()
				if tc.reopen {
					w.Reopen()
				}
				if away {
					next := w.Next() + 300
					testlab.WaitFor(t, 10*time.Second, func() bool { return w.Next() >= next }, "writer to write 300 lines")
					p = l.startPull()
				}
			}
			last := w.Next() + 500
			testlab.WaitFor(t, 10*time.Second, func() bool { return w.Next() >= last }, "writer to write 500 lines")
			n := w.Stop(t)
			lrCheckFiles(t, tc.lrMode, l.log, len(tc.away), plLines, n)
			r := lrWaitPulled(t, tc.exact, l, p, n)
			lrCheckReport(t, "serve", tc.lrMode, len(tc.away), rate, n, r, lrStarts(t, l.log), lrNames(l.dir))
		})
	}
}

// lrWaitPulled waits until pull has the writer's n lines and has stopped
// writing: all of them for a mode that loses nothing (more fails at once),
// or the last one.
func lrWaitPulled(t *testing.T, exact bool, l *plLab, p *plProc, n int) testlab.Report {
	t.Helper()
	if exact {
		return waitPulled(t, l.out, n, 60*time.Second, p.log)
	}
	data, ok := plLines.WaitQuiet(func() []byte { return readFile(l.out) }, n-1, quietAfterLast, 60*time.Second)
	r := plLines.Check(data, n)
	if !ok {
		t.Fatalf("the last line did not arrive or the output did not settle: %s\n%s", r, p.log())
	}
	return r
}
