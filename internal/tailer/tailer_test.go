package tailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// testTimeout bounds every wait for a condition.
const testTimeout = 15 * time.Second

var modes = []struct {
	name string
	poll bool
}{{"inotify", false}, {"poll", true}, {spliceMode, false}}

// spliceMode is the mode in which open gives the Tailer a pipe
// (Options.Pipe): the bytes come through splice(2), as serve takes them.
const spliceMode = "inotify-splice"

// piped holds the read end of each Tailer's pipe, for collector.add.
var piped sync.Map // *Tailer -> *os.File

// eachMode runs f in inotify mode, in forced-poll mode and with a pipe
// (spliceMode), in parallel.
func eachMode(t *testing.T, f func(t *testing.T, poll bool)) {
	t.Helper()
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f(t, m.poll)
		})
	}
}

// syncBuffer collects log output for assertions.
type syncBuffer = testlab.SyncBuffer

func testLogger(t *testing.T, also io.Writer) *slog.Logger {
	var w io.Writer = t.Output()
	if also != nil {
		w = io.MultiWriter(w, also)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// open starts a Tailer with test-friendly intervals and closes it at the end.
func open(t *testing.T, opts Options, poll bool) *Tailer {
	t.Helper()
	opts.Poll = poll
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.RotateSettle == 0 {
		opts.RotateSettle = 30 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t, nil)
	}
	var pr *os.File
	if strings.Contains(t.Name(), "/"+spliceMode) {
		r, w, size, err := pipe.Private(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		pr, opts.Pipe = r, w
		opts.BufSize = min(size, orDefault(opts.BufSize, size))
	}
	tl, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if pr != nil {
		piped.Store(tl, pr)
	}
	t.Cleanup(func() {
		if err := tl.Close(); err != nil {
			t.Error(err)
		}
	})
	return tl
}

type record struct {
	ev  Event
	end Cursor
	at  int // len(collector.data) before this chunk
	n   int
}

// collector calls Next and keeps everything it returned.
type collector struct {
	tl      *Tailer
	data    []byte
	recs    []record
	rotated atomic.Int32 // EventRotated seen, readable by writer goroutines
}

func (c *collector) add(ch Chunk) {
	if ch.Piped > 0 {
		// The bytes wait in the Tailer's pipe.
		r, _ := piped.Load(c.tl)
		ch.Data = make([]byte, ch.Piped)
		if _, err := io.ReadFull(r.(*os.File), ch.Data); err != nil {
			panic(err)
		}
	}
	c.recs = append(c.recs, record{ev: ch.Event, end: ch.End, at: len(c.data), n: len(ch.Data)})
	c.data = append(c.data, ch.Data...)
	if ch.Event == EventRotated {
		c.rotated.Add(1)
	}
}

func (c *collector) events() []Event {
	var evs []Event
	for _, r := range c.recs {
		if r.ev != EventNone {
			evs = append(evs, r.ev)
		}
	}
	return evs
}

func (c *collector) last() record { return c.recs[len(c.recs)-1] }

// until calls Next until cond holds, failing the test after testTimeout.
func (c *collector) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		ch, err := c.tl.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("waiting for %s: %v (have %d bytes, events %v)", what, err, len(c.data), c.events())
		}
		c.add(ch)
	}
}

// untilLen reads until exactly n bytes (or more) have arrived.
func (c *collector) untilLen(t *testing.T, n int) {
	t.Helper()
	c.until(t, fmt.Sprintf("%d bytes", n), func() bool { return len(c.data) >= n })
}

func line(i int) string { return fmt.Sprintf("line %08d\n", i) }

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(line(i))
	}
	return b.String()
}

// checkSequence checks that data is exactly lines 0..n-1, each once, in order.
func checkSequence(t *testing.T, data []byte, n int) {
	t.Helper()
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, l := range got {
		if want := strings.TrimSuffix(line(i), "\n"); l != want {
			t.Fatalf("line %d is %q, want %q (lost, duplicated or reordered)", i, l, want)
		}
	}
	if len(got) != n {
		t.Fatalf("got %d lines, want %d", len(got), n)
	}
}

// untilLines reads until lines 0..n-1 have arrived and checks that each
// came exactly once, in order.
func (c *collector) untilLines(t *testing.T, n int) {
	t.Helper()
	c.untilLen(t, n*len(line(0)))
	checkSequence(t, c.data, n)
}

// wantEvents reports whether the events seen so far are exactly want,
// and fails the test (going on) when they are not.
func (c *collector) wantEvents(t *testing.T, want ...Event) bool {
	t.Helper()
	if got := c.events(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
		return false
	}
	return true
}

