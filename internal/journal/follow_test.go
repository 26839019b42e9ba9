package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// hangTimeout only catches hangs; nothing waits for it to pass.
const hangTimeout = 60 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// event is one thing Follow delivered: an entry's line and cursor, or a gap.
type event struct {
	line, cursor string
	gap          *Gap
}

// collector records what Follow delivers.
type collector struct {
	mu     sync.Mutex
	events []event
	fail   error // returned by the handler once set
}

func (c *collector) handler() Handler {
	return Handler{
		Entry: func(e Entry) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			if bytes.IndexByte(e.Line, '\n') >= 0 {
				return fmt.Errorf("line with a newline: %q", e.Line)
			}
			c.events = append(c.events, event{line: string(e.Line), cursor: string(e.Cursor)})
			return c.fail
		},
		Gap: func(g Gap) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.events = append(c.events, event{gap: &g})
			return nil
		},
	}
}

func (c *collector) snapshot() []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// messages returns the messages of the entries delivered (the part of a
// short line after the first ": "), leaving out gaps.
func (c *collector) messages() []string {
	var out []string
	for _, e := range c.snapshot() {
		if e.gap == nil {
			_, msg, _ := strings.Cut(e.line, ": ")
			out = append(out, msg)
		}
	}
	return out
}

func (c *collector) hasMessage(m string) bool { return slices.Contains(c.messages(), m) }

// count formats the number of entries delivered when it is printed, not
// when it is passed: for messages of a wait that timed out.
func (c *collector) count() fmt.Stringer {
	return lazy(func() string { return strconv.Itoa(len(c.messages())) })
}

type lazy func() string

func (l lazy) String() string { return l() }

// follow runs Follow until the test ends (or stop is called) and returns
// what it delivers. stop returns Follow's result.
func follow(t *testing.T, opts Options) (c *collector, stop func() error) {
	t.Helper()
	if opts.Journalctl == "" {
		testlab.RequireBinary(t, testlab.JournalctlPath)
		opts.Journalctl = testlab.JournalctlPath
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Backoff.Min == 0 && opts.Backoff.Max == 0 {
		opts.Backoff = backoff.Backoff{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c = &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, opts, c.handler()) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(hangTimeout):
				result = errors.New("Follow did not return after cancel (hang)")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Follow: %v", err)
		}
	})
	return c, stop
}

// numbered returns n entries with messages "msg NNNNNN" from start on.
func numbered(start, n int) []testlab.JournalEntry {
	es := make([]testlab.JournalEntry, n)
	for i := range es {
		es[i] = testlab.JournalEntry{"MESSAGE": fmt.Sprintf("msg %06d", start+i), "SYSLOG_IDENTIFIER": "t", "_HOSTNAME": "h", "PRIORITY": "2"}
	}
	return es
}

func numberedMessages(start, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("msg %06d", start+i)
	}
	return out
}

