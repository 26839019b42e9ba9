package journal

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Format is how an entry becomes one line.
type Format int

const (
	// FormatShort is journalctl's short-iso-precise shape with an RFC 3339
	// timestamp: "2026-12-02T06:43:42.374563+00:00 web1 sshd[812]: Accepted …".
	FormatShort Format = iota
	// FormatRFC5424 is a syslog message (RFC 5424) whose structured data
	// carries the entry's journal seqnum (see SDID).
	FormatRFC5424
)

// ParseFormat reads a format name: "short-iso-precise" (or "short") or
// "rfc5424".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "short-iso-precise", "short":
		return FormatShort, nil
	case "rfc5424":
		return FormatRFC5424, nil
	}
	return 0, fmt.Errorf("journal: line format %q: want short-iso-precise or rfc5424", s)
}

func (f Format) String() string {
	if f == FormatRFC5424 {
		return "rfc5424"
	}
	return "short-iso-precise"
}

// timeLayout is RFC 3339 with microseconds, as rsyslog's file format
// writes it (journalctl's short-iso-precise writes "+0000", which is not
// RFC 3339).
const timeLayout = "2006-01-02T15:04:05.000000-07:00"

// SDID names the RFC 5424 structured data element of FormatRFC5424:
//
//	[sshlogfwd@32473 seqnum_id="…" seqnum="1234" prev="1230"]
//
// seqnum_id and seqnum come from the entry's cursor. prev is the seqnum of
// the entry delivered before it (absent for the first one ever), so the log
// host can detect lost lines even though matches leave gaps in seqnum: a
// line whose prev is not the seqnum of the line before it means lines were
// lost on the way. Entries the journal itself lost (vacuumed before they
// were read) show up as a Gap, not here.
//
// 32473 is the example enterprise number of RFC 5612; a registered one
// should replace it.
const SDID = "sshlogfwd@32473"

// seqInfo is what the RFC 5424 structured data carries.
type seqInfo struct {
	cur     cursorPos
	prev    uint64
	hasPrev bool
}

// appendLine renders e as one line (without the final newline) in format f.
// Newlines anywhere in it become "#012", as rsyslog writes control
// characters (its $EscapeControlCharactersOnReceive): the line stays one
// line, and every other byte, invalid UTF-8 and NUL included, passes
// unchanged. A "#012" that was already in the message is not escaped, as in
// rsyslog: the two cannot be told apart.
func appendLine(b []byte, e *entry, f Format, ts *stamper, seq seqInfo) []byte {
	if f == FormatRFC5424 {
		return appendRFC5424(b, e, ts, seq)
	}
	return appendShort(b, e, ts)
}

// appendShort writes "TIME HOST IDENT[PID]: MESSAGE" with journalctl's
// fallbacks: no host name when the entry has none, _COMM when there is no
// SYSLOG_IDENTIFIER and "unknown" when neither, SYSLOG_PID when there is
// no _PID and no brackets when neither.
func appendShort(b []byte, e *entry, ts *stamper) []byte {
	b = ts.append(b, e.realtime)
	if len(e.hostname) > 0 {
		b = append(b, ' ')
		b = appendEscaped(b, e.hostname)
	}
	b = append(b, ' ')
	switch {
	case len(e.identifier) > 0:
		b = appendEscaped(b, e.identifier)
	case len(e.comm) > 0:
		b = appendEscaped(b, e.comm)
	default:
		b = append(b, "unknown"...)
	}
	pid := e.pid
	if len(pid) == 0 {
		pid = e.syslogPID
	}
	if len(pid) > 0 {
		b = append(b, '[')
		b = appendEscaped(b, pid)
		b = append(b, ']')
	}
	b = append(b, ':', ' ')
	return appendMessage(b, e)
}