// follow opens a Tailer and reads until n bytes have arrived.
func follow(t *testing.T, opts Options, poll bool, n int) *collector {
	t.Helper()
	c := &collector{tl: open(t, opts, poll)}
	c.untilLen(t, n)
	return c
}

// appender creates name with initial in it and returns a descriptor open
// for appending, as a daemon holds its log across a rotation; the test's
// cleanup closes it.
func appender(t *testing.T, name, initial string) *os.File {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(initial); err != nil {
		t.Fatal(err)
	}
	return f
}

// rotate moves the generations of name up by one as logrotate does
// (name.1 to name.2, then name to name.1) and creates name with next in it.
func rotate(t *testing.T, name, next string) {
	t.Helper()
	k := 1
	for ; fileExists(fmt.Sprintf("%s.%d", name, k)); k++ {
	}
	for ; k > 1; k-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", name, k-1), fmt.Sprintf("%s.%d", name, k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(name, name+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, name, next)
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// ageInOrder gives the files modification times a minute apart, from
// oldest on: file timestamps are coarse (a clock tick on ext4), and the
// Tailer orders missed generations by them.
func ageInOrder(t *testing.T, oldest time.Time, names ...string) {
	t.Helper()
	for i, n := range names {
		tm := oldest.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(n, tm, tm); err != nil {
			t.Fatal(err)
		}
	}
}

// writeBehind runs write in a goroutine with name open for appending, as
// a daemon writes while the Tailer reads. An error it returns fails the
// test; the test's cleanup waits for it.
func writeBehind(t *testing.T, name string, write func(f *os.File) error) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		defer f.Close()
		if err := write(f); err != nil {
			t.Error(err)
		}
	}()
}

func writeFile(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, name, s string) {
	t.Helper()
	if err := appendString(name, s); err != nil {
		t.Fatal(err)
	}
}

func appendString(name, s string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	return errors.Join(err, f.Close())
}

func idCursor(t *testing.T, name string, off int64) Cursor {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fsutil.IDOf(fi)
	return Cursor{Dev: id.Dev, Ino: id.Ino, Offset: off}
}

func TestAppend(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		const before, total = 1000, 50000
		writeFile(t, name, lines(0, before))
		c := &collector{tl: open(t, Options{Path: name, BufSize: 4096}, poll)}

		writeBehind(t, name, func(f *os.File) error {
			// Writes of varying size, so that chunks end mid-line.
			for i := before; i < total; {
				k := min(1+i%97, total-i)
				if _, err := f.WriteString(lines(i, i+k)); err != nil {
					return err
				}
				i += k
			}
			return nil
		})
		size := total * len(line(0))
		c.untilLines(t, total)
		c.wantEvents(t)
		if got, want := c.last().end, idCursor(t, name, int64(size)); got != want {
			t.Errorf("last cursor %v, want %v", got, want)
		}
	})
}

func TestFromEnd(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, name, "old 1\nold 2\n")
		c := &collector{tl: open(t, Options{Path: name, FromEnd: true}, poll)}
		appendFile(t, name, "new\n")
		c.untilLen(t, 4)
		if string(c.data) != "new\n" {
			t.Fatalf("got %q, want only the new line", c.data)
		}
	})
}

// TestRenameRotation rotates twice while a writer keeps writing numbered
// lines, and keeps writing to the old file through its open descriptor after
// each rename (what a daemon does until it is told to reopen): every line
// must arrive exactly once, in order.
func TestRenameRotation(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		const total, late = 30000, 500
		rotations := []int{10000, 20000}
		writeFile(t, name, "")
		c := &collector{tl: open(t, Options{Path: name}, poll)}

		writeBehind(t, name, func(f *os.File) error {
			defer func() { f.Close() }() // the last one it opened
			for i := 0; i < total; i++ {
				if len(rotations) > 0 && i == rotations[0] {
					// Two rotations within one check of the Tailer are out
					// of what it promises (see addMissedGenerations), so
					// wait until it has taken the previous one.
					want := int32(2 - len(rotations))
					for deadline := time.Now().Add(testTimeout); c.rotated.Load() < want; time.Sleep(time.Millisecond) {
						if time.Now().After(deadline) {
							return errors.New("tailer did not finish the previous rotation")
						}
					}
					// The first rotation is logrotate's order: rename,
					// create the new empty file, then the daemon writes on
					// to the old one until it reopens. The second creates
					// the new file only when the daemon reopens.
					createFirst := len(rotations) == 2
					rotations = rotations[1:]
					os.Rename(name+".1", name+".2") // fails the first time
					if err := os.Rename(name, name+".1"); err != nil {
						return err
					}
					if createFirst {
						if err := os.WriteFile(name, nil, 0o644); err != nil {
							return err
						}
					}
					for end := i + late; i < end; i++ { // late lines into the renamed file
						if _, err := f.WriteString(line(i)); err != nil {
							return err
						}
					}
					nf, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
					if err != nil {
						return err
					}
					f.Close()
					f = nf
				}
				if _, err := f.WriteString(line(i)); err != nil {
					return err
				}
			}
			return nil
		})
		c.untilLines(t, total)
		c.wantEvents(t, EventRotated, EventRotated)
		if got, want := c.last().end, idCursor(t, name, int64((total-20000-late)*len(line(0)))); got != want {
			t.Errorf("last cursor %v, want %v", got, want)
		}
	})
}