// waitMessages waits until the last of want was delivered, then requires
// exactly want: every entry once, in order.
func waitMessages(t *testing.T, c *collector, want []string) {
	t.Helper()
	last := want[len(want)-1]
	testlab.WaitFor(t, hangTimeout, func() bool { return c.hasMessage(last) },
		"%q not delivered (hang?); got %s entries", last, c.count())
	if got := c.messages(); !slices.Equal(got, want) {
		t.Fatalf("delivered %d entries, want %d exactly once and in order; first difference: %s", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("#%d is %.60q, want %.60q", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// TestFollowEveryEntryOnceInOrder appends entries at a pace while Follow
// reads: each arrives exactly once, in order.
func TestFollowEveryEntryOnceInOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := testlab.StartJournalWriter(t, filepath.Join(dir, "system.journal"))
	w.Write(numbered(0, 50)...)
	c, _ := follow(t, Options{Directory: dir})
	const batches, per = 100, 20
	tick := time.NewTicker(2 * time.Millisecond) // a pace of ~10,000 entries/s, not a wait for anything
	defer tick.Stop()
	for b := range batches {
		<-tick.C
		w.Write(numbered(50+b*per, per)...)
	}
	waitMessages(t, c, numberedMessages(0, 50+batches*per))
}

// TestFollowMessagesByteExact: multi-line, 64 KiB, invalid UTF-8, NUL and
// other control bytes come through as one line each, byte-exact but for
// newlines written "#012".
func TestFollowMessagesByteExact(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
	msgs := []string{
		"first\nsecond\nthird",
		big,
		"big and binary\n" + big,
		"invalid utf-8: \xff\xfe\xc3\x28 end",
		"nul\x00inside",
		"cr\r tab\t esc\x1b del\x7f",
		"trailing newline\n",
		"last",
	}
	var es []testlab.JournalEntry
	for _, m := range msgs {
		es = append(es, testlab.JournalEntry{"MESSAGE": m, "SYSLOG_IDENTIFIER": "t", "_PID": "7", "_HOSTNAME": "h"})
	}
	testlab.WriteJournal(t, filepath.Join(dir, "system.journal"), es...)
	c, _ := follow(t, Options{Directory: dir})
	var want []string
	for _, m := range msgs {
		want = append(want, strings.ReplaceAll(m, "\n", "#012"))
	}
	waitMessages(t, c, want)
	for _, e := range c.snapshot() {
		if !strings.HasPrefix(e.line[strings.IndexByte(e.line, ' '):], " h t[7]: ") {
			t.Errorf("line %.80q: want \"TIME h t[7]: …\"", e.line)
		}
	}
}

// TestFollowResumesAfterCursor: started with the cursor of an entry, Follow
// delivers exactly the entries after it, and with the cursor of the newest
// entry, only what comes later.
func TestFollowResumesAfterCursor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := testlab.StartJournalWriter(t, filepath.Join(dir, "system.journal"))
	// More than 10 after the cursor: --follow's implied --lines=10 would
	// print 10 and wait for the journal to change.
	w.Write(numbered(0, 30)...)
	w.Close()
	cursors := testlab.ReadJournalCursors(t, dir)

	c, _ := follow(t, Options{Directory: dir, Cursor: cursors[3]})
	waitMessages(t, c, numberedMessages(4, 26))
	if got := c.snapshot()[25].cursor; got != cursors[29] {
		t.Errorf("cursor of the last entry %q, want %q", got, cursors[29])
	}

	c2, _ := follow(t, Options{Directory: dir, Cursor: cursors[29]})
	testlab.WriteJournal(t, filepath.Join(dir, "system.journal"), numbered(30, 1)...)
	waitMessages(t, c2, numberedMessages(30, 1))
}

// journalctlPIDs returns the pids of our journalctl children reading dir.
func journalctlPIDs(dir string) []int {
	var pids []int
	for _, pid := range testlab.ChildPIDs(os.Getpid(), "journalctl") {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && bytes.Contains(cmdline, []byte("--directory="+dir+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestFollowSurvivesKilledJournalctl kills journalctl with SIGKILL ten
// times while entries are appended: Follow restarts it after the last entry
// it delivered, so no entry is lost or repeated.
func TestFollowSurvivesKilledJournalctl(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := testlab.StartJournalWriter(t, filepath.Join(dir, "system.journal"))
	c, _ := follow(t, Options{Directory: dir})
	const total, kills = 3000, 10
	written := make(chan struct{})
	go func() {
		defer close(written)
		tick := time.NewTicker(time.Millisecond) // pace, not a wait
		defer tick.Stop()
		for i := 0; i < total; i += 10 {
			<-tick.C
			w.Write(numbered(i, 10)...)
		}
	}()
	killed := 0
	for k := range kills {
		testlab.WaitFor(t, hangTimeout, func() bool { return len(c.messages()) >= (k+1)*total/(kills+2) },
			"only %s entries before kill %d (hang?)", c.count(), k+1)
		// A probe may exit by itself between listing and killing: try
		// until a kill lands.
		testlab.WaitFor(t, hangTimeout, func() bool {
			landed := false
			for _, pid := range journalctlPIDs(dir) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					landed = true
				}
			}
			return landed
		}, "no journalctl to kill for kill %d", k+1)
		killed++
	}
	<-written
	waitMessages(t, c, numberedMessages(0, total))
	t.Logf("killed journalctl %d times", killed)
}

// TestFollowMissingCursor: the saved cursor's journal is gone (wiped and
// started afresh): Follow reports a Gap with an unknown count, before any
// entry, and continues at the oldest entry.
func TestFollowMissingCursor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := filepath.Join(dir, "old.journal")
	testlab.WriteJournal(t, old, numbered(0, 5)...)
	gone := testlab.ReadJournalCursors(t, dir)[2]
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	testlab.WriteJournal(t, filepath.Join(dir, "new.journal"), numbered(100, 5)...)
	next := testlab.ReadJournalCursors(t, dir)[0]

	c, _ := follow(t, Options{Directory: dir, Cursor: gone})
	waitMessages(t, c, numberedMessages(100, 5))
	ev := c.snapshot()
	if ev[0].gap == nil || *ev[0].gap != (Gap{Cursor: gone, Next: next, Lost: -1}) {
		t.Fatalf("first event %+v, want the gap {Cursor: %s, Next: %s, Lost: -1}", ev[0], gone, next)
	}
}

// TestFollowInvalidCursor: a cursor file that holds garbage is a gap too,
// not a journalctl that fails for ever.
func TestFollowInvalidCursor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testlab.WriteJournal(t, filepath.Join(dir, "system.journal"), numbered(0, 3)...)
	c, _ := follow(t, Options{Directory: dir, Cursor: "garbage"})
	waitMessages(t, c, numberedMessages(0, 3))
	if ev := c.snapshot(); ev[0].gap == nil || ev[0].gap.Lost != -1 {
		t.Fatalf("first event %+v, want a gap of unknown size", ev[0])
	}
}

// TestFollowAcrossBoots: entries of an earlier boot are delivered, also
// when resuming at a cursor of that boot. Without --merge, journalctl
// --follow shows only the current boot and would skip the last entries
// before a reboot.
func TestFollowAcrossBoots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	earlier := numbered(0, 4)
	start := time.Now().Add(-time.Hour).UnixMicro()
	for i, e := range earlier {
		e["_BOOT_ID"] = strings.Repeat("ab", 16)
		e["__REALTIME_TIMESTAMP"] = strconv.FormatInt(start+int64(i), 10)
		e["__MONOTONIC_TIMESTAMP"] = strconv.Itoa(1000 + i)
	}
	path := filepath.Join(dir, "system.journal")
	testlab.WriteJournal(t, path, earlier...)
	testlab.WriteJournal(t, path, numbered(4, 2)...)

	c, _ := follow(t, Options{Directory: dir})
	waitMessages(t, c, numberedMessages(0, 6))
	c2, _ := follow(t, Options{Directory: dir, Cursor: testlab.ReadJournalCursors(t, dir)[1]})
	waitMessages(t, c2, numberedMessages(2, 4))
}

// TestFollowDefaultSelection writes an entry for every facility and
// priority, and kernel entries, into a real journal: DefaultMatches selects
// exactly the article's auth, authpriv, kern and crit-or-worse.
func TestFollowDefaultSelection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var es []testlab.JournalEntry
	var want []string
	add := func(e testlab.JournalEntry, selected bool) {
		e["MESSAGE"] = fmt.Sprintf("entry %d", len(es))
		es = append(es, e)
		if selected {
			want = append(want, e["MESSAGE"])
		}
	}
	for fac := range 24 {
		for prio := range 8 {
			add(testlab.JournalEntry{"SYSLOG_FACILITY": strconv.Itoa(fac), "PRIORITY": strconv.Itoa(prio), "_TRANSPORT": "syslog"},
				fac == 0 || fac == 4 || fac == 10 || prio <= 2)
		}
	}
	for prio := range 8 {
		add(testlab.JournalEntry{"_TRANSPORT": "kernel", "SYSLOG_FACILITY": "0", "PRIORITY": strconv.Itoa(prio)}, true)
		add(testlab.JournalEntry{"_TRANSPORT": "kernel", "PRIORITY": strconv.Itoa(prio)}, true)
		add(testlab.JournalEntry{"_TRANSPORT": "stdout", "PRIORITY": strconv.Itoa(prio)}, prio <= 2)
		add(testlab.JournalEntry{"_TRANSPORT": "journal", "SYSLOG_FACILITY": "3", "PRIORITY": strconv.Itoa(prio)}, prio <= 2)
	}
	add(testlab.JournalEntry{"_TRANSPORT": "journal"}, false) // neither facility nor priority
	add(testlab.JournalEntry{"PRIORITY": "0"}, true)          // the last one, selected: everything before it was read
	testlab.WriteJournal(t, filepath.Join(dir, "system.journal"), es...)

	c, _ := follow(t, Options{Directory: dir, Matches: DefaultMatches})
	waitMessages(t, c, want)
	t.Logf("%d of %d entries selected", len(want), len(es))
}

