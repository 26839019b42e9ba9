package journal

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// The test binary doubles as a fake journalctl (see os/exec's tests) when
// run through a symlink named "fakejournalctl-MODE": the real journalctl is
// tested in follow_test.go; this is for the supervisor's own logic, driven
// by a fake clock.
func TestMain(m *testing.M) {
	if mode, ok := strings.CutPrefix(filepath.Base(os.Args[0]), "fakejournalctl-"); ok {
		os.Exit(fakeJournalctl(mode, os.Args[1:]))
	}
	if filepath.Base(os.Args[0]) == "fakepush" {
		os.Exit(fakePush(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeProgram returns a path that runs the fake journalctl in mode.
func fakeProgram(t *testing.T, mode string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "fakejournalctl-"+mode)
	if err := os.Symlink(exe, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func fakeEntry(i uint64) testlab.JournalEntry {
	return testlab.JournalEntry{"__CURSOR": cursorAt(seqA, strconv.FormatUint(i, 16)), "__REALTIME_TIMESTAMP": "1796193822374563",
		"MESSAGE": fmt.Sprintf("msg %06d", i), "SYSLOG_IDENTIFIER": "t", "_HOSTNAME": "h"}
}

// fakeJournalctl modes:
//
//	fail                  says why on stderr and exits 1 at once
//	stubborn              ignores SIGTERM, says "ready", waits to be killed
//	nomsg-...             see fakeNoMessage (reread_test.go)
//	racy-FIRST-LAST-PER   as journal-, but its first probe prints nothing, as
//	    a journalctl does that lists the directory while a file is rotated
//	journal-FIRST-LAST-PER  a journal holding the entries FIRST..LAST of
//	    seqnum id seqA: a probe (--lines=1) prints the entry at --cursor or
//	    the next one; a follower prints from --cursor (inclusive) or FIRST,
//	    at most PER entries, then, if there are more, half an entry, and
//	    dies (exit 3); otherwise it waits to be stopped.
func fakeJournalctl(mode string, args []string) int {
	var cursor string
	probe := false
	for _, a := range args {
		if c, ok := strings.CutPrefix(a, "--cursor="); ok {
			cursor = c
		}
		probe = probe || a == "--lines=1"
	}
	f := strings.Split(mode, "-")
	switch f[0] {
	case "fail":
		fmt.Fprintln(os.Stderr, "Failed to open /nowhere: No such file or directory")
		return 1
	case "nomsg":
		return fakeNoMessage(f[1:], cursor, probe)
	case "racy":
		if mark := filepath.Join(filepath.Dir(os.Args[0]), "probed"); probe {
			if _, err := os.Stat(mark); err != nil {
				os.WriteFile(mark, nil, 0o644)
				return 0
			}
		}
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(os.Stderr, "ready")
		time.Sleep(time.Hour)
		return 0
	}
	first, _ := strconv.ParseUint(f[1], 10, 64)
	last, _ := strconv.ParseUint(f[2], 10, 64)
	per, _ := strconv.ParseUint(f[3], 10, 64)
	start := first
	if p, err := parseCursor(cursor); err == nil && p.seqnumID == seqA && p.seqnum > start {
		start = p.seqnum
	}
	if probe {
		if start <= last {
			os.Stdout.Write(exportOf(fakeEntry(start)))
		}
		return 0
	}
	var out []byte
	for i := start; i <= last && i < start+per; i++ {
		out = append(out, exportOf(fakeEntry(i))...)
	}
	if start+per <= last {
		half := exportOf(fakeEntry(start + per))
		os.Stdout.Write(append(out, half[:len(half)/2]...))
		fmt.Fprintln(os.Stderr, "fake: dying")
		return 3
	}
	os.Stdout.Write(out)
	time.Sleep(time.Hour)
	return 0
}

// syncBuffer is a log destination the test can read while Follow writes.
type syncBuffer = testlab.SyncBuffer

// fakeFollow runs Follow on the fake journalctl in mode with a fake clock.
func fakeFollow(t *testing.T, mode string, opts Options) (*collector, *clock.Fake, *syncBuffer, func() error) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	opts.Journalctl = fakeProgram(t, mode)
	opts.Directory = "/fake"
	opts.Clock = clk
	opts.Logger = slog.New(slog.NewTextHandler(ioMulti(t, logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, stop := follow(t, opts)
	return c, clk, logs, stop
}

func ioMulti(t *testing.T, b *syncBuffer) *multiWriter { return &multiWriter{t: t, b: b} }

type multiWriter struct {
	t *testing.T
	b *syncBuffer
}

func (m *multiWriter) Write(p []byte) (int, error) {
	m.b.Write(p)
	return m.t.Output().Write(p)
}

// TestFollowBackoffGrows: a journalctl that fails at once is restarted
// after 100, 200, 400, 400 ms (Min 100 ms, Max 400 ms, no jitter), and its
// stderr reaches the log.
func TestFollowBackoffGrows(t *testing.T) {
	t.Parallel()
	_, clk, logs, _ := fakeFollow(t, "fail", Options{
		Backoff: backoff.Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond, Jitter: func() float64 { return 0.5 }},
	})
	for i, d := range []time.Duration{100, 200, 400, 400} {
		d *= time.Millisecond
		clk.WaitForWaiters(1)
		clk.Advance(d - time.Millisecond)
		if clk.Waiters() != 1 {
			t.Fatalf("restart %d came before %v", i+1, d)
		}
		clk.Advance(time.Millisecond)
	}
	clk.WaitForWaiters(1)
	for _, want := range []string{`"journalctl: Failed to open /nowhere: No such file or directory"`, `"journal reader ended: journalctl exited with status 1: Failed to open /nowhere`} {
		if got := strings.Count(logs.String(), want); got != 5 {
			t.Errorf("log has %d × %s, want 5:\n%s", got, want, logs)
		}
	}
}

// TestFollowResumesAfterEachDeath: a journalctl that dies after every few
// entries, in the middle of writing one, is restarted at once (it was
// healthy) after the last entry delivered: every entry exactly once.
func TestFollowResumesAfterEachDeath(t *testing.T) {
	t.Parallel()
	c, clk, logs, _ := fakeFollow(t, "journal-1-25-7", Options{
		Backoff: backoff.Backoff{Min: time.Hour, Max: time.Hour, Jitter: func() float64 { return 0.5 }},
	})
	testlab.WaitFor(t, hangTimeout, func() bool {
		if clk.Waiters() > 0 {
			// A healthy run resets the backoff: the next start comes
			// within 50 ms, not after Min (an hour).
			clk.Advance(50 * time.Millisecond)
		}
		return c.hasMessage("msg 000025")
	}, "not all entries delivered; got %s", c.count())
	want := make([]string, 25)
	for i := range want {
		want[i] = fmt.Sprintf("msg %06d", i+1)
	}
	waitMessages(t, c, want)
	if n := strings.Count(logs.String(), "journal reader ended: journalctl exited with status 3: fake: dying"); n < 3 {
		t.Errorf("journalctl died %d times, want at least 3", n)
	}
}

// TestFollowGapCounted: the saved cursor's entry was vacuumed along with
// the five after it; the gap counts them, and Follow goes on at the oldest
// entry.
func TestFollowGapCounted(t *testing.T) {
	t.Parallel()
	gone := cursorAt(seqA, strconv.FormatUint(15, 16))
	c, clk, _, _ := fakeFollow(t, "journal-21-30-100", Options{Cursor: gone})
	for range probeTries - 1 { // the probes that ask again first
		clk.WaitForWaiters(1)
		clk.Advance(probeRetry)
	}
	want := make([]string, 10)
	for i := range want {
		want[i] = fmt.Sprintf("msg %06d", 21+i)
	}
	waitMessages(t, c, want)
	ev := c.snapshot()
	wantGap := Gap{Cursor: gone, Next: cursorAt(seqA, strconv.FormatUint(21, 16)), Lost: 5}
	if ev[0].gap == nil || *ev[0].gap != wantGap {
		t.Fatalf("first event %+v, want the gap %+v", ev[0], wantGap)
	}
}

// TestFollowProbeAsksAgain: a probe that finds nothing once (the journal
// file was being rotated when journalctl listed the directory) is asked
// again, and finds the cursor's entry: no gap, and Follow goes on after
// the cursor, not at the oldest entry (which would send 10..15 twice).
func TestFollowProbeAsksAgain(t *testing.T) {
	t.Parallel()
	c, clk, logs, _ := fakeFollow(t, "racy-10-30-100", Options{Cursor: cursorAt(seqA, strconv.FormatUint(15, 16))})
	// The pause before asking again, unless Follow took the gap at once.
	testlab.WaitFor(t, hangTimeout, func() bool { return clk.Waiters() > 0 || len(c.snapshot()) > 0 }, "neither a second probe nor an event")
	if len(c.snapshot()) == 0 {
		clk.Advance(probeRetry)
	}
	want := make([]string, 15)
	for i := range want {
		want[i] = fmt.Sprintf("msg %06d", 16+i)
	}
	waitMessages(t, c, want)
	for _, e := range c.snapshot() {
		if e.gap != nil {
			t.Fatalf("a gap %+v after a probe that found nothing once", *e.gap)
		}
	}
	if !strings.Contains(logs.String(), "the cursor's entry was not found; asking again") {
		t.Errorf("the log does not say the probe asked again:\n%s", logs)
	}
}

// TestFollowKillsStubbornJournalctl: a journalctl that ignores SIGTERM is
// killed StopGrace later, and only then does Follow return.
func TestFollowKillsStubbornJournalctl(t *testing.T) {
	t.Parallel()
	_, clk, logs, stop := fakeFollow(t, "stubborn", Options{StopGrace: 3 * time.Second})
	testlab.WaitFor(t, hangTimeout, func() bool { return strings.Contains(logs.String(), "journalctl: ready") }, "fake journalctl never ready")
	done := make(chan error, 1)
	go func() { done <- stop() }()
	clk.WaitForWaiters(1) // the grace timer
	clk.Advance(3*time.Second - time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Follow returned before the grace ran out: %v", err)
	default:
	}
	clk.Advance(time.Millisecond)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow: %v", err)
		}
	case <-time.After(hangTimeout):
		t.Fatal("Follow did not return after SIGKILL (hang)")
	}
	if !strings.Contains(logs.String(), "journalctl did not exit after SIGTERM; killing it") {
		t.Errorf("log does not say journalctl was killed:\n%s", logs)
	}
}