// appendRFC5424 writes "<PRI>1 TIME HOST APP PROCID - [SD] MESSAGE". Header
// fields must be printable US-ASCII without spaces: other bytes become "_",
// and a missing field is "-". PRI defaults to user.notice, as rsyslog's
// imjournal does for entries without PRIORITY or SYSLOG_FACILITY.
func appendRFC5424(b []byte, e *entry, ts *stamper, seq seqInfo) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(syslogNumber(e.facility, 23, 1)*8+syslogNumber(e.priority, 7, 5)), 10)
	b = append(b, ">1 "...)
	if e.realtime > 0 {
		b = ts.append(b, e.realtime)
	} else {
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = appendHeaderField(b, e.hostname, 255)
	b = append(b, ' ')
	ident := e.identifier
	if len(ident) == 0 {
		ident = e.comm
	}
	b = appendHeaderField(b, ident, 48)
	b = append(b, ' ')
	pid := e.pid
	if len(pid) == 0 {
		pid = e.syslogPID
	}
	b = appendHeaderField(b, pid, 128)
	b = append(b, " - ["+SDID+` seqnum_id="`...)
	b = append(b, seq.cur.seqnumID...)
	b = append(b, `" seqnum="`...)
	b = strconv.AppendUint(b, seq.cur.seqnum, 10)
	if seq.hasPrev {
		b = append(b, `" prev="`...)
		b = strconv.AppendUint(b, seq.prev, 10)
	}
	b = append(b, `"] `...)
	return appendMessage(b, e)
}

// stamper writes timestamps in timeLayout in one time zone. Entries come
// many to a second: it formats the date, the time of day and the zone
// once per second and only the microseconds for each entry (time's
// AppendFormat was a quarter of the reader's CPU). A zone's offset changes
// only on whole seconds, so the cached parts are exact.
type stamper struct {
	loc  *time.Location
	sec  int64 // the second head and zone are of; valid when ok
	ok   bool
	head []byte // "2006-01-02T15:04:05"
	zone []byte // "-07:00"
}

func newStamper(loc *time.Location) *stamper { return &stamper{loc: loc} }

// append appends the time us (µs since the epoch) in timeLayout.
func (s *stamper) append(b []byte, us int64) []byte {
	if us < 0 {
		return time.UnixMicro(us).In(s.loc).AppendFormat(b, timeLayout)
	}
	sec, frac := us/1e6, us%1e6
	if !s.ok || sec != s.sec {
		t := time.Unix(sec, 0).In(s.loc)
		s.head = t.AppendFormat(s.head[:0], "2006-01-02T15:04:05")
		s.zone = t.AppendFormat(s.zone[:0], "-07:00")
		s.sec, s.ok = sec, true
	}
	b = append(b, s.head...)
	b = append(b, '.',
		byte('0'+frac/100000), byte('0'+frac/10000%10), byte('0'+frac/1000%10),
		byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10))
	return append(b, s.zone...)
}

// appendMessage writes MESSAGE escaped, and says so when it was cut.
func appendMessage(b []byte, e *entry) []byte {
	b = appendEscaped(b, e.message)
	if e.messageCut > 0 {
		b = append(b, " [sshlogfwd: "...)
		b = strconv.AppendInt(b, e.messageCut, 10)
		b = append(b, " more bytes cut]"...)
	}
	return b
}

// appendEscaped appends s with every newline written as "#012".
func appendEscaped(b, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		b = append(b, "#012"...)
		s = s[i+1:]
	}
}

// appendHeaderField appends an RFC 5424 header field: "-" when empty, at
// most limit bytes, bytes outside printable US-ASCII (33-126) as "_".
func appendHeaderField(b, s []byte, limit int) []byte {
	if len(s) == 0 {
		return append(b, '-')
	}
	if len(s) > limit {
		s = s[:limit]
	}
	for _, c := range s {
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// syslogNumber parses a PRIORITY or SYSLOG_FACILITY value, def when missing
// or out of 0..highest.
func syslogNumber(s []byte, highest, def int) int {
	n, err := strconv.Atoi(string(s))
	if err != nil || n < 0 || n > highest {
		return def
	}
	return n
}
