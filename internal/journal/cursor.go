package journal

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// cursorPos is the part of a journal cursor that orders entries: a cursor
// is "s=SEQNUM_ID;i=SEQNUM;b=BOOT_ID;m=MONOTONIC;t=REALTIME;x=HASH", the
// numbers in hex. Seqnums count every entry written under one seqnum id
// (one journald, across its file rotations), whatever any match selects.
type cursorPos struct {
	seqnumID string
	seqnum   uint64
}

var errCursor = errors.New("not a journal cursor")

// parseCursor reads the seqnum id and seqnum of a cursor.
func parseCursor(c string) (cursorPos, error) {
	id, n, ok := cursorSeq([]byte(c))
	if !ok {
		return cursorPos{}, fmt.Errorf("cursor %q: %w", c, errCursor)
	}
	return cursorPos{seqnumID: string(id), seqnum: n}, nil
}

// cursorSeq is parseCursor without allocating, for every entry: the seqnum
// id (a part of c) and the seqnum; ok is false when c is no cursor.
func cursorSeq(c []byte) (id []byte, seqnum uint64, ok bool) {
	var haveSeq bool
	for {
		kv, rest, more := bytes.Cut(c, []byte(";"))
		k, v, found := bytes.Cut(kv, []byte("="))
		if !found || len(v) == 0 {
			return nil, 0, false
		}
		switch string(k) {
		case "s":
			if len(v) != 32 || !isLowerHex(v) {
				return nil, 0, false
			}
			id = v
		case "i":
			n, err := strconv.ParseUint(string(v), 16, 64)
			if err != nil {
				return nil, 0, false
			}
			seqnum, haveSeq = n, true
		}
		if !more {
			break
		}
		c = rest
	}
	if id == nil || !haveSeq {
		return nil, 0, false
	}
	return id, seqnum, true
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// lostBetween counts the entries that were written after the entry at
// missing and before next and are gone now, or -1 when that is unknowable:
// next was written under another seqnum id (the journal was wiped, or
// journald started afresh), there is no next entry, or a cursor is not
// one. The count is of all entries, before any match.
func lostBetween(missing, next string) int64 {
	m, err1 := parseCursor(missing)
	n, err2 := parseCursor(next)
	if err1 != nil || err2 != nil || m.seqnumID != n.seqnumID || n.seqnum <= m.seqnum {
		return -1
	}
	return int64(n.seqnum - m.seqnum - 1)
}

// Oldest is the position a reader keeps in place of a cursor once it has
// handled a Gap: resume at the oldest entry, as Follow itself does after
// one. It is no journal cursor (those are "s=…;i=…"), so the two are never
// confused, and a restart at it neither looks for the gone cursor again
// nor reports the gap twice.
const Oldest = "oldest"

// ResumeCursor is the Options.Cursor to resume at for a kept position (the
// cursor of the last entry taken, or Oldest): none for a new reader or
// after a gap. Anything else is passed on as it is: a position that is no
// journal cursor (say, a spool once used for another input) makes Follow
// report a gap of unknown size.
func ResumeCursor(pos string) string {
	if pos == Oldest {
		return ""
	}
	return pos
}
