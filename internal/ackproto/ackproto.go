package ackproto

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Version is the highest protocol version this package speaks.
const Version = 1

// Limits every decoder enforces, so that a hostile peer can neither make
// it allocate more than about MaxData nor wait for an endless line.
const (
	// MaxData is the largest data payload. Senders keep frames far
	// smaller (256 KiB); the receiver accepts up to this.
	MaxData = 1 << 20
	// MaxNotice is the largest gap notice.
	MaxNotice = 4096
	// MaxOffset bounds every offset (and offset+len): 4 EiB of stream.
	MaxOffset = 1 << 62
	// maxHeader bounds a frame header: "D " + 19 digits + " " + 7 digits.
	maxHeader = 40
	// maxHello bounds a hello line; later versions may add fields.
	maxHello = 512
	// maxText bounds the text of an error frame.
	maxText = 1000
	// maxLine bounds any line the sender's decoder reads (error frames).
	maxLine = maxText + 32
)

// Hello line prefixes.
const (
	senderMagic   = "sshlogfwd-push "
	receiverMagic = "sshlogfwd-receive "
)

// Type is the kind of a frame: the first byte of its header.
type Type byte

// The frame types.
const (
	Data  Type = 'D' // sender: stream bytes at an offset
	Gap   Type = 'G' // sender: the stream jumps ahead; payload is a notice
	Ack   Type = 'A' // receiver: everything before the offset is on disk
	Error Type = 'E' // receiver: fatal refusal, then it exits
)

func (t Type) String() string {
	switch t {
	case Data:
		return "data"
	case Gap:
		return "gap"
	case Ack:
		return "ack"
	case Error:
		return "error"
	}
	return fmt.Sprintf("Type(%q)", byte(t))
}

// Code says why a receiver refused to go on.
type Code string

// The error codes.
const (
	CodeQuota    Code = "quota"    // the file reached --max-size
	CodeNoSpace  Code = "nospace"  // the log host's disk is full
	CodeIO       Code = "io"       // another write or fsync error
	CodeBusy     Code = "busy"     // another receiver holds the file for another stream
	CodeVersion  Code = "version"  // no common protocol version
	CodeProtocol Code = "protocol" // the peer broke the protocol
	CodeRefused  Code = "refused"  // the request (SSH_ORIGINAL_COMMAND) was refused
)

// ErrProtocol is wrapped by every error about malformed input.
var ErrProtocol = errors.New("protocol violation")

// ErrTruncated is returned when the input ends inside a frame: the link
// died while the frame was on its way. The frame must be discarded.
var ErrTruncated = fmt.Errorf("frame cut off by the end of the input: %w", io.ErrUnexpectedEOF)

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, a...)...)
}

// NewStreamID returns a fresh random stream id (128 bits, hex).
func NewStreamID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ackproto: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// CheckStream reports whether s is a well-formed stream id.
func CheckStream(s string) error {
	if len(s) < 16 || len(s) > 64 {
		return protoErr("stream id %q: want 16 to 64 hex digits", clip(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return protoErr("stream id %q: want 16 to 64 hex digits", clip(s))
		}
	}
	return nil
}

// Hello is the sender's first line.
type Hello struct {
	Version int
	Stream  string
}

// ReceiverHello is the receiver's first line: the stream it holds ("" for
// none) and the offset up to which that stream is durably written.
type ReceiverHello struct {
	Version int
	Stream  string
	Offset  int64
}

// AppendHello appends the sender's hello line to dst.
func AppendHello(dst []byte, h Hello) []byte {
	dst = append(dst, senderMagic...)
	dst = strconv.AppendInt(dst, int64(h.Version), 10)
	dst = append(dst, ' ')
	dst = append(dst, h.Stream...)
	return append(dst, '\n')
}

// AppendReceiverHello appends the receiver's hello line to dst.
func AppendReceiverHello(dst []byte, h ReceiverHello) []byte {
	dst = append(dst, receiverMagic...)
	dst = strconv.AppendInt(dst, int64(h.Version), 10)
	dst = append(dst, ' ')
	if h.Stream == "" {
		dst = append(dst, '-')
	} else {
		dst = append(dst, h.Stream...)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, h.Offset, 10)
	return append(dst, '\n')
}

// AppendData appends a data frame carrying p, the stream bytes starting at
// off, to dst. len(p) must be 1..MaxData.
func AppendData(dst []byte, off int64, p []byte) []byte {
	return append(AppendDataHeader(dst, off, len(p)), p...)
}

// AppendDataHeader appends the header of a data frame whose n bytes of
// payload, the stream bytes starting at off, follow it: for a sender that
// moves the payload into the stream itself, without copying it (splice).
// n must be 1..MaxData.
func AppendDataHeader(dst []byte, off int64, n int) []byte {
	dst = append(dst, 'D', ' ')
	dst = strconv.AppendInt(dst, off, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\n')
}

// AppendGap appends a gap frame: the stream continues at to; notice (at
// most MaxNotice bytes, whole lines) is written in place of what is
// missing.
func AppendGap(dst []byte, to int64, notice []byte) []byte {
	dst = append(dst, 'G', ' ')
	dst = strconv.AppendInt(dst, to, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(notice)), 10)
	dst = append(dst, '\n')
	return append(dst, notice...)
}

// AppendAck appends an acknowledgement of everything before off.
func AppendAck(dst []byte, off int64) []byte {
	dst = append(dst, 'A', ' ')
	dst = strconv.AppendInt(dst, off, 10)
	return append(dst, '\n')
}

// AppendError appends an error frame. The text is cut to a readable single
// line.
func AppendError(dst []byte, code Code, text string) []byte {
	dst = append(dst, 'E', ' ')
	dst = append(dst, code...)
	dst = append(dst, ' ')
	dst = append(dst, cleanText(text)...)
	return append(dst, '\n')
}

// cleanText makes text one line of printable UTF-8, at most maxText bytes.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if s == "" {
		s = "-"
	}
	return s
}

