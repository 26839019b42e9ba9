package pull

import (
	"bytes"
	"context"
	"errors"
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
		select {
		case <-c.Ready():
			c.Connected()
		case <-c.Done():
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
	var lines lineBuf
	buf := make([]byte, 64<<10)
	for {
		n, err := l.Read(buf)
		got += int64(n)
		if n > 0 {
			p.sink.stats.connected(p.sink.clk)
		}
		if !p.write(ctx, lines.whole(buf[:n])) {
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

// lineBuf holds back the end of a byte stream that is not yet a whole line.
type lineBuf struct{ partial []byte }

// whole returns what of the stream so far, with data appended, ends at the
// last line end, and keeps the rest.
func (b *lineBuf) whole(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	if len(b.partial) > 0 {
		data = append(b.partial, data...)
		b.partial = nil
	}
	cut := bytes.LastIndexByte(data, '\n') + 1
	if cut < len(data) {
		b.partial = append([]byte(nil), data[cut:]...)
	}
	return data[:cut]
}

// rest returns and forgets the unfinished line.
func (b *lineBuf) rest() []byte {
	r := b.partial
	b.partial = nil
	return r
}