// TestLateWriteAfterSwitch writes to the old file after the Tailer has
// switched to the new one: the data arrives as EventLate, not lost.
func TestLateWriteAfterSwitch(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		old := appender(t, name, "a\n")
		c := follow(t, Options{Path: name}, poll, 2)

		rotate(t, name, "b\n")
		c.until(t, "rotation", func() bool { return c.rotated.Load() == 1 && len(c.data) == 4 })
		newEnd := c.last().end

		old.WriteString("late\n")
		c.until(t, "late data", func() bool { return len(c.data) == 9 })
		if string(c.data) != "a\nb\nlate\n" {
			t.Fatalf("got %q", c.data)
		}
		if r := c.last(); r.ev != EventLate || r.end != newEnd {
			t.Errorf("late chunk: event %v end %v, want %v at %v", r.ev, r.end, EventLate, newEnd)
		}
	})
}

// TestCopyTruncate copies the file away and truncates it, as logrotate's
// copytruncate does; the writer then goes on writing less than before.
func TestCopyTruncate(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		w := appender(t, name, lines(0, 100))
		c := follow(t, Options{Path: name}, poll, 100*len(line(0)))

		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, name+".1", string(data))
		if err := os.Truncate(name, 0); err != nil {
			t.Fatal(err)
		}
		w.WriteString(lines(100, 105))

		c.untilLines(t, 105)
		if !c.wantEvents(t, EventTruncated) {
			t.FailNow()
		}
		if got, want := c.last().end, idCursor(t, name, 5*int64(len(line(0)))); got != want {
			t.Errorf("last cursor %v, want %v", got, want)
		}
	})
}

// TestTruncateThenWriteMore truncates with O_TRUNC and at once writes more
// than was there before, so that the size never drops below the read offset
// when the Tailer looks (GNU tail misses this). The Tailer notices that the
// bytes before its offset changed.
//
// The residual race, not tested because it cannot be detected: if the
// Tailer is behind, reading, when the rewrite happens, it reads on from its
// old offset into the new content without reaching the end in between, and
// then compares its fingerprint with bytes it has just read itself.
func TestTruncateThenWriteMore(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, name, lines(0, 10))
		logs := &syncBuffer{}
		c := follow(t, Options{Path: name, Logger: testLogger(t, logs)}, poll, 10*len(line(0)))

		// O_TRUNC, then a longer write, both before the Tailer looks again.
		writeFile(t, name, lines(10, 40))

		c.untilLines(t, 40)
		if !c.wantEvents(t, EventTruncated) {
			t.FailNow()
		}
		if !strings.Contains(logs.String(), "bytes before the read offset changed") {
			t.Errorf("truncation not detected by content:\n%s", logs)
		}
	})
}

// TestMissedGeneration rotates twice while the Tailer is not looking: the
// generation in between was never at the name when the Tailer checked, and
// is found among the rotated files by its modification time.
func TestMissedGeneration(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, name, lines(0, 10))
		c := follow(t, Options{Path: name}, poll, 10*len(line(0)))

		appendFile(t, name, lines(10, 20)) // unread when the rotations happen
		rotate(t, name, lines(20, 30))
		rotate(t, name, lines(30, 40))
		ageInOrder(t, time.Now().Add(-2*time.Minute), name+".2", name+".1")

		c.untilLines(t, 40)
		c.wantEvents(t, EventRotated, EventRotated)
	})
}

func TestNotRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, fifo} {
		_, err := Open(Options{Path: p, Poll: true})
		if !errors.Is(err, errNotRegular) {
			t.Errorf("Open(%s): %v, want a not-a-regular-file error", p, err)
		} else {
			t.Log(err)
		}
	}
}

