package journal

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeNoMessage is the fake journalctl of mode nomsg-LAST-BAD-ALWAYS: a
// journal holding the entries 1..LAST of seqnum id seqA. A follower prints
// them from --cursor (inclusive) or from 1, and then waits to be stopped;
// it prints entry BAD without MESSAGE when it started without a cursor (as
// journalctl does for an entry it reads while the writer is still
// appending it), or always when ALWAYS is 1 (an entry that has none). A
// probe prints the entry at --cursor.
func fakeNoMessage(args []string, cursor string, probe bool) int {
	last, _ := strconv.ParseUint(args[0], 10, 64)
	bad, _ := strconv.ParseUint(args[1], 10, 64)
	always := args[2] == "1"
	start := uint64(1)
	if p, err := parseCursor(cursor); err == nil && p.seqnumID == seqA {
		start = p.seqnum
	}
	if probe {
		os.Stdout.Write(exportOf(fakeEntry(start)))
		return 0
	}
	var out []byte
	for i := start; i <= last; i++ {
		e := fakeEntry(i)
		if i == bad && (always || cursor == "") {
			delete(e, "MESSAGE")
		}
		out = append(out, exportOf(e)...)
	}
	os.Stdout.Write(out)
	time.Sleep(time.Hour)
	return 0
}

// TestFollowRereadsEntryWithoutMessage: an entry that comes without
// MESSAGE (journalctl racing the writer) is read again, after the last
// entry delivered, and delivered whole; nothing is lost or repeated.
func TestFollowRereadsEntryWithoutMessage(t *testing.T) {
	t.Parallel()
	c, _, logs, _ := fakeFollow(t, "nomsg-6-3-0", Options{})
	waitMessages(t, c, []string{"msg 000001", "msg 000002", "msg 000003", "msg 000004", "msg 000005", "msg 000006"})
	if !strings.Contains(logs.String(), "reading it again") {
		t.Errorf("the re-read is not in the log:\n%s", logs)
	}
}

// TestFollowSkipsEntryWithoutMessage: an entry that has no MESSAGE at all
// is read again once, then skipped; the entries after it are delivered.
func TestFollowSkipsEntryWithoutMessage(t *testing.T) {
	t.Parallel()
	c, _, logs, _ := fakeFollow(t, "nomsg-6-3-1", Options{})
	waitMessages(t, c, []string{"msg 000001", "msg 000002", "msg 000004", "msg 000005", "msg 000006"})
	if n := strings.Count(logs.String(), "started"); n > 4 {
		t.Errorf("journalctl started %d times: want one re-read (follower, probe, follower), not a loop", n)
	}
}
