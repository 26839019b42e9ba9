package pull

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// record is the content of a cursor file:
//
//	sshlogfwd-pull-cursor 1
//	source loghost:/var/log/forward.log
//	cursor 2049:1312:48213
//	output 2049:77:1093821
//
// output (device:inode:size of the local output when the cursor was saved)
// is absent for standard output. It lets the next start tell which bytes
// of the output were written after the save (see reconcile).
type record struct {
	Source     string
	Cursor     tailer.Cursor
	HasOutput  bool
	Output     fsutil.ID
	OutputSize int64
}

const recordHeader = "sshlogfwd-pull-cursor 1"

// maxRecord bounds what is read of a cursor file: a source of a few
// hundred bytes and three short lines fit many times over.
const maxRecord = 64 << 10

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
	}
	return b.String()
}

// parseRecord parses what record.String writes; every error wraps
// ErrBadRecord.
func parseRecord(s string) (record, error) {
	r, err := parseRecordLines(strings.Split(strings.TrimSuffix(s, "\n"), "\n"))
	if err != nil {
		return record{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return r, nil
}

func parseRecordLines(lines []string) (record, error) {
	var r record
	if lines[0] != recordHeader {
		return r, errors.New("not a pull cursor file (first line is not " + recordHeader + ")")
	}
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		key, val, _ := strings.Cut(l, " ")
		if seen[key] {
			return r, fmt.Errorf("%q given twice", key)
		}
		seen[key] = true
		switch key {
		case "source":
			r.Source = val
		case "cursor":
			c, err := tailer.ParseCursor(val)
			if err != nil {
				return r, err
			}
			r.Cursor = c
		case "output":
			c, err := tailer.ParseCursor(val)
			if err != nil {
				return r, fmt.Errorf("output: %w", err)
			}
			r.HasOutput, r.Output, r.OutputSize = true, fsutil.ID{Dev: c.Dev, Ino: c.Ino}, c.Offset
		default:
			return r, fmt.Errorf("unknown line %q", l)
		}
	}
	if !seen["source"] || !seen["cursor"] {
		return r, errors.New("source or cursor line missing")
	}
	return r, nil
}
