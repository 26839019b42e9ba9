package pull

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
)

// compat is the session of the compatible mode: it copies what tail -F
// sends, whole lines only.
type compat struct {
	sink *sink
	log  *slog.Logger
}

// session is an execssh.Session.
func (p *compat) session(ctx context.Context, c *execssh.Child) bool {
	pipe.Grow(c.Stdout, 1<<20)
	// tail says nothing when it starts: ssh's ready marker is the
	// connect.
	go func() {
		if c.AwaitReady() {
			c.Connected()
		}
	}()
	return p.run(ctx, childLink{c}) > 0
}

// run copies one connection until it ends and returns how many bytes it
// received. A line cut by a broken connection is finished with a newline,
// so that it does not run into the next connection's first line.
func (p *compat) run(ctx context.Context, l link) (got int64) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-ctx.Done():
			// tail never ends on its own; what ssh had received is still
			// read from the pipe after this.
			l.Kill()
		}
	}()
	var lines lineReader
	for {
		whole, n, err := lines.read(l)
		got += int64(n)
		if n > 0 {
			p.sink.stats.connected(p.sink.clk)
		}
		if !p.write(ctx, whole) {
			break
		}
		if err != nil {
			break
		}
	}
	if rest := lines.rest(); len(rest) > 0 {
		p.log.Warn("connection ended inside a line; writing it as it is with a newline", "bytes", len(rest))
		p.write(ctx, append(rest, '\n'))
	}
	return got
}

// write writes whole lines; at the output's size bound it holds the
// connection until there is room. False: the output failed, or the run
// stopped while waiting.
func (p *compat) write(ctx context.Context, lines []byte) bool {
	for {
		rest, err := p.sink.writeRaw(lines)
		if err == nil {
			return true
		}
		if !errors.Is(err, ErrFull) {
			p.log.Error("writing output failed", "err", err)
			return false
		}
		if !p.sink.waitRoom(ctx) {
			return false
		}
		lines = rest
	}
}

// lineReader reads a byte stream into one buffer and hands out the whole
// lines in it. The unfinished line at the end of a read is moved to the
// front of the buffer and the next read goes after it: only that line is
// copied, never a whole read (a read from ssh nearly always ends inside a
// line).
type lineReader struct {
	buf      []byte
	from, to int // the unfinished line: buf[from:to]
}

// lineReadSize is the buffer's size; a longer line grows it.
const lineReadSize = 64 << 10

// read reads once from r and returns the whole lines that are complete
// now, valid until the next call, and how many bytes it read.
func (b *lineReader) read(r io.Reader) (lines []byte, n int, err error) {
	if b.buf == nil {
		b.buf = make([]byte, lineReadSize)
	}
	keep := copy(b.buf, b.buf[b.from:b.to])
	if keep == len(b.buf) {
		b.buf = append(b.buf, make([]byte, len(b.buf))...)
	}
	n, err = r.Read(b.buf[keep:])
	end := keep + n
	cut := bytes.LastIndexByte(b.buf[keep:end], '\n')
	if cut < 0 {
		b.from, b.to = 0, end
		return nil, n, err
	}
	cut += keep + 1
	b.from, b.to = cut, end
	return b.buf[:cut], n, err
}

// rest returns and forgets the unfinished line.
func (b *lineReader) rest() []byte {
	r := append([]byte(nil), b.buf[b.from:b.to]...)
	b.from, b.to = 0, 0
	return r
}
