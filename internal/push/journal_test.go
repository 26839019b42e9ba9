package push

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// newJournalEngine is a test engine over a durable spool in dir (a new
// one when ""), as push --journal has it, with its journal input opened
// for the journal files in jdir.
func newJournalEngine(t *testing.T, dir, jdir string) (*testEngine, *journalInput) {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "spool")
	}
	jopts := &journal.Options{Journalctl: testlab.JournalctlPath, Directory: jdir, Location: time.UTC,
		Backoff: backoff.Backoff{Min: time.Millisecond, Max: time.Millisecond}}
	te := newTestEngine(t, Options{Journal: jopts}, spool.Options{Dir: dir, Durable: true})
	j, err := te.openJournal()
	if err != nil {
		t.Fatal(err)
	}
	return te, j
}

const testCursor = "s=0123456789abcdef0123456789abcdef;i=2a;b=0123456789abcdef0123456789abcdef;m=1;t=2;x=3"

// TestJournalEntriesSpooledInBatches: the entries Follow hands over in a
// row go into the spool together, as lines, with the cursor of the last,
// when Follow flushes (or the batch is full): the spool's mark always names
// the last entry it holds, and none it does not.
func TestJournalEntriesSpooledInBatches(t *testing.T) {
	testlab.RequireBinary(t, testlab.JournalctlPath)
	te, j := newJournalEngine(t, "", t.TempDir())
	ctx := context.Background()
	for _, e := range []journal.Entry{{Line: []byte("a: one"), Cursor: []byte("c1")}, {Line: []byte("a: two"), Cursor: []byte("c2")}} {
		if err := j.entry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, tail := te.sp.Bounds(); tail != 0 || te.sp.InputMark() != "" {
		t.Fatalf("spooled %d bytes and mark %q before the flush", tail, te.sp.InputMark())
	}
	if err := j.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if m := te.sp.InputMark(); m != "c2" {
		t.Errorf("mark %q after the flush, want the last entry's cursor", m)
	}
	if got := string(te.next(t).Data); got != "a: one\na: two\n" {
		t.Errorf("spooled %q", got)
	}
	// A full batch goes without waiting for the flush.
	line := []byte(strings.Repeat("x", 1023))
	n := 0
	for _, tail := te.sp.Bounds(); tail == int64(len("a: one\na: two\n")); _, tail = te.sp.Bounds() {
		n++
		if n > journalBatch/1024 {
			t.Fatalf("%d entries of 1 KiB not spooled without a flush", n)
		}
		if err := j.entry(ctx, journal.Entry{Line: line, Cursor: []byte(fmt.Sprintf("c%d", 2+n))}); err != nil {
			t.Fatal(err)
		}
	}
	if m, want := te.sp.InputMark(), fmt.Sprintf("c%d", 2+n); m != want || n != journalBatch/1024 {
		t.Errorf("a full batch of %d entries spooled with mark %q, want %d entries and %q", n, m, journalBatch/1024, want)
	}
}

// TestJournalGapNotice: a gap becomes a notice line of our own with what
// the journal says was lost, and the mark moves to "start at the oldest
// entry", so that a restart neither loses the entries after the gap nor
// reports the gap twice. A gap that lost nothing moves only the mark.
func TestJournalGapNotice(t *testing.T) {
	testlab.RequireBinary(t, testlab.JournalctlPath)
	te, j := newJournalEngine(t, "", t.TempDir())
	ctx := context.Background()
	j.entry(ctx, journal.Entry{Line: []byte("before"), Cursor: []byte(testCursor)})
	if err := j.gap(ctx, journal.Gap{Cursor: testCursor, Lost: 0}); err != nil {
		t.Fatal(err)
	}
	if m := te.sp.InputMark(); m != journal.Oldest {
		t.Errorf("mark %q after a gap, want %q", m, journal.Oldest)
	}
	if _, tail := te.sp.Bounds(); tail != int64(len("before\n")) {
		t.Errorf("a gap that lost nothing spooled %d bytes", tail-int64(len("before\n")))
	}
	j.gap(ctx, journal.Gap{Cursor: testCursor, Lost: 7})
	j.gap(ctx, journal.Gap{Cursor: testCursor, Lost: -1})
	got := strings.Split(string(te.next(t).Data), "\n")
	want := "2026-12-02T10:00:00Z testhost sshlogfwd: journal cursor no longer exists (journal vacuumed or rotated away): 7 entries were lost"
	if len(got) != 4 || !strings.HasPrefix(got[1], want) {
		t.Fatalf("spooled %q, want the entry, then a notice starting %q", got, want)
	}
	if !strings.Contains(got[2], "sshlogfwd: ") || !strings.Contains(got[2], "unknown number of entries") {
		t.Errorf("notice of an uncountable gap %q", got[2])
	}
}

// TestJournalResumeCursor: the spool's mark decides where reading
// resumes: after the saved cursor, or at the oldest entry for a new spool
// and after a gap.
func TestJournalResumeCursor(t *testing.T) {
	testlab.RequireBinary(t, testlab.JournalctlPath)
	for _, tt := range []struct{ mark, cursor string }{
		{"", ""},
		{journal.Oldest, ""},
		{testCursor, testCursor},
		{"1:2:3", "1:2:3"}, // a --file position: a gap of unknown size for Follow
	} {
		dir := filepath.Join(t.TempDir(), "spool")
		if tt.mark != "" {
			sp, err := spool.Open(spool.Options{Dir: dir, Max: 1 << 20, Durable: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := sp.AppendInput(tt.mark); err != nil {
				t.Fatal(err)
			}
			sp.Close()
		}
		_, j := newJournalEngine(t, dir, t.TempDir())
		if j.opts.Cursor != tt.cursor {
			t.Errorf("mark %q: resumes after %q, want %q", tt.mark, j.opts.Cursor, tt.cursor)
		}
	}
}

// TestJournalMissingJournalctl: push --journal without journalctl fails
// at the start instead of forwarding nothing.
func TestJournalMissingJournalctl(t *testing.T) {
	te := newTestEngine(t, Options{Journal: &journal.Options{Journalctl: filepath.Join(t.TempDir(), "journalctl")}},
		spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Durable: true})
	if _, err := te.openJournal(); err == nil {
		t.Fatal("opened a journal input without journalctl")
	}
}

// TestJournalHoldsEntryWhileSpoolRefuses: when the spool cannot take an
// entry (its directory is gone, so no new segment file can be made), the
// entry and its cursor are held, retried on the engine's clock, and
// spooled once the spool works again; the mark never passes it.
func TestJournalHoldsEntryWhileSpoolRefuses(t *testing.T) {
	testlab.RequireBinary(t, testlab.JournalctlPath)
	dir := filepath.Join(t.TempDir(), "spool")
	jopts := &journal.Options{Journalctl: testlab.JournalctlPath, Directory: t.TempDir()}
	te := newTestEngine(t, Options{Journal: jopts}, spool.Options{Dir: dir, Durable: true, SegmentSize: 64 << 10})
	j, err := te.openJournal()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	full := strings.Repeat("x", 64<<10-1) // fills the first segment
	j.entry(ctx, journal.Entry{Line: []byte(full), Cursor: []byte("c1")})
	j.flush(ctx)
	te.holdsWhileSpoolRefuses(t, dir, "the journal", "entry",
		func() error {
			if err := j.entry(ctx, journal.Entry{Line: []byte("next"), Cursor: []byte("c2")}); err != nil {
				return err
			}
			return j.flush(ctx)
		},
		"c1", "c2")
	te.next(t)
	if got := string(te.next(t).Data); got != "next\n" {
		t.Errorf("spooled %q after the retry", got)
	}
}

// journalEntries returns n entries with messages "msg NNNNNN" from start on.
func journalEntries(start, n int) []testlab.JournalEntry {
	es := make([]testlab.JournalEntry, n)
	for i := range es {
		es[i] = testlab.JournalEntry{"MESSAGE": fmt.Sprintf("msg %06d", start+i), "SYSLOG_IDENTIFIER": "t", "_HOSTNAME": "h", "PRIORITY": "2"}
	}
	return es
}

// followJournal runs j until want bytes are in the spool, then stops it.
func followJournal(t *testing.T, te *testEngine, j *journalInput, want int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.run(ctx) }()
	waitFor(t, func() bool { _, tail := te.sp.Bounds(); return tail >= want }, "%d bytes spooled", want)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("journal input: %v", err)
		}
	case <-time.After(hang):
		t.Fatalf("hang: the journal input did not stop within %v", hang)
	}
	j.close()
}

