package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxSmallField bounds every field but MESSAGE: identifiers, pids and host
// names are short, and an absurd one is cut rather than kept in memory.
const maxSmallField = 4096

// errTorn reports a stream that ended inside an entry: journalctl died
// while writing it. The entry is discarded; it is read again after a
// restart at the cursor of the last entry delivered.
var errTorn = errors.New("journal export stream ended inside an entry")

// entry is the part of one journal entry the line formats use. Its byte
// slices are reused by the next call to exportReader.next.
type entry struct {
	cursor     []byte
	realtime   int64 // µs since the epoch; 0 = missing
	message    []byte
	hasMessage bool
	messageCut int64 // bytes of MESSAGE beyond the limit, not kept
	identifier []byte
	comm       []byte
	pid        []byte
	syslogPID  []byte
	hostname   []byte
	priority   []byte
	facility   []byte
}

func (e *entry) reset() {
	*e = entry{
		cursor: e.cursor[:0], message: e.message[:0], identifier: e.identifier[:0],
		comm: e.comm[:0], pid: e.pid[:0], syslogPID: e.syslogPID[:0],
		hostname: e.hostname[:0], priority: e.priority[:0], facility: e.facility[:0],
	}
}

// exportReader parses journalctl's export format
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/): per entry, fields as
// "NAME=value\n", or, when the value holds a newline or other control
// byte, "NAME\n" + 64-bit little-endian length + the bytes + "\n"; an empty
// line ends the entry. Length-prefixed values make it binary-safe:
// invalid UTF-8, NUL and newlines come through byte-exact.
type exportReader struct {
	r          *bufio.Reader
	maxMessage int
	e          entry
	realtime   []byte
}

func newExportReader(r io.Reader, maxMessage int) *exportReader {
	return &exportReader{r: bufio.NewReaderSize(r, 256<<10), maxMessage: maxMessage}
}

// buffered is how many bytes of the stream are read and not yet parsed:
// with none, next waits for journalctl.
func (p *exportReader) buffered() int { return p.r.Buffered() }

// next returns the next complete entry; io.EOF at the end of the stream
// between entries, errTorn inside one, another error for a stream that is
// not in export format.
func (p *exportReader) next() (*entry, error) {
	p.e.reset()
	p.realtime = p.realtime[:0]
	fields := 0
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && fields == 0 && len(line) == 0 {
				return nil, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return nil, errTorn
			}
			return nil, err
		}
		if len(line) == 1 && err == nil {
			if fields == 0 {
				continue
			}
			return p.finish()
		}
		fields++
		if err := p.field(line, err == nil); err != nil {
			return nil, err
		}
	}
}

// field reads one field whose first line (or its first buffer-full, when
// complete is false) is line.
func (p *exportReader) field(line []byte, complete bool) error {
	if i := bytes.IndexByte(line, '='); i >= 0 {
		dst, limit := p.dest(line[:i])
		if complete {
			p.keep(dst, limit, line[i+1:len(line)-1])
			return nil
		}
		p.keep(dst, limit, line[i+1:])
		return p.rest(dst, limit)
	}
	if !complete {
		return fmt.Errorf("journal export: field name longer than %d bytes", p.r.Size())
	}
	dst, limit := p.dest(line[:len(line)-1])
	var size [8]byte
	if _, err := io.ReadFull(p.r, size[:]); err != nil {
		return tornOr(err)
	}
	n := binary.LittleEndian.Uint64(size[:])
	if n > 1<<40 {
		return fmt.Errorf("journal export: field %q of %d bytes", line[:len(line)-1], n)
	}
	if err := p.binary(dst, limit, int64(n)); err != nil {
		return err
	}
	end, err := p.r.ReadByte()
	if err != nil {
		return tornOr(err)
	}
	if end != '\n' {
		return fmt.Errorf("journal export: binary field %q not followed by a newline", line[:len(line)-1])
	}
	return nil
}

// rest reads the remainder of a text field longer than the read buffer.
func (p *exportReader) rest(dst *[]byte, limit int) error {
	for {
		chunk, err := p.r.ReadSlice('\n')
		switch {
		case err == nil:
			p.keep(dst, limit, chunk[:len(chunk)-1])
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			p.keep(dst, limit, chunk)
		default:
			return tornOr(err)
		}
	}
}

// binary reads n bytes of a length-prefixed value.
func (p *exportReader) binary(dst *[]byte, limit int, n int64) error {
	for n > 0 {
		want := min(n, int64(p.r.Size()))
		b, err := p.r.Peek(int(want))
		if len(b) == 0 && err != nil {
			return tornOr(err)
		}
		p.keep(dst, limit, b)
		p.r.Discard(len(b))
		n -= int64(len(b))
	}
	return nil
}

// dest returns where a field's value goes and how much of it to keep; nil
// for fields the formats do not use.
func (p *exportReader) dest(name []byte) (*[]byte, int) {
	e := &p.e
	switch string(name) {
	case "MESSAGE":
		e.hasMessage = true
		return &e.message, p.maxMessage
	case "__CURSOR":
		return &e.cursor, maxSmallField
	case "__REALTIME_TIMESTAMP":
		return &p.realtime, maxSmallField
	case "SYSLOG_IDENTIFIER":
		return &e.identifier, maxSmallField
	case "_COMM":
		return &e.comm, maxSmallField
	case "_PID":
		return &e.pid, maxSmallField
	case "SYSLOG_PID":
		return &e.syslogPID, maxSmallField
	case "_HOSTNAME":
		return &e.hostname, maxSmallField
	case "PRIORITY":
		return &e.priority, maxSmallField
	case "SYSLOG_FACILITY":
		return &e.facility, maxSmallField
	}
	return nil, 0
}

// keep appends b to dst up to limit bytes; what does not fit is counted
// for MESSAGE and dropped.
func (p *exportReader) keep(dst *[]byte, limit int, b []byte) {
	if dst == nil {
		return
	}
	room := max(limit-len(*dst), 0)
	if len(b) > room {
		if dst == &p.e.message {
			p.e.messageCut += int64(len(b) - room)
		}
		b = b[:room]
	}
	*dst = append(*dst, b...)
}

func (p *exportReader) finish() (*entry, error) {
	if len(p.e.cursor) == 0 {
		return nil, errors.New("journal export: entry without __CURSOR")
	}
	if len(p.realtime) > 0 {
		us, err := strconv.ParseInt(string(p.realtime), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("journal export: __REALTIME_TIMESTAMP %q: %w", p.realtime, err)
		}
		p.e.realtime = us
	}
	return &p.e, nil
}

func tornOr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTorn
	}
	return err
}
