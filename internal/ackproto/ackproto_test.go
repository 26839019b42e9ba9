package ackproto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

const sid = "0123456789abcdef0123456789abcdef"

func TestRoundTripSender(t *testing.T) {
	var b []byte
	b = AppendHello(b, Hello{Version: 1, Stream: sid})
	b = AppendData(b, 0, []byte("one\ntwo\n"))
	b = AppendData(b, 8, []byte("bin\x00\xff\n"))
	b = AppendGap(b, 1000, []byte("notice\n"))
	b = AppendGap(b, 2000, nil)
	big := bytes.Repeat([]byte("x"), MaxData-1)
	big = append(big, '\n')
	b = AppendData(b, 2000, big)

	d := NewDecoder(bytes.NewReader(b))
	h, err := d.Hello()
	if err != nil || h != (Hello{1, sid}) {
		t.Fatalf("Hello = %+v, %v", h, err)
	}
	want := []Frame{
		{Data, 0, []byte("one\ntwo\n")},
		{Data, 8, []byte("bin\x00\xff\n")},
		{Gap, 1000, []byte("notice\n")},
		{Gap, 2000, []byte{}},
		{Data, 2000, big},
	}
	for i, w := range want {
		f, err := d.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Type != w.Type || f.Offset != w.Offset || !bytes.Equal(f.Data, w.Data) {
			t.Fatalf("frame %d = %v %d %q, want %v %d %q", i, f.Type, f.Offset, clip(string(f.Data)), w.Type, w.Offset, clip(string(w.Data)))
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func TestRoundTripReceiver(t *testing.T) {
	var b []byte
	b = AppendReceiverHello(b, ReceiverHello{Version: 1, Stream: sid, Offset: 12345})
	b = AppendAck(b, 0)
	b = AppendAck(b, MaxOffset)
	b = AppendError(b, CodeQuota, "file full\nsecond line\x00 and more")
	d := NewReplyDecoder(bytes.NewReader(b))
	h, err := d.Hello()
	if err != nil || h != (ReceiverHello{1, sid, 12345}) {
		t.Fatalf("Hello = %+v, %v", h, err)
	}
	for _, want := range []Reply{{Type: Ack}, {Type: Ack, Offset: MaxOffset}, {Type: Error, Code: CodeQuota, Text: "file full second line  and more"}} {
		r, err := d.Next()
		if err != nil || r != want {
			t.Fatalf("Next = %+v, %v; want %+v", r, err, want)
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("at the end: %v", err)
	}

	// No stream yet; a newer receiver's extra fields are ignored.
	for _, line := range []string{"sshlogfwd-receive 1 - 0\n", "sshlogfwd-receive 3 - 0 future fields\n"} {
		h, err = NewReplyDecoder(strings.NewReader(line)).Hello()
		if err != nil || h.Stream != "" || h.Offset != 0 {
			t.Errorf("%q: %+v, %v", line, h, err)
		}
	}
	// A refusal instead of a hello.
	_, err = NewReplyDecoder(strings.NewReader("E busy held by pid 7\n")).Hello()
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBusy || re.Text != "held by pid 7" {
		t.Errorf("refusal: %v", err)
	}
}

func TestSenderHelloVersions(t *testing.T) {
	h, err := NewDecoder(strings.NewReader("sshlogfwd-push 7 " + sid + " extra fields\n")).Hello()
	if err != nil || h.Version != 7 || h.Stream != sid {
		t.Errorf("newer hello: %+v, %v", h, err)
	}
	for _, bad := range []string{
		"", "\n", "sshlogfwd-push\n", "sshlogfwd-push 1\n", "sshlogfwd-push 0 " + sid + "\n",
		"sshlogfwd-push 01 " + sid + "\n", "sshlogfwd-push 1 " + strings.ToUpper(sid) + "\n",
		"sshlogfwd-push 1 abc\n", "sshlogfwd-push 1 " + sid, "hello\n", "sshlogfwd-push 1 " + strings.Repeat("a", 600) + "\n",
		"sshlogfwd-push -1 " + sid + "\n", "sshlogfwd-push 99999999999999999999 " + sid + "\n",
	} {
		if h, err := NewDecoder(strings.NewReader(bad)).Hello(); err == nil {
			t.Errorf("hello %q accepted: %+v", bad, h)
		}
	}
}

func TestDecoderRejects(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"X 1 1\nx", ErrProtocol},
		{"D 1\n", ErrProtocol},
		{"D -1 1\nx", ErrProtocol},
		{"D +1 1\nx", ErrProtocol},
		{"D 01 1\nx", ErrProtocol},
		{"D 1 0\n", ErrProtocol},
		{"D 1  1\nx", ErrProtocol},
		{"D 1 1 \nx", ErrProtocol},
		{"D 1 1048577\n", ErrProtocol},
		{"D 99999999999999999999 1\nx", ErrProtocol},
		{"D 9223372036854775807 1\nx", ErrProtocol},
		{"D 4611686018427387904 1\nx", ErrProtocol}, // ends beyond MaxOffset
		{"D 18446744073709551617 1\nx", ErrProtocol},
		{"G 1 4097\n", ErrProtocol},
		{"D 0 1" + strings.Repeat("1", 100) + "\n", ErrProtocol},
		{"D 0 10\nshort", ErrTruncated},
		{"D 0 10", ErrTruncated},
		{"G 5 3\nab", ErrTruncated},
		{"D", ErrTruncated},
		{"\n", ErrProtocol},
		{"D\n", ErrProtocol},
	}
	for _, tt := range tests {
		_, err := NewDecoder(strings.NewReader(tt.in)).Next()
		if !errors.Is(err, tt.want) {
			t.Errorf("Next(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestReplyRejects(t *testing.T) {
	for _, bad := range []string{"A\n", "A -1\n", "A 1 2\n", "A x\n", "Z 1\n", "E\n", "E BAD text\n", "A 4611686018427387905\n", strings.Repeat("A", 2000) + "\n"} {
		if r, err := NewReplyDecoder(strings.NewReader(bad)).Next(); !errors.Is(err, ErrProtocol) {
			t.Errorf("Next(%q) = %+v, %v; want a protocol error", clip(bad), r, err)
		}
	}
	for _, bad := range []string{"sshlogfwd-receive 1 - \n", "sshlogfwd-receive 1 x 0\n", "sshlogfwd-receive 1 -\n", "sshlogfwd-push 1 - 0\n", "sshlogfwd-receive 1 - 00\n"} {
		if h, err := NewReplyDecoder(strings.NewReader(bad)).Hello(); err == nil {
			t.Errorf("Hello(%q) accepted: %+v", bad, h)
		}
	}
}

func TestCleanText(t *testing.T) {
	long := strings.Repeat("é", 1000)
	got := cleanText(long)
	if len(got) > maxText || !strings.HasPrefix(long, got) {
		t.Errorf("cut %d bytes, valid prefix %v", len(got), strings.HasPrefix(long, got))
	}
	if cleanText("") != "-" || cleanText("a\rb\xff") != "a b?" {
		t.Errorf("cleanText: %q %q", cleanText(""), cleanText("a\rb\xff"))
	}
}

func TestNewStreamID(t *testing.T) {
	a, b := NewStreamID(), NewStreamID()
	if a == b || CheckStream(a) != nil || len(a) != 32 {
		t.Errorf("stream ids %q %q", a, b)
	}
}

// FuzzDecode feeds the receiver's decoder what a hostile sender could send:
// it must return frames or a clear error, never panic, never hand out a
// payload larger than the limits, and never allocate beyond one frame.
func FuzzDecode(f *testing.F) {
	var ok []byte
	ok = AppendHello(ok, Hello{1, sid})
	ok = AppendData(ok, 0, []byte("line\n"))
	ok = AppendGap(ok, 100, []byte("dropped\n"))
	ok = AppendData(ok, 100, []byte("more\nlines\n"))
	f.Add(ok)
	f.Add(ok[:len(ok)-3])
	f.Add([]byte("sshlogfwd-push 1 " + sid + "\nD 0 1048576\nabc"))
	f.Add([]byte("sshlogfwd-push 1 " + sid + "\nD 4611686018427387903 1\nx"))
	f.Add([]byte("sshlogfwd-push 1 " + sid + "\nD -5 3\nabc"))
	f.Add([]byte("sshlogfwd-push 1 " + sid + "\nD 99999999999999999999999 3\nabc"))
	f.Add([]byte("sshlogfwd-push 1 " + sid + "\nG 10 99999\n"))
	f.Add([]byte("sshlogfwd-push 2 " + sid + " x y\nD 0 2\nab"))
	f.Add([]byte("\x00\xff\xfe garbage"))
	f.Add([]byte(strings.Repeat("D 0 1\n", 1000)))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in))
		if _, err := d.Hello(); err != nil {
			return
		}
		for range 10000 {
			fr, err := d.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrProtocol) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			switch fr.Type {
			case Data:
				if len(fr.Data) == 0 || len(fr.Data) > MaxData || fr.Offset < 0 || fr.Offset+int64(len(fr.Data)) > MaxOffset {
					t.Fatalf("data frame out of bounds: offset %d len %d", fr.Offset, len(fr.Data))
				}
			case Gap:
				if len(fr.Data) > MaxNotice || fr.Offset < 0 || fr.Offset > MaxOffset {
					t.Fatalf("gap frame out of bounds: offset %d len %d", fr.Offset, len(fr.Data))
				}
			default:
				t.Fatalf("frame type %v", fr.Type)
			}
			if cap(d.buf) > MaxData {
				t.Fatalf("decoder buffer grew to %d", cap(d.buf))
			}
		}
	})
}
