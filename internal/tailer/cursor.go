package tailer

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Cursor is a position in a file that is identified by device and inode
// number rather than by name, so that it stays valid when the file is
// renamed by rotation.
type Cursor struct {
	Dev, Ino uint64
	Offset   int64
}

// String formats c as "DEV:INO:OFFSET" in decimal, the form ParseCursor
// accepts.
func (c Cursor) String() string {
	return strconv.FormatUint(c.Dev, 10) + ":" + strconv.FormatUint(c.Ino, 10) + ":" + strconv.FormatInt(c.Offset, 10)
}

// IsZero reports whether c is the zero Cursor, which names no file.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// maxCursorLen is the length of the longest canonical cursor:
// 20 digits, 20 digits and 19 digits with two colons.
const maxCursorLen = 20 + 1 + 20 + 1 + 19

// ParseCursor parses the output of Cursor.String. It is strict, because a
// cursor usually comes from a state file that may be damaged: exactly three
// fields separated by colons, each a canonical non-negative decimal number
// (digits only, no sign, no spaces, no leading zeros) that fits its type.
func ParseCursor(s string) (Cursor, error) {
	if len(s) > maxCursorLen {
		return Cursor{}, fmt.Errorf("parse cursor %.*q...: too long", maxCursorLen, s)
	}
	fields := strings.Split(s, ":")
	if len(fields) != 3 {
		return Cursor{}, fmt.Errorf("parse cursor %q: want DEV:INO:OFFSET, got %d field(s)", s, len(fields))
	}
	var v [3]uint64
	for i, f := range fields {
		if !canonicalDecimal(f) {
			return Cursor{}, fmt.Errorf("parse cursor %q: field %d (%q) is not a plain decimal number", s, i+1, f)
		}
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return Cursor{}, fmt.Errorf("parse cursor %q: field %d: %w", s, i+1, err)
		}
		v[i] = n
	}
	if v[2] > math.MaxInt64 {
		return Cursor{}, fmt.Errorf("parse cursor %q: offset %d out of range", s, v[2])
	}
	return Cursor{Dev: v[0], Ino: v[1], Offset: int64(v[2])}, nil
}

// canonicalDecimal reports whether s is a non-empty string of ASCII digits
// without a leading zero (except "0" itself), so that parsing and String
// round-trip exactly.
func canonicalDecimal(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
