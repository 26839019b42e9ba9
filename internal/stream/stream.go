package stream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// Version is the protocol version this package speaks.
const Version = 1

// versionLine is the first line of a version-1 stream.
const versionLine = "sshlogfwd-stream 1\n"

// versionPrefix starts the version line of every version.
const versionPrefix = "sshlogfwd-stream "

// MaxData is the largest payload of one data or late frame. Larger writes
// are split by the Encoder.
const MaxData = 1 << 20

// maxHeader bounds a header line: "D " + cursor (at most 61) + " " + len (7)
// + LF, with room to spare. The version line and the start frame are shorter.
const maxHeader = 128

// Type is the kind of a frame: the first byte of its header.
type Type byte

// The frame types.
const (
	Start     Type = 'S'
	Data      Type = 'D'
	Late      Type = 'L'
	Rotated   Type = 'R'
	Truncated Type = 'T'
	Heartbeat Type = 'H'
)

func (t Type) String() string {
	switch t {
	case Start:
		return "start"
	case Data:
		return "data"
	case Late:
		return "late"
	case Rotated:
		return "rotated"
	case Truncated:
		return "truncated"
	case Heartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("Type(%q)", byte(t))
}

// How says where a stream starts; it is the argument of the start frame.
type How string

// The values of How.
const (
	HowResume How = "resume" // at the requested cursor
	HowLost   How = "lost"   // the requested cursor's file is gone: at the beginning of the current file
	HowStart  How = "start"  // fresh start at the beginning of the file
	HowEnd    How = "end"    // fresh start at the end of the file
	HowWait   How = "wait"   // the file does not exist yet; it is read from its beginning when it appears
)

func (h How) valid() bool {
	switch h {
	case HowResume, HowLost, HowStart, HowEnd, HowWait:
		return true
	}
	return false
}

// Frame is one decoded frame.
type Frame struct {
	Type   Type
	Cursor tailer.Cursor // not set for Heartbeat
	How    How           // Start only
	// Data is the payload of Data and Late frames. It is valid until the
	// next call to Decoder.Next.
	Data []byte
}

// Encoder writes a stream. Each frame is written with a single Write call,
// except a frame begun with DataHead, whose payload the caller writes.
// Its methods must not be called concurrently.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder returns an Encoder writing to w. Call Version first.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

func (e *Encoder) write(b []byte) error {
	_, err := e.w.Write(b)
	return err
}

// Version writes the version line.
func (e *Encoder) Version() error { return e.write([]byte(versionLine)) }

// Start writes the start frame.
func (e *Encoder) Start(c tailer.Cursor, how How) error {
	if !how.valid() {
		return fmt.Errorf("stream: invalid start reason %q", how)
	}
	return e.write([]byte("S " + c.String() + " " + string(how) + "\n"))
}

// Data writes p, which ends at end, as one or more data frames.
func (e *Encoder) Data(end tailer.Cursor, p []byte) error {
	// Frames before the last end where the next one starts.
	for len(p) > 0 {
		n := min(len(p), MaxData)
		c := end
		c.Offset -= int64(len(p) - n)
		if err := e.payload(Data, c, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// DataHead writes the header of one data frame of n bytes (1 to MaxData)
// that ends at end. The caller writes the n payload bytes right after it,
// before any other frame, to the same writer: serve moves them there from
// the followed file without reading them (splice(2)). A stream whose
// payload falls short is broken and must end.
func (e *Encoder) DataHead(end tailer.Cursor, n int) error {
	if n < 1 || n > MaxData || end.Offset < int64(n) {
		return fmt.Errorf("stream: data frame of %d bytes ending at %s", n, end)
	}
	e.buf = appendHead(e.buf[:0], Data, end, n)
	return e.write(e.buf)
}

// appendHead appends the header of a data or late frame to b.
func appendHead(b []byte, t Type, c tailer.Cursor, n int) []byte {
	b = append(b, byte(t), ' ')
	b = append(b, c.String()...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\n')
}

// Late writes p, bytes that were written to the previous file after the
// switch, as late frames; cur is the unchanged position in the current file.
func (e *Encoder) Late(cur tailer.Cursor, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), MaxData)
		if err := e.payload(Late, cur, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (e *Encoder) payload(t Type, c tailer.Cursor, p []byte) error {
	e.buf = appendHead(e.buf[:0], t, c, len(p))
	e.buf = append(e.buf, p...)
	err := e.write(e.buf)
	if cap(e.buf) > 2*MaxData {
		e.buf = nil
	}
	return err
}

// Rotated writes a rotated frame: the stream goes on at c, offset 0 of the
// next file.
func (e *Encoder) Rotated(c tailer.Cursor) error {
	return e.write([]byte("R " + c.String() + "\n"))
}

// Truncated writes a truncated frame: the file was truncated and the stream
// goes on at c, offset 0 of the same file.
func (e *Encoder) Truncated(c tailer.Cursor) error {
	return e.write([]byte("T " + c.String() + "\n"))
}

// Heartbeat writes a heartbeat frame.
func (e *Encoder) Heartbeat() error { return e.write([]byte("H\n")) }

// ErrNotStream is returned (wrapped) by Decoder.Next when the first line is
// not a version line: the far side is not `sshlogfwd serve`, e.g. a forced
// command that runs tail.
var ErrNotStream = errors.New("not an sshlogfwd stream")

// NotStreamError is the error for a first line that is not the version
// line; it is ErrNotStream (errors.Is). First is that line, for the caller
// that explains what answered instead (such as nologin's message).
type NotStreamError struct{ First string }

func (e *NotStreamError) Error() string {
	return fmt.Sprintf("%v: first line %q", ErrNotStream, e.First)
}
func (e *NotStreamError) Is(target error) bool { return target == ErrNotStream }

// ErrVersion is returned (wrapped) when the version line names a version
// this decoder does not speak.
var ErrVersion = errors.New("unsupported stream version")

// Decoder reads a stream.
type Decoder struct {
	r       *bufio.Reader
	version bool // version line seen
	started bool // start frame seen
	data    []byte
	pending int // payload bytes of the last Head still to be taken
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return NewDecoderSize(r, 64<<10) }

// NewDecoderSize returns a Decoder that reads ahead at most size bytes
// from r. A caller that takes payloads straight from r (Head, Skip) wants
// it small: what the Decoder read ahead of a payload is taken from memory.
func NewDecoderSize(r io.Reader, size int) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, size)}
}

// Next returns the next frame. The version line is checked on the first
// call. At a clean end of the stream (between frames) it returns io.EOF;
// a stream that ends inside a frame gives io.ErrUnexpectedEOF, and that
// partial frame must be discarded. Any malformed input is an error, after
// which the Decoder must not be used.
func (d *Decoder) Next() (Frame, error) {
	f, n, err := d.Head()
	if err != nil || n == 0 {
		return f, err
	}
	if f.Data, err = d.Payload(); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// Head reads the next frame up to its payload, as Next does, and returns
// the payload's length (0 for frames without one). The caller then takes
// the payload before the next Head or Next: all of it with Payload, or
// first what the Decoder has read ahead (Buffered) and the rest straight
// from the Decoder's reader, saying how much with Skip: pull moves it
// into its output with splice(2).
func (d *Decoder) Head() (Frame, int, error) {
	if d.pending > 0 {
		return Frame{}, 0, fmt.Errorf("stream: %d payload bytes of the last frame not taken", d.pending)
	}
	if !d.version {
		line, err := d.line()
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				return Frame{}, 0, io.EOF
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return Frame{}, 0, fmt.Errorf("%w: stream ended before the version line (got %q)", io.ErrUnexpectedEOF, line)
			}
			return Frame{}, 0, &NotStreamError{First: line}
		}
		if !strings.HasPrefix(line, versionPrefix) {
			return Frame{}, 0, &NotStreamError{First: line}
		}
		if line+"\n" != versionLine {
			return Frame{}, 0, fmt.Errorf("%w: %q (this side speaks version %d)", ErrVersion, line, Version)
		}
		d.version = true
	}
	line, err := d.line()
	if err != nil {
		if errors.Is(err, io.EOF) && line == "" {
			return Frame{}, 0, io.EOF
		}
		if errors.Is(err, io.EOF) {
			return Frame{}, 0, io.ErrUnexpectedEOF
		}
		return Frame{}, 0, err
	}
	f, n, err := parseHeader(line)
	if err != nil {
		return Frame{}, 0, err
	}
	if f.Type == Start {
		if d.started {
			return Frame{}, 0, errors.New("stream: second start frame")
		}
		d.started = true
	} else if !d.started {
		return Frame{}, 0, fmt.Errorf("stream: %s frame before the start frame", f.Type)
	}
	d.pending = n
	return f, n, nil
}

// Payload reads the rest of the last Head's payload. It is valid until
// the next call to Next or Payload.
func (d *Decoder) Payload() ([]byte, error) {
	n := d.pending
	if cap(d.data) < n {
		d.data = make([]byte, n)
	}
	d.data = d.data[:n]
	_, err := io.ReadFull(d.r, d.data)
	d.pending = 0
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return d.data, nil
}

// Buffered takes the bytes of the last Head's payload that the Decoder
// has already read from its reader, valid until the next call to the
// Decoder. The rest of the payload, Pending bytes, is next in the reader.
func (d *Decoder) Buffered() []byte {
	b, _ := d.r.Peek(min(d.pending, d.r.Buffered()))
	d.r.Discard(len(b))
	d.pending -= len(b)
	return b
}

// Pending is how many bytes of the last Head's payload are still to be
// taken.
func (d *Decoder) Pending() int { return d.pending }

// Skip says that the caller took n bytes of the payload straight from the
// Decoder's reader, after Buffered returned what the Decoder had.
func (d *Decoder) Skip(n int) error {
	if d.r.Buffered() > 0 && d.pending > 0 || n > d.pending || n < 0 {
		return fmt.Errorf("stream: skip %d payload bytes with %d pending and %d read ahead", n, d.pending, d.r.Buffered())
	}
	d.pending -= n
	return nil
}

// line reads one header line without its LF. A line longer than maxHeader
// is an error; a line cut by the end of input is returned with io.EOF.
func (d *Decoder) line() (string, error) {
	var b []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxHeader {
			return "", fmt.Errorf("stream: header line longer than %d bytes: %.40q...", maxHeader, b)
		}
		if err == nil {
			return string(b[:len(b)-1]), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return string(b), err
	}
}

// parseHeader parses a header line (without LF) and returns the frame and
// the payload length that follows it.
func parseHeader(line string) (Frame, int, error) {
	bad := func(why string) (Frame, int, error) {
		return Frame{}, 0, fmt.Errorf("stream: bad frame header %q: %s", line, why)
	}
	if line == "H" {
		return Frame{Type: Heartbeat}, 0, nil
	}
	if len(line) < 2 || line[1] != ' ' {
		return bad("want a type letter and a space")
	}
	t := Type(line[0])
	fields := strings.Split(line[2:], " ")
	switch t {
	case Start:
		if len(fields) != 2 {
			return bad("want S CURSOR HOW")
		}
		c, err := tailer.ParseCursor(fields[0])
		if err != nil {
			return bad(err.Error())
		}
		how := How(fields[1])
		if !how.valid() {
			return bad("unknown start reason")
		}
		return Frame{Type: t, Cursor: c, How: how}, 0, nil
	case Data, Late:
		if len(fields) != 2 {
			return bad("want " + string(t) + " CURSOR LEN")
		}
		c, err := tailer.ParseCursor(fields[0])
		if err != nil {
			return bad(err.Error())
		}
		n, ok := parseLen(fields[1])
		if !ok {
			return bad(fmt.Sprintf("length is not a decimal number from 1 to %d", MaxData))
		}
		if t == Data && c.Offset < int64(n) {
			return bad("data ends before its own length")
		}
		return Frame{Type: t, Cursor: c}, n, nil
	case Rotated, Truncated:
		if len(fields) != 1 {
			return bad("want " + string(t) + " CURSOR")
		}
		c, err := tailer.ParseCursor(fields[0])
		if err != nil {
			return bad(err.Error())
		}
		return Frame{Type: t, Cursor: c}, 0, nil
	}
	return bad("unknown frame type")
}

// parseLen parses a canonical decimal length from 1 to MaxData.
func parseLen(s string) (int, bool) {
	if s == "" || len(s) > 7 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= 1 && n <= MaxData
}