// TestFollowStops: a handler error stops Follow and is returned; so does
// cancellation (with nil). Either way journalctl is reaped.
func TestFollowStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testlab.WriteJournal(t, filepath.Join(dir, "system.journal"), numbered(0, 5)...)
	errFull := errors.New("spool full")

	var got []string
	done := make(chan error, 1)
	go func() {
		done <- Follow(context.Background(), Options{Journalctl: testlab.JournalctlPath, Directory: dir, Logger: testLogger(t)},
			Handler{Entry: func(e Entry) error { got = append(got, string(e.Line)); return errFull }})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errFull) {
			t.Errorf("Follow returned %v, want the handler's error", err)
		}
	case <-time.After(hangTimeout):
		t.Fatal("Follow did not return after its handler failed (hang)")
	}
	if len(got) != 1 {
		t.Errorf("delivered %q, want only the entry whose handler failed", got)
	}

	c2, stop2 := follow(t, Options{Directory: dir})
	waitMessages(t, c2, numberedMessages(0, 5))
	if err := stop2(); err != nil {
		t.Errorf("Follow after cancel: %v, want nil", err)
	}
	if pids := journalctlPIDs(dir); len(pids) > 0 {
		t.Errorf("journalctl %v still running after Follow returned", pids)
	}
}

func TestFollowMissingJournalctl(t *testing.T) {
	t.Parallel()
	err := Follow(context.Background(), Options{Journalctl: filepath.Join(t.TempDir(), "journalctl"), Directory: t.TempDir()},
		Handler{Entry: func(Entry) error { return nil }})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Follow with no journalctl: %v, want ErrNotExist", err)
	}
}

func TestFollowRefusesBadOptions(t *testing.T) {
	t.Parallel()
	h := Handler{Entry: func(Entry) error { return nil }}
	if err := Follow(context.Background(), Options{Directory: "/j", Matches: []string{"lower=x"}}, h); err == nil {
		t.Error("Follow with a bad match succeeded")
	}
	if err := Follow(context.Background(), Options{Directory: "/j"}, Handler{}); err == nil {
		t.Error("Follow without an entry handler succeeded")
	}
}
