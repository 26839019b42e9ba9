package pull

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// record is the content of a cursor file (version 2):
//
//	sshlogfwd-pull-cursor 2
//	source loghost:/var/log/forward.log
//	cursor 2049:1312:48213
//	output 2049:77:1093821
//	tail 4096 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	state running
//
// output (device:inode:size of the local output when the cursor was saved)
// and tail (the SHA-256 of the output's last N bytes before that size: the
// last bytes pull wrote) are absent for standard output. state is
// "running" while pull runs and "stopped" after it saved its last cursor
// on a clean stop. Together they let the next start tell whether the
// bytes beyond the saved size can be pull's own (see reconcile).
//
// Version 1 files (no tail, no state) are still read: their state counts
// as running, their tail as unknown.
type record struct {
	Source     string
	Cursor     tailer.Cursor
	HasOutput  bool
	Output     fsutil.ID
	OutputSize int64
	// Tail is the checksum of the TailLen bytes before OutputSize;
	// TailLen 0: none recorded.
	TailLen int
	Tail    [sha256.Size]byte
	// Stopped: pull stopped cleanly after saving this record.
	Stopped bool
}

// The version this pull writes, and the one it still reads.
const (
	recordHeader   = onewriter.PullCursorPrefix + "2"
	recordHeaderV1 = onewriter.PullCursorPrefix + "1"
)

// maxRecord bounds what is read of a cursor file: a source of a few
// hundred bytes and five short lines fit many times over.
const maxRecord = 64 << 10

// tailMax is how many of the output's last bytes the record checks.
const tailMax = 4096

// ErrBadRecord is what a cursor file that is not a pull cursor is wrapped
// with.
var ErrBadRecord = errors.New("bad cursor file")

func (r record) String() string {
	var b strings.Builder
	b.WriteString(recordHeader + "\n")
	b.WriteString("source " + r.Source + "\n")
	b.WriteString("cursor " + r.Cursor.String() + "\n")
	if r.HasOutput {
		o := tailer.Cursor{Dev: r.Output.Dev, Ino: r.Output.Ino, Offset: r.OutputSize}
		b.WriteString("output " + o.String() + "\n")
		fmt.Fprintf(&b, "tail %d %s\n", r.TailLen, hex.EncodeToString(r.Tail[:]))
	}
	state := "running"
	if r.Stopped {
		state = "stopped"
	}
	b.WriteString("state " + state + "\n")
	return b.String()
}

// parseRecord parses what record.String writes, and version 1; every
// error wraps ErrBadRecord.
func parseRecord(s string) (record, error) {
	r, err := parseRecordLines(strings.Split(strings.TrimSuffix(s, "\n"), "\n"))
	if err != nil {
		return record{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return r, nil
}

func parseRecordLines(lines []string) (record, error) {
	var r record
	v2 := lines[0] == recordHeader
	if !v2 && lines[0] != recordHeaderV1 {
		return r, errors.New("not a pull cursor file (first line is not " + recordHeader + " or " + recordHeaderV1 + ")")
	}
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		key, val, _ := strings.Cut(l, " ")
		if seen[key] {
			return r, fmt.Errorf("%q given twice", key)
		}
		seen[key] = true
		if (key == "tail" || key == "state") && !v2 {
			return r, fmt.Errorf("unknown line %q", l)
		}
		if err := r.parseLine(key, val); err != nil {
			return r, err
		}
	}
	if !seen["source"] || !seen["cursor"] {
		return r, errors.New("source or cursor line missing")
	}
	if v2 && (!seen["state"] || seen["output"] != seen["tail"]) {
		return r, errors.New("state, or output without tail, missing")
	}
	return r, nil
}

// parseLine takes one "key value" line.
func (r *record) parseLine(key, val string) error {
	switch key {
	case "source":
		r.Source = val
	case "cursor":
		c, err := tailer.ParseCursor(val)
		if err != nil {
			return err
		}
		r.Cursor = c
	case "output":
		c, err := tailer.ParseCursor(val)
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
		r.HasOutput, r.Output, r.OutputSize = true, fsutil.ID{Dev: c.Dev, Ino: c.Ino}, c.Offset
	case "tail":
		return r.parseTail(val)
	case "state":
		switch val {
		case "running":
		case "stopped":
			r.Stopped = true
		default:
			return fmt.Errorf("state %q is neither running nor stopped", val)
		}
	default:
		return fmt.Errorf("unknown line %q", key+" "+val)
	}
	return nil
}

// parseTail takes "N HEX".
func (r *record) parseTail(val string) error {
	nS, sum, _ := strings.Cut(val, " ")
	n, err := strconv.Atoi(nS)
	if err != nil || n < 0 || n > tailMax || strconv.Itoa(n) != nS {
		return fmt.Errorf("tail length %q", nS)
	}
	b, err := hex.DecodeString(sum)
	if err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != sum {
		return fmt.Errorf("tail checksum %q", sum)
	}
	r.TailLen = n
	copy(r.Tail[:], b)
	return nil
}