func TestDeleteRecreate(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		w := appender(t, name, lines(0, 10))
		c := follow(t, Options{Path: name}, poll, 5*len(line(0)))

		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
		w.WriteString(lines(10, 20)) // into the deleted file
		c.untilLen(t, 20*len(line(0)))
		writeFile(t, name, lines(20, 30))

		c.untilLines(t, 30)
		if !c.wantEvents(t, EventRotated) {
			t.FailNow()
		}
		for _, r := range c.recs {
			if r.ev == EventRotated && (r.end != idCursor(t, name, 0) || r.at != 20*len(line(0))) {
				t.Errorf("rotation record %+v, want the new file at 0 after the old file's 20 lines", r)
			}
		}
	})
}

func TestCreatedLater(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		// FromEnd applies only to a file that exists at Open.
		c := &collector{tl: open(t, Options{Path: name, FromEnd: true}, poll)}
		writeFile(t, name, lines(0, 3))
		appendFile(t, name, lines(3, 6))
		c.untilLines(t, 6)
		c.wantEvents(t)
	})
}

// TestMissingDirectory asks for inotify on a directory that does not exist:
// the Tailer falls back to polling and still finds the file.
func TestMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "sub")
	logs := &syncBuffer{}
	c := &collector{tl: open(t, Options{Path: filepath.Join(dir, "app.log"), Logger: testLogger(t, logs)}, false)}
	if !c.tl.polling.Load() {
		t.Fatal("not polling although the directory cannot be watched")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "app.log"), "x\n")
	c.untilLen(t, 2)
	if !strings.Contains(logs.String(), "polling the file instead of using inotify") {
		t.Errorf("fallback not logged:\n%s", logs)
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	a, b := lines(0, 10), lines(10, 20)
	all := a + b + lines(20, 30)

	t.Run("same file", func(t *testing.T) {
		eachMode(t, func(t *testing.T, poll bool) {
			name := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, name, a+b)
			cur := idCursor(t, name, int64(len(a)))
			c := follow(t, Options{Path: name, Start: &cur}, poll, len(b))
			appendFile(t, name, lines(20, 30))
			c.untilLen(t, len(all)-len(a))
			if string(c.data) != all[len(a):] {
				t.Fatalf("got %q", c.data)
			}
		})
	})

	t.Run("rotated to name.1", func(t *testing.T) {
		eachMode(t, func(t *testing.T, poll bool) {
			name := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, name, a+b)
			cur := idCursor(t, name, int64(len(a)))
			rotate(t, name, lines(20, 30))
			c := follow(t, Options{Path: name, Start: &cur}, poll, len(all)-len(a))
			if string(c.data) != all[len(a):] {
				t.Fatalf("got %q", c.data)
			}
			c.wantEvents(t, EventRotated)
		})
	})

	t.Run("missed generation", func(t *testing.T) {
		eachMode(t, func(t *testing.T, poll bool) {
			// The cursor is in name.2; name.1 was rotated after it and
			// must be read in between.
			name := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, name+".2", a+b)
			cur := idCursor(t, name+".2", int64(len(a)))
			writeFile(t, name+".1", lines(20, 25))
			writeFile(t, name, lines(25, 30))
			writeFile(t, name+".pos", "not log data, must never be read\n")
			ageInOrder(t, time.Now().Add(-time.Hour), name+".2", name+".1", name+".pos")
			c := follow(t, Options{Path: name, Start: &cur}, poll, len(all)-len(a))
			if string(c.data) != all[len(a):] {
				t.Fatalf("got %q", c.data)
			}
			if got := c.events(); len(got) != 2 {
				t.Fatalf("events %v, want two rotations", got)
			}
		})
	})

	t.Run("rotated away", func(t *testing.T) {
		eachMode(t, func(t *testing.T, poll bool) {
			name := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, name, a)
			writeFile(t, name+".1.gz", "compressed")
			cur := idCursor(t, name, 5)
			cur.Ino += 1 << 40 // no such file any more
			logs := &syncBuffer{}
			c := follow(t, Options{Path: name, Start: &cur, Logger: testLogger(t, logs)}, poll, len(a))
			if string(c.data) != a {
				t.Fatalf("got %q", c.data)
			}
			if s := logs.String(); !strings.Contains(s, "resume position not found") || !strings.Contains(s, "app.log.1.gz") {
				t.Errorf("lost position not logged with the compressed candidates:\n%s", s)
			}

			_, err := Open(Options{Path: name, Start: &cur, IfLost: LostFail, Poll: poll})
			if !errors.Is(err, ErrCursorLost) {
				t.Errorf("LostFail: got %v, want ErrCursorLost", err)
			}
		})
	})

	t.Run("truncated below offset", func(t *testing.T) {
		eachMode(t, func(t *testing.T, poll bool) {
			name := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, name, a)
			cur := idCursor(t, name, int64(len(a)+100))
			c := follow(t, Options{Path: name, Start: &cur}, poll, len(a))
			if string(c.data) != a {
				t.Fatalf("got %q", c.data)
			}
			c.wantEvents(t, EventTruncated)
		})
	})
}