// readLine reads one line (without its LF) of at most max bytes into
// scratch. It returns io.EOF at a clean end before the line, ErrTruncated
// when the input ends inside it.
func readLine(r *bufio.Reader, max int, scratch []byte) ([]byte, error) {
	line := scratch[:0]
	for {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(line) == 0 {
					return nil, io.EOF
				}
				return nil, ErrTruncated
			}
			return nil, err
		}
		if c == '\n' {
			return line, nil
		}
		if len(line) >= max {
			return nil, protoErr("line longer than %d bytes", max)
		}
		line = append(line, c)
	}
}

// parseNum parses a canonical decimal (no sign, no leading zero, no
// spaces) of at most limit.
func parseNum(s []byte, what string, limit int64) (int64, error) {
	if len(s) == 0 || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, protoErr("%s %q is not a canonical decimal", what, clip(string(s)))
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, protoErr("%s %q is not a canonical decimal", what, clip(string(s)))
		}
		d := int64(c - '0')
		if n > (limit-d)/10 {
			return 0, protoErr("%s %s exceeds %d", what, clip(string(s)), limit)
		}
		n = n*10 + d
	}
	return n, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// fields splits a header into exactly n single-space separated fields.
func fields(line []byte, n int) ([][]byte, bool) {
	out := make([][]byte, 0, n)
	for len(out) < n-1 {
		i := indexByte(line, ' ')
		if i <= 0 {
			return nil, false
		}
		out = append(out, line[:i])
		line = line[i+1:]
	}
	if len(line) == 0 || indexByte(line, ' ') >= 0 {
		return nil, false
	}
	return append(out, line), true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// parseVersion reads the version field of a hello and the rest of it.
func parseVersion(rest []byte) (int, []byte, error) {
	i := indexByte(rest, ' ')
	if i < 0 {
		return 0, nil, protoErr("hello without a stream field")
	}
	v, err := parseNum(rest[:i], "version", 1<<20)
	if err != nil {
		return 0, nil, err
	}
	if v < 1 {
		return 0, nil, protoErr("version 0")
	}
	return int(v), rest[i+1:], nil
}

// Frame is one decoded frame of the sender.
type Frame struct {
	Type   Type  // Data or Gap
	Offset int64 // Data: where Data starts; Gap: where the stream continues
	// Data is the payload (Gap: the notice). It is valid until the next
	// call to Next.
	Data []byte
}

// Decoder reads what a sender sends: its hello, then frames. It never
// holds more than one frame (at most MaxData bytes) in memory.
type Decoder struct {
	r       *bufio.Reader
	scratch []byte
	buf     []byte
}

// NewDecoder returns a Decoder reading r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 256<<10), scratch: make([]byte, 0, maxHello)}
}

// Buffered is how many input bytes are already read but not decoded: 0
// means the next frame is not here yet.
func (d *Decoder) Buffered() int { return d.r.Buffered() }

// Hello reads the sender's hello line.
func (d *Decoder) Hello() (Hello, error) {
	line, err := readLine(d.r, maxHello, d.scratch)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Hello{}, fmt.Errorf("no hello: %w", io.ErrUnexpectedEOF)
		}
		return Hello{}, err
	}
	if !strings.HasPrefix(string(line), senderMagic) {
		return Hello{}, protoErr("first line %q is not a sshlogfwd-push hello", clip(string(line)))
	}
	v, rest, err := parseVersion(line[len(senderMagic):])
	if err != nil {
		return Hello{}, err
	}
	stream := rest
	if i := indexByte(rest, ' '); i >= 0 {
		stream = rest[:i] // later versions' fields
	}
	if err := CheckStream(string(stream)); err != nil {
		return Hello{}, err
	}
	return Hello{Version: v, Stream: string(stream)}, nil
}

