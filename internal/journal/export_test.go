package journal

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// exportOf encodes entries as journalctl --output=export would.
func exportOf(entries ...testlab.JournalEntry) []byte {
	var b []byte
	for _, e := range entries {
		b = testlab.AppendExport(b, e)
	}
	return b
}

func readAll(t *testing.T, in []byte, maxMessage int) ([]entry, error) {
	t.Helper()
	r := newExportReader(bytes.NewReader(in), maxMessage)
	var out []entry
	for {
		e, err := r.next()
		if err != nil {
			return out, err
		}
		c := *e // copy: the reader reuses its buffers
		c.cursor = bytes.Clone(e.cursor)
		c.message = bytes.Clone(e.message)
		c.identifier = bytes.Clone(e.identifier)
		c.hostname = bytes.Clone(e.hostname)
		out = append(out, c)
	}
}

func TestExportReaderFields(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("L", 300<<10) // longer than the read buffer, as text
	in := exportOf(
		testlab.JournalEntry{"__CURSOR": "c1", "__REALTIME_TIMESTAMP": "1796193822374563", "MESSAGE": "hello",
			"SYSLOG_IDENTIFIER": "sshd", "_HOSTNAME": "web1", "_OTHER": "ignored", "COREDUMP": "\x00\x01binary ignored"},
		testlab.JournalEntry{"__CURSOR": "c2", "MESSAGE": "two\nlines\x00nul \xff\xfe"},
		testlab.JournalEntry{"__CURSOR": "c3", "MESSAGE": long},
		testlab.JournalEntry{"__CURSOR": "c4", "MESSAGE": "bin\n" + long},
		testlab.JournalEntry{"__CURSOR": "c5", "PRIORITY": "6"},
	)
	got, err := readAll(t, in, DefaultMaxMessage)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v", err)
	}
	want := []struct {
		cursor, message string
		has             bool
	}{
		{"c1", "hello", true}, {"c2", "two\nlines\x00nul \xff\xfe", true}, {"c3", long, true}, {"c4", "bin\n" + long, true}, {"c5", "", false},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if string(g.cursor) != w.cursor || string(g.message) != w.message || g.hasMessage != w.has || g.messageCut != 0 {
			t.Errorf("entry %d: cursor %q, message %d bytes %.30q (has %v, cut %d); want %q, %d bytes %.30q (has %v)",
				i, g.cursor, len(g.message), g.message, g.hasMessage, g.messageCut, w.cursor, len(w.message), w.message, w.has)
		}
	}
	if g := got[0]; g.realtime != 1796193822374563 || string(g.identifier) != "sshd" || string(g.hostname) != "web1" {
		t.Errorf("entry 0: realtime %d identifier %q hostname %q", g.realtime, g.identifier, g.hostname)
	}
}

// TestExportReaderTorn cuts a stream at every byte: a complete entry is
// returned, a cut one never is, and the end is io.EOF only between
// entries. This is what happens when journalctl is killed mid-write.
func TestExportReaderTorn(t *testing.T) {
	t.Parallel()
	e1 := exportOf(testlab.JournalEntry{"__CURSOR": "c1", "MESSAGE": "first"})
	e2 := exportOf(testlab.JournalEntry{"__CURSOR": "c2", "MESSAGE": "bin\nary", "_PID": "1"})
	in := append(bytes.Clone(e1), e2...)
	for cut := 0; cut <= len(in); cut++ {
		got, err := readAll(t, in[:cut], DefaultMaxMessage)
		wantN := 0
		if cut >= len(e1) {
			wantN = 1
		}
		if cut == len(in) {
			wantN = 2
		}
		atBoundary := cut == 0 || cut == len(e1) || cut == len(in)
		if len(got) != wantN || atBoundary != errors.Is(err, io.EOF) || !atBoundary && !errors.Is(err, errTorn) {
			t.Errorf("cut at %d of %d: %d entries, err %v; want %d entries and %s", cut, len(in), len(got), err, wantN,
				map[bool]string{true: "io.EOF", false: "errTorn"}[atBoundary])
		}
	}
}

func TestExportReaderCutsLongMessage(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{strings.Repeat("m", 100), "x\n" + strings.Repeat("m", 98)} {
		got, err := readAll(t, exportOf(testlab.JournalEntry{"__CURSOR": "c", "MESSAGE": msg}, testlab.JournalEntry{"__CURSOR": "d", "MESSAGE": "next"}), 10)
		if !errors.Is(err, io.EOF) || len(got) != 2 {
			t.Fatalf("%d entries, %v", len(got), err)
		}
		if string(got[0].message) != msg[:10] || got[0].messageCut != 90 || string(got[1].message) != "next" {
			t.Errorf("message %q cut %d, then %q; want %q cut 90, then \"next\"", got[0].message, got[0].messageCut, got[1].message, msg[:10])
		}
	}
}

func TestExportReaderRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"MESSAGE=no cursor\n\n",
		"__CURSOR=c\n__REALTIME_TIMESTAMP=soon\n\n",
		"__CURSOR=c\nMESSAGE\n\x03\x00\x00\x00\x00\x00\x00\x00abcX\n\n", // no newline after the value
		"__CURSOR=c\nMESSAGE\n\xff\xff\xff\xff\xff\xff\xff\xff",         // absurd length
	} {
		_, err := readAll(t, []byte(in), DefaultMaxMessage)
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, errTorn) {
			t.Errorf("read %q: %v, want a format error", in, err)
		}
	}
}