func TestParseCursor(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want Cursor
	}{
		{"0:0:0", Cursor{}},
		{"2049:131074:12345", Cursor{Dev: 2049, Ino: 131074, Offset: 12345}},
		{"18446744073709551615:18446744073709551615:9223372036854775807", Cursor{Dev: 1<<64 - 1, Ino: 1<<64 - 1, Offset: 1<<63 - 1}},
	}
	for _, tc := range good {
		got, err := ParseCursor(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
	bad := []string{
		"", "1:2", "1:2:3:4", "a:b:c", " 1:2:3", "1:2:3 ", "1 :2:3", "1:2:3\n",
		"1:2:-3", "-1:2:3", "+1:2:3", "1:+2:3", "1::3", "::", "1:2:",
		"01:2:3", "1:2:03", "0x1:2:3", "1e3:2:3", "1.0:2:3", "1:2:3.5", "１:2:3",
		"18446744073709551616:1:1", "1:18446744073709551616:1", "1:1:9223372036854775808",
		"1:2:" + strings.Repeat("9", 100),
	}
	for _, in := range bad {
		if got, err := ParseCursor(in); err == nil {
			t.Errorf("ParseCursor(%q) = %v, want an error", in, got)
		}
	}
}

func TestClose(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		tl := open(t, Options{Path: name}, poll)
		errc := make(chan error, 1)
		go func() {
			_, err := tl.Next(context.Background())
			errc <- err
		}()
		// Close while Next is blocked or about to block: either way it
		// must return ErrClosed.
		if err := tl.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Next after Close: %v, want ErrClosed", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Next did not return after Close")
		}
	})
}

// TestLatency checks that in inotify mode an append is seen at once, not
// at the next safety check: with the safety check an hour away, an append
// seen at all was seen through inotify. The deadline only catches that
// (a hang); the latency is logged, not bounded, since a loaded machine
// says nothing about the code.
func TestLatency(t *testing.T) {
	t.Parallel()
	name := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, name, "")
	c := &collector{tl: open(t, Options{Path: name, PollInterval: DefaultPollInterval, safety: time.Hour}, false)}
	var worst time.Duration
	for i := range 20 {
		start := time.Now()
		// Written while Next blocks or before it does: either way only
		// an inotify event (or the initial look) can show it.
		go func() {
			if err := appendString(name, line(i)); err != nil {
				t.Error(err)
			}
		}()
		c.untilLen(t, (i+1)*len(line(0)))
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst latency %v (safety check an hour away)", worst)
}

// TestIdleCPU checks that a Next waiting for data does not spin: it
// counts the process's read system calls, which a spinning reader makes
// by the thousand however little CPU a loaded machine gives it, where a
// CPU time bound would flake. Not parallel, so that the reads are this
// test's alone.
func TestIdleCPU(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, name, "x\n")
			c := follow(t, Options{Path: name, PollInterval: DefaultPollInterval}, m.poll, 2)

			before := readCalls(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if _, err := c.tl.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next: %v, want the deadline", err)
			}
			// Polling every 250 ms reads the fingerprint a few times.
			if used := readCalls(t) - before; used > 50 {
				t.Errorf("idle Next made %d read calls in 1 s: a busy loop", used)
			} else {
				t.Logf("idle Next made %d read calls in 1 s", used)
			}
		})
	}
}

func readCalls(t *testing.T) int64 {
	t.Helper()
	n, err := testlab.ProcessReads(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// BenchmarkThroughput measures reading a file that another goroutine
// appends to as fast as it can, in lines of 14 bytes.
func BenchmarkThroughput(b *testing.B) {
	name := filepath.Join(b.TempDir(), "app.log")
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	tl, err := Open(Options{Path: name})
	if err != nil {
		b.Fatal(err)
	}
	defer tl.Close()
	const linesPerOp = 1 << 16
	batch := []byte(lines(0, 4096))
	size := int64(len(batch)) * (linesPerOp / 4096)
	b.SetBytes(size)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ResetTimer()
	for range b.N {
		go func() {
			for range linesPerOp / 4096 {
				f.Write(batch)
			}
		}()
		for got := int64(0); got < size; {
			ch, err := tl.Next(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			got += int64(len(ch.Data))
		}
	}
}