// Next reads the next frame. It returns io.EOF at a clean end of input
// between frames, ErrTruncated when the input ends inside a frame, and an
// error wrapping ErrProtocol for anything malformed.
func (d *Decoder) Next() (Frame, error) {
	line, err := readLine(d.r, maxHeader, d.scratch)
	if err != nil {
		return Frame{}, err
	}
	if len(line) < 2 || line[1] != ' ' {
		return Frame{}, protoErr("bad frame header %q", clip(string(line)))
	}
	t := Type(line[0])
	limit := int64(MaxData)
	switch t {
	case Data:
	case Gap:
		limit = MaxNotice
	default:
		return Frame{}, protoErr("unknown frame type %q", clip(string(line)))
	}
	f, ok := fields(line[2:], 2)
	if !ok {
		return Frame{}, protoErr("bad %s header %q", t, clip(string(line)))
	}
	off, err := parseNum(f[0], "offset", MaxOffset)
	if err != nil {
		return Frame{}, err
	}
	n, err := parseNum(f[1], "length", limit)
	if err != nil {
		return Frame{}, err
	}
	if t == Data && n == 0 {
		return Frame{}, protoErr("empty data frame")
	}
	if t == Data && off > MaxOffset-n {
		return Frame{}, protoErr("data frame ends beyond offset %d", int64(MaxOffset))
	}
	if int64(cap(d.buf)) < n {
		d.buf = make([]byte, n)
	}
	p := d.buf[:n]
	if _, err := io.ReadFull(d.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, ErrTruncated
		}
		return Frame{}, err
	}
	return Frame{Type: t, Offset: off, Data: p}, nil
}

// Reply is one decoded frame of the receiver.
type Reply struct {
	Type   Type  // Ack or Error
	Offset int64 // Ack
	Code   Code  // Error
	Text   string
}

// RemoteError is an error frame from the receiver.
type RemoteError struct {
	Code Code
	Text string
}

func (e *RemoteError) Error() string { return "receiver refused (" + string(e.Code) + "): " + e.Text }

// ReplyDecoder reads what a receiver sends: its hello, then acks and at
// most one error.
type ReplyDecoder struct {
	r       *bufio.Reader
	scratch []byte
}

// NewReplyDecoder returns a ReplyDecoder reading r.
func NewReplyDecoder(r io.Reader) *ReplyDecoder {
	return &ReplyDecoder{r: bufio.NewReaderSize(r, 4096), scratch: make([]byte, 0, maxLine)}
}

// Hello reads the receiver's hello. An error frame in its place (the
// receiver refused the session) is returned as a *RemoteError.
func (d *ReplyDecoder) Hello() (ReceiverHello, error) {
	line, err := readLine(d.r, maxLine, d.scratch)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ReceiverHello{}, fmt.Errorf("no hello: %w", io.ErrUnexpectedEOF)
		}
		return ReceiverHello{}, err
	}
	if len(line) >= 2 && line[0] == 'E' && line[1] == ' ' {
		r, err := parseReply(line)
		if err != nil {
			return ReceiverHello{}, err
		}
		return ReceiverHello{}, &RemoteError{Code: r.Code, Text: r.Text}
	}
	if !strings.HasPrefix(string(line), receiverMagic) {
		return ReceiverHello{}, protoErr("first line %q is not a sshlogfwd-receive hello", clip(string(line)))
	}
	v, rest, err := parseVersion(line[len(receiverMagic):])
	if err != nil {
		return ReceiverHello{}, err
	}
	if i := indexByte(rest, ' '); i >= 0 {
		if j := indexByte(rest[i+1:], ' '); j >= 0 {
			rest = rest[:i+1+j] // later versions' fields
		}
	}
	f, ok := fields(rest, 2)
	if !ok {
		return ReceiverHello{}, protoErr("bad receiver hello %q", clip(string(line)))
	}
	h := ReceiverHello{Version: v}
	if string(f[0]) != "-" {
		if err := CheckStream(string(f[0])); err != nil {
			return ReceiverHello{}, err
		}
		h.Stream = string(f[0])
	}
	if h.Offset, err = parseNum(f[1], "offset", MaxOffset); err != nil {
		return ReceiverHello{}, err
	}
	return h, nil
}

// Next reads the next ack or error. It returns io.EOF at a clean end.
func (d *ReplyDecoder) Next() (Reply, error) {
	line, err := readLine(d.r, maxLine, d.scratch)
	if err != nil {
		return Reply{}, err
	}
	return parseReply(line)
}

func parseReply(line []byte) (Reply, error) {
	if len(line) < 3 || line[1] != ' ' {
		return Reply{}, protoErr("bad reply %q", clip(string(line)))
	}
	switch Type(line[0]) {
	case Ack:
		off, err := parseNum(line[2:], "ack offset", MaxOffset)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Type: Ack, Offset: off}, nil
	case Error:
		rest := line[2:]
		code, text := rest, []byte(nil)
		if i := indexByte(rest, ' '); i >= 0 {
			code, text = rest[:i], rest[i+1:]
		}
		if len(code) == 0 || len(code) > 16 || strings.Trim(string(code), "abcdefghijklmnopqrstuvwxyz") != "" {
			return Reply{}, protoErr("bad error code in %q", clip(string(line)))
		}
		return Reply{Type: Error, Code: Code(code), Text: cleanText(string(text))}, nil
	}
	return Reply{}, protoErr("unknown reply %q", clip(string(line)))
}
