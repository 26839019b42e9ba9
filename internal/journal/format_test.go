package journal

import (
	"strings"
	"testing"
	"time"
)

func TestAppendLine(t *testing.T) {
	t.Parallel()
	const ts = 1796193822374563 // 2026-12-02T06:43:42.374563Z
	base := entry{realtime: ts, hostname: []byte("web1"), identifier: []byte("sshd"), comm: []byte("sshd-session"),
		pid: []byte("812"), syslogPID: []byte("99"), message: []byte("Accepted publickey"), hasMessage: true,
		priority: []byte("6"), facility: []byte("4")}
	with := func(f func(e *entry)) entry { e := base; f(&e); return e }
	seq := seqInfo{cur: cursorPos{seqnumID: seqA, seqnum: 1234}, prev: 1230, hasPrev: true}
	berlin := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name   string
		e      entry
		format Format
		loc    *time.Location
		seq    seqInfo
		want   string
	}{
		{"short", base, FormatShort, time.UTC, seq, "2026-12-02T06:43:42.374563+00:00 web1 sshd[812]: Accepted publickey"},
		{"short in a time zone", base, FormatShort, berlin, seq, "2026-12-02T07:43:42.374563+01:00 web1 sshd[812]: Accepted publickey"},
		{"no identifier: _COMM", with(func(e *entry) { e.identifier = nil }), FormatShort, time.UTC, seq, "2026-12-02T06:43:42.374563+00:00 web1 sshd-session[812]: Accepted publickey"},
		{"neither: unknown", with(func(e *entry) { e.identifier, e.comm = nil, nil }), FormatShort, time.UTC, seq, "2026-12-02T06:43:42.374563+00:00 web1 unknown[812]: Accepted publickey"},
		{"no _PID: SYSLOG_PID", with(func(e *entry) { e.pid = nil }), FormatShort, time.UTC, seq, "2026-12-02T06:43:42.374563+00:00 web1 sshd[99]: Accepted publickey"},
		{"no pid at all", with(func(e *entry) { e.pid, e.syslogPID = nil, nil }), FormatShort, time.UTC, seq, "2026-12-02T06:43:42.374563+00:00 web1 sshd: Accepted publickey"},
		{"no host name", with(func(e *entry) { e.hostname = nil }), FormatShort, time.UTC, seq, "2026-12-02T06:43:42.374563+00:00 sshd[812]: Accepted publickey"},
		{"newlines escaped everywhere", with(func(e *entry) {
			e.message, e.identifier = []byte("one\ntwo\n\nthree\n"), []byte("a\nb")
		}), FormatShort, time.UTC, seq, "2026-12-02T06:43:42.374563+00:00 web1 a#012b[812]: one#012two#012#012three#012"},
		{"other bytes byte-exact", with(func(e *entry) { e.message = []byte("nul\x00 bad\xff\xfe cr\r tab\t #012") }), FormatShort, time.UTC, seq,
			"2026-12-02T06:43:42.374563+00:00 web1 sshd[812]: nul\x00 bad\xff\xfe cr\r tab\t #012"},
		{"cut message says so", with(func(e *entry) { e.messageCut = 42 }), FormatShort, time.UTC, seq,
			"2026-12-02T06:43:42.374563+00:00 web1 sshd[812]: Accepted publickey [sshlogfwd: 42 more bytes cut]"},

		{"rfc5424", base, FormatRFC5424, time.UTC, seq,
			`<38>1 2026-12-02T06:43:42.374563+00:00 web1 sshd 812 - [sshlogfwd@32473 seqnum_id="` + seqA + `" seqnum="1234" prev="1230"] Accepted publickey`},
		{"rfc5424, first entry ever: no prev", base, FormatRFC5424, time.UTC, seqInfo{cur: seq.cur}, `<38>1 2026-12-02T06:43:42.374563+00:00 web1 sshd 812 - [sshlogfwd@32473 seqnum_id="` + seqA + `" seqnum="1234"] Accepted publickey`},
		{"rfc5424 kernel", with(func(e *entry) {
			e.facility, e.priority, e.identifier, e.pid, e.syslogPID, e.comm = []byte("0"), []byte("2"), []byte("kernel"), nil, nil, nil
		}), FormatRFC5424, time.UTC, seq, `<2>1 2026-12-02T06:43:42.374563+00:00 web1 kernel - - [sshlogfwd@32473 seqnum_id="` + seqA + `" seqnum="1234" prev="1230"] Accepted publickey`},
		{"rfc5424 authpriv.emerg", with(func(e *entry) { e.facility, e.priority = []byte("10"), []byte("0") }), FormatRFC5424, time.UTC, seq,
			`<80>1 2026-12-02T06:43:42.374563+00:00 web1 sshd 812 - [sshlogfwd@32473 seqnum_id="` + seqA + `" seqnum="1234" prev="1230"] Accepted publickey`},
		{"rfc5424 defaults and nil values", with(func(e *entry) {
			e.facility, e.priority, e.hostname, e.identifier, e.comm, e.pid, e.syslogPID, e.realtime = []byte("24"), nil, nil, nil, nil, nil, nil, 0
		}), FormatRFC5424, time.UTC, seq, `<13>1 - - - - - [sshlogfwd@32473 seqnum_id="` + seqA + `" seqnum="1234" prev="1230"] Accepted publickey`},
		{"rfc5424 header fields sanitized and bounded", with(func(e *entry) {
			e.identifier, e.hostname, e.message = []byte("my app\xff"+strings.Repeat("x", 60)), []byte("h\n1"), []byte("a\nb")
		}), FormatRFC5424, time.UTC, seq, `<38>1 2026-12-02T06:43:42.374563+00:00 h_1 my_app_` + strings.Repeat("x", 41) + ` 812 - [sshlogfwd@32473 seqnum_id="` + seqA + `" seqnum="1234" prev="1230"] a#012b`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendLine(nil, &tc.e, tc.format, newStamper(tc.loc), tc.seq))
			if got != tc.want {
				t.Errorf("line\n %q\nwant\n %q", got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("line holds a newline: %q", got)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Format{"short-iso-precise": FormatShort, "short": FormatShort, "rfc5424": FormatRFC5424} {
		if f, err := ParseFormat(in); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, f, err)
		}
	}
	if _, err := ParseFormat("json"); err == nil {
		t.Error("ParseFormat(json) succeeded")
	}
}

// TestStamper: the timestamp formatted once per second and completed with
// the microseconds is time's own, across second boundaries, a time zone's
// changes of offset and before 1970.
func TestStamper(t *testing.T) {
	t.Parallel()
	zones := []*time.Location{time.UTC, time.FixedZone("", -(9*3600 + 30*60))}
	if berlin, err := time.LoadLocation("Europe/Berlin"); err == nil {
		zones = append(zones, berlin)
	}
	// 2026-10-25 00:59:58 UTC: Berlin goes from +02:00 to +01:00 at 01:00 UTC.
	const change = 1792889998 * 1e6
	var times []int64
	for us := int64(change); us < change+3e6; us += 249999 {
		times = append(times, us)
	}
	times = append(times, 0, 999999, 1e6, 1796193822374563, -1, -1e6-1, 1796193822000000, 1796193822999999, 1796193821999999)
	for _, loc := range zones {
		s := newStamper(loc)
		for _, us := range times {
			got := string(s.append([]byte("x"), us))
			want := "x" + time.UnixMicro(us).In(loc).Format(timeLayout)
			if got != want {
				t.Errorf("%v at %d µs: %q, want %q", loc, us, got, want)
			}
		}
	}
}