// TestJournalResumesAfterRestart reads real journal files through
// journalctl, stops, and starts again on the same spool while entries were
// added: the spool holds every entry exactly once, in order.
func TestJournalResumesAfterRestart(t *testing.T) {
	testlab.RequireBinary(t, testlab.JournalctlPath)
	jdir, sdir := t.TempDir(), filepath.Join(t.TempDir(), "spool")
	path := filepath.Join(jdir, "system.journal")
	testlab.WriteJournal(t, path, journalEntries(0, 20)...)
	line := func(i int) string { return fmt.Sprintf(" h t: msg %06d\n", i) }
	lineLen := int64(len("2026-12-02T10:00:00.000000+00:00") + len(line(0)))

	te, j := newJournalEngine(t, sdir, jdir)
	followJournal(t, te, j, 20*lineLen)
	te.sp.Close()
	testlab.WriteJournal(t, path, journalEntries(20, 15)...)
	te2, j2 := newJournalEngine(t, sdir, jdir)
	followJournal(t, te2, j2, 35*lineLen)

	var got []byte
	for {
		b := te2.next(t)
		got = append(got, b.Data...)
		te2.d.consumer.Ack(b.End)
		if int64(len(got)) >= 35*lineLen {
			break
		}
	}
	lines := strings.SplitAfter(string(got), "\n")
	for i := range 35 {
		if !strings.HasSuffix(lines[i], line(i)) {
			t.Fatalf("line %d is %q, want one ending %q (every entry once, in order)", i, lines[i], line(i))
		}
	}
	if len(got) != int(35*lineLen) {
		t.Errorf("spooled %d bytes, want %d: 35 entries once", len(got), 35*lineLen)
	}
}
