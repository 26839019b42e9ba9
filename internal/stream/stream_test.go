package stream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

func cur(dev, ino uint64, off int64) tailer.Cursor {
	return tailer.Cursor{Dev: dev, Ino: ino, Offset: off}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	e := NewEncoder(&b)
	big := bytes.Repeat([]byte("x"), MaxData+10)
	steps := []func() error{
		e.Version,
		func() error { return e.Start(cur(1, 2, 3), HowResume) },
		func() error { return e.Data(cur(1, 2, 9), []byte("hello\n")) },
		e.Heartbeat,
		func() error { return e.Rotated(cur(1, 5, 0)) },
		func() error { return e.Data(cur(1, 5, int64(len(big))), big) },
		func() error { return e.Late(cur(1, 5, int64(len(big))), []byte("late\n")) },
		func() error { return e.Truncated(cur(1, 5, 0)) },
		func() error { return e.Data(cur(1, 5, 2), []byte("ab")) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(b.String(), "sshlogfwd-stream 1\nS 1:2:3 resume\nD 1:2:9 6\nhello\nH\nR 1:5:0\n") {
		t.Fatalf("encoding starts %q", b.String()[:80])
	}
	want := []Frame{
		{Type: Start, Cursor: cur(1, 2, 3), How: HowResume},
		{Type: Data, Cursor: cur(1, 2, 9), Data: []byte("hello\n")},
		{Type: Heartbeat},
		{Type: Rotated, Cursor: cur(1, 5, 0)},
		{Type: Data, Cursor: cur(1, 5, MaxData), Data: big[:MaxData]},
		{Type: Data, Cursor: cur(1, 5, MaxData+10), Data: big[MaxData:]},
		{Type: Late, Cursor: cur(1, 5, MaxData+10), Data: []byte("late\n")},
		{Type: Truncated, Cursor: cur(1, 5, 0)},
		{Type: Data, Cursor: cur(1, 5, 2), Data: []byte("ab")},
	}
	d := NewDecoder(&b)
	for i, w := range want {
		f, err := d.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Type != w.Type || f.Cursor != w.Cursor || f.How != w.How || !bytes.Equal(f.Data, w.Data) {
			t.Fatalf("frame %d = %v %v %q len %d, want %v %v %q len %d", i, f.Type, f.Cursor, f.How, len(f.Data), w.Type, w.Cursor, w.How, len(w.Data))
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("after last frame: %v, want io.EOF", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	const v = "sshlogfwd-stream 1\n"
	const s = v + "S 1:2:3 start\n"
	for _, tc := range []struct {
		name, in string
		want     error  // errors.Is target, or nil
		substr   string // in the message
	}{
		{"empty", "", io.EOF, ""},
		{"tail output", "Nov 25 10:00:00 web1 sshd[1]: Accepted\n", ErrNotStream, "Nov 25"},
		{"cut version", "sshlogfwd-str", io.ErrUnexpectedEOF, ""},
		{"future version", "sshlogfwd-stream 2\n", ErrVersion, "version 1"},
		{"long first line", strings.Repeat("a", 500), ErrNotStream, ""},
		{"only version", v, io.EOF, ""},
		{"data before start", v + "D 1:2:3 1\nx", nil, "before the start"},
		{"two starts", s + "S 1:2:3 start\n", nil, "second start"},
		{"bad how", v + "S 1:2:3 sideways\n", nil, "start reason"},
		{"zero length", s + "D 1:2:3 0\n", nil, "length"},
		{"leading zero length", s + "D 1:2:3 01\nx", nil, "length"},
		{"huge length", s + "D 1:2:9999999 9999999\n", nil, "length"},
		{"negative length", s + "D 1:2:3 -1\n", nil, "length"},
		{"bad cursor", s + "D 1:2 1\nx", nil, "cursor"},
		{"data past its cursor", s + "D 1:2:0 1\nx", nil, "before its own length"},
		{"cut payload", s + "D 1:2:5 5\nab", io.ErrUnexpectedEOF, ""},
		{"cut header", s + "D 1:2", io.ErrUnexpectedEOF, ""},
		{"unknown type", s + "X 1:2:3\n", nil, "unknown frame type"},
		{"heartbeat with args", s + "H 1\n", nil, "bad frame header"},
		{"crlf", v + "S 1:2:3 start\r\n", nil, "start reason"},
		{"extra field", s + "R 1:2:0 x\n", nil, "want R CURSOR"},
		{"long header", s + "D " + strings.Repeat("1", 200) + "\n", nil, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(tc.in))
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				_, err = d.Next()
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.want == nil && (err == nil || errors.Is(err, io.EOF)) {
				t.Fatalf("error %v, want a decoding error", err)
			}
			if tc.substr != "" && !strings.Contains(err.Error(), tc.substr) {
				t.Fatalf("error %q lacks %q", err, tc.substr)
			}
		})
	}
}

func TestEncoderRejectsBadHow(t *testing.T) {
	t.Parallel()
	if err := NewEncoder(io.Discard).Start(cur(1, 2, 3), "x y"); err == nil {
		t.Fatal("Start with an invalid reason: no error")
	}
}

// FuzzDecode checks that no input makes the decoder panic, loop or return a
// frame that does not survive a round trip through the encoder.
func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	e := NewEncoder(&b)
	e.Version()
	e.Start(cur(2049, 131, 0), HowStart)
	e.Data(cur(2049, 131, 6), []byte("line1\n"))
	e.Heartbeat()
	e.Rotated(cur(2049, 132, 0))
	e.Late(cur(2049, 132, 0), []byte("late\n"))
	e.Truncated(cur(2049, 132, 0))
	f.Add(b.Bytes())
	f.Add([]byte("sshlogfwd-stream 1\nS 0:0:0 wait\nH\n"))
	f.Add([]byte("sshlogfwd-stream 1\nS 1:2:3 lost\nD 1:2:10 7\nabc"))
	f.Add([]byte("sshlogfwd-stream 2\n"))
	f.Add([]byte("Nov 25 10:00:00 host msg\n"))
	f.Add([]byte("sshlogfwd-stream 1\nS 1:2:3 end\nD 1:2:1048580 1048577\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in))
		var out bytes.Buffer
		enc := NewEncoder(&out)
		enc.Version()
		n := 0
		for ; n <= len(in); n++ {
			fr, err := d.Next()
			if err != nil {
				break
			}
			if len(fr.Data) > MaxData {
				t.Fatalf("frame with %d bytes", len(fr.Data))
			}
			switch fr.Type {
			case Start:
				err = enc.Start(fr.Cursor, fr.How)
			case Data:
				err = enc.Data(fr.Cursor, fr.Data)
			case Late:
				err = enc.Late(fr.Cursor, fr.Data)
			case Rotated:
				err = enc.Rotated(fr.Cursor)
			case Truncated:
				err = enc.Truncated(fr.Cursor)
			case Heartbeat:
				err = enc.Heartbeat()
			default:
				t.Fatalf("unknown type %v decoded", fr.Type)
			}
			if err != nil {
				t.Fatalf("re-encoding %v: %v", fr.Type, err)
			}
		}
		if n > len(in) {
			t.Fatalf("%d frames from %d bytes", n, len(in))
		}
		// What was decoded re-encodes to a prefix of the input.
		if n > 0 && !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatalf("re-encoded %q is not a prefix of the input %q", out.Bytes(), in)
		}
	})
}

// The first line of a far side that is not serve stays reachable, so that
// pull can say what answered instead (nologin's message, a tail).
func TestNotStreamFirstLine(t *testing.T) {
	t.Parallel()
	_, err := NewDecoder(strings.NewReader("This account is currently not available.\n")).Next()
	var ns *NotStreamError
	if !errors.Is(err, ErrNotStream) || !errors.As(err, &ns) || ns.First != "This account is currently not available." {
		t.Fatalf("error %v (%#v), want a NotStreamError with the first line", err, ns)
	}
}

// A data frame whose payload the caller writes after DataHead decodes as
// the one Data writes; a header for no bytes, too many, or more bytes than
// the cursor's offset is refused before anything is written.
func TestDataHead(t *testing.T) {
	t.Parallel()
	var split, whole bytes.Buffer
	for _, b := range []*bytes.Buffer{&split, &whole} {
		if err := NewEncoder(b).Version(); err != nil {
			t.Fatal(err)
		}
	}
	e := NewEncoder(&split)
	if err := e.Start(cur(1, 2, 0), HowStart); err != nil {
		t.Fatal(err)
	}
	if err := e.DataHead(cur(1, 2, 6), 6); err != nil {
		t.Fatal(err)
	}
	split.WriteString("hello\n")
	w := NewEncoder(&whole)
	if err := w.Start(cur(1, 2, 0), HowStart); err != nil {
		t.Fatal(err)
	}
	if err := w.Data(cur(1, 2, 6), []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if split.String() != whole.String() {
		t.Fatalf("DataHead + payload %q, Data %q", split.String(), whole.String())
	}
	before := split.Len()
	for _, bad := range []struct {
		end tailer.Cursor
		n   int
	}{{cur(1, 2, 10), 0}, {cur(1, 2, 2*MaxData), MaxData + 1}, {cur(1, 2, 5), 6}} {
		if err := e.DataHead(bad.end, bad.n); err == nil {
			t.Errorf("DataHead(%v, %d) accepted", bad.end, bad.n)
		}
	}
	if split.Len() != before {
		t.Errorf("refused headers wrote %q", split.String()[before:])
	}
}

// A payload can be taken in two parts: what the decoder read ahead
// (Buffered) and the rest straight from the reader (Skip); the next frame
// then decodes as usual. A Head before the payload is taken is refused.
func TestHeadBufferedSkip(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	e := NewEncoder(&b)
	e.Version()
	e.Start(cur(1, 2, 0), HowStart)
	payload := bytes.Repeat([]byte("0123456789"), 100)
	e.Data(cur(1, 2, 1000), payload)
	e.Heartbeat()
	e.Data(cur(1, 2, 1003), []byte("ab\n"))
	r := bytes.NewReader(b.Bytes())
	d := NewDecoderSize(r, 64)
	if f, n, err := d.Head(); err != nil || f.Type != Start || n != 0 {
		t.Fatalf("first Head: %v %d %v", f.Type, n, err)
	}
	f, n, err := d.Head()
	if err != nil || f.Type != Data || n != 1000 || f.Data != nil {
		t.Fatalf("data Head: %v %d %v (data %d)", f.Type, n, err, len(f.Data))
	}
	if _, _, err := d.Head(); err == nil {
		t.Fatal("Head with the payload not taken succeeded")
	}
	head := append([]byte(nil), d.Buffered()...)
	if len(head) == 0 || len(head) > 64 || d.Pending() != n-len(head) {
		t.Fatalf("Buffered %d bytes, %d pending", len(head), d.Pending())
	}
	rest := make([]byte, d.Pending())
	if _, err := io.ReadFull(r, rest); err != nil {
		t.Fatal(err)
	}
	if err := d.Skip(len(rest) + 1); err == nil {
		t.Fatal("Skip beyond the payload accepted")
	}
	if err := d.Skip(len(rest)); err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, payload) {
		t.Fatalf("payload taken in two parts differs")
	}
	if f, err := d.Next(); err != nil || f.Type != Heartbeat {
		t.Fatalf("after the payload: %v %v", f.Type, err)
	}
	if f, err := d.Next(); err != nil || string(f.Data) != "ab\n" {
		t.Fatalf("last frame: %v %q %v", f.Type, f.Data, err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}
