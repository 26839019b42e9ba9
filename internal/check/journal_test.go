package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// journalReport runs the journal checks with cursor as the position push
// resumes after (cursorErr: why it could not be read), at now, and returns
// the report.
func journalReport(t *testing.T, o journal.Options, cursor string, cursorErr error, now time.Time) string {
	t.Helper()
	var out strings.Builder
	c := &journalCheck{r: &report{w: &out}, o: o, clk: clock.NewFake(now), cursor: cursor, cursorErr: cursorErr, wait: journalWait}
	c.run(context.Background())
	return out.String()
}

// wantLine fails unless the report has an OK (or FAIL) line for name that
// contains every one of words.
func wantLine(t *testing.T, out string, ok bool, name string, words ...string) {
	t.Helper()
	prefix := "FAIL  " + name + ": "
	if ok {
		prefix = "OK    " + name + ": "
	}
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			return
		}
	}
	t.Errorf("no line %q with %q in:\n%s", prefix, words, out)
}

// journalDir writes entries of facility auth (4) and daemon (3) into a
// new journal directory, at the current time, and returns it with the
// entries' cursors.
func journalDir(t *testing.T, auth, daemon int) (string, []string) {
	t.Helper()
	testlab.RequireBinary(t, testlab.JournalctlPath)
	dir := t.TempDir()
	var es []testlab.JournalEntry
	for i := range auth + daemon {
		fac := "4"
		if i >= auth {
			fac = "3"
		}
		es = append(es, testlab.JournalEntry{"MESSAGE": fmt.Sprintf("entry %d", i), "SYSLOG_FACILITY": fac, "PRIORITY": "6", "SYSLOG_IDENTIFIER": "t"})
	}
	testlab.WriteJournal(t, filepath.Join(dir, "system.journal"), es...)
	return dir, testlab.ReadJournalCursors(t, dir)
}

// TestJournalCheckCountsSelection: the journal is read as push reads it,
// and the selection is counted over the last 24 hours on the check's clock:
// entries that do not match, or are older, do not count.
func TestJournalCheckCountsSelection(t *testing.T) {
	dir, _ := journalDir(t, 3, 5)
	o := journal.Options{Journalctl: testlab.JournalctlPath, Directory: dir, Matches: journal.DefaultMatches}
	out := journalReport(t, o, "", nil, time.Now())
	wantLine(t, out, true, "--journal-dir "+dir, "reads it")
	wantLine(t, out, true, "journal selection", "3 entries", "SYSLOG_FACILITY=4")
	wantLine(t, out, true, "journal cursor", "oldest entry")

	out = journalReport(t, o, "", nil, time.Now().Add(25*time.Hour))
	wantLine(t, out, false, "journal selection", "no entry of the last 24 hours")

	o.Matches, o.Priority = nil, "crit"
	wantLine(t, journalReport(t, o, "", nil, time.Now()), false, "journal selection", "priority crit")
}

// TestJournalCheckCursor: the cursor push resumes after is found while
// its entry exists; a cursor whose journal was wiped is gone, one that is
// no journal cursor is refused, and a spool that cannot be read says so.
func TestJournalCheckCursor(t *testing.T) {
	dir, cursors := journalDir(t, 2, 0)
	o := journal.Options{Journalctl: testlab.JournalctlPath, Directory: dir}
	now := time.Now()
	wantLine(t, journalReport(t, o, cursors[1], nil, now), true, "journal cursor", "still in the journal")
	// a --file position
	wantLine(t, journalReport(t, o, "1:2:300", nil, now), false, "journal cursor", "refuses")
	wantLine(t, journalReport(t, o, "", errors.New("not a regular file owned by this user"), now), false, "journal cursor", "cannot be read")

	os.Remove(filepath.Join(dir, "system.journal"))
	testlab.WriteJournal(t, filepath.Join(dir, "new.journal"), testlab.JournalEntry{"MESSAGE": "after the wipe", "SYSLOG_FACILITY": "4"})
	wantLine(t, journalReport(t, o, cursors[1], nil, now), false, "journal cursor", "gone")
}

// TestJournalCheckUnreadable: a journal journalctl cannot open, and a
// missing journalctl, are failures that say what to do.
func TestJournalCheckUnreadable(t *testing.T) {
	testlab.RequireBinary(t, testlab.JournalctlPath)
	missing := filepath.Join(t.TempDir(), "missing")
	out := journalReport(t, journal.Options{Journalctl: testlab.JournalctlPath, Directory: missing}, "", nil, time.Now())
	wantLine(t, out, false, "--journal-dir "+missing, "cannot read")
	if strings.Contains(out, "journal cursor") {
		t.Errorf("cursor checked in a journal that cannot be read:\n%s", out)
	}
	wantLine(t, journalReport(t, journal.Options{Journalctl: filepath.Join(missing, "journalctl")}, "", nil, time.Now()), false, "journalctl")
}

// TestJournalRunDenied: journalctl's own words for a journal it could
// read only in part (exit status 0) count as a failure.
func TestJournalRunDenied(t *testing.T) {
	for _, tt := range []struct {
		stderr string
		denied bool
	}{
		{"No journal files were opened due to insufficient permissions.", true},
		{"Hint: You are currently not seeing messages from other users and the system.", true},
		{"", false},
		{"-- No entries --", false},
	} {
		if got := (journalRun{stderr: tt.stderr}).denied(); got != tt.denied {
			t.Errorf("%q: denied %v, want %v", tt.stderr, got, tt.denied)
		}
	}
}

// TestPushChecksJournal: check push --journal checks the journal, and
// takes the cursor push resumes after from the spool push would use; a
// spool whose input position is "after a gap" starts at the oldest entry.
func TestPushChecksJournal(t *testing.T) {
	dir, cursors := journalDir(t, 2, 0)
	spoolDir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(spool.Options{Dir: spoolDir, Max: 1 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.AppendInput(cursors[1], []byte("entry 1\n")); err != nil {
		t.Fatal(err)
	}
	push := func() string {
		var out strings.Builder
		err := Push(context.Background(), PushOptions{Options: Options{Out: &out}, Spool: spoolDir,
			Journal: &journal.Options{Journalctl: testlab.JournalctlPath, Directory: dir, Matches: journal.DefaultMatches}})
		if err != nil {
			t.Errorf("check push: %v\n%s", err, out.String())
		}
		return out.String()
	}
	out := push()
	wantLine(t, out, true, "--journal-dir "+dir, "reads it")
	wantLine(t, out, true, "journal selection", "2 entries")
	wantLine(t, out, true, "journal cursor", "still in the journal")

	if err := sp.AppendInput(journal.Oldest); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	wantLine(t, push(), true, "journal cursor", "none saved")
}
