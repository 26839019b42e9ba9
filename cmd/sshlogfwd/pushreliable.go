package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// ReliableFlags are push's flags for the acknowledged mode.
type ReliableFlags struct {
	Reliable     bool          `name:"reliable" help:"The far side runs 'sshlogfwd receive PATH' (usually as the forced command): every line arrives exactly once and in order, acknowledged only once it is on the log host's disk; until then it stays in the spool, which is then kept on disk."`
	RemoteBinary string        `name:"remote-sshlogfwd" help:"With --reliable: the far side's sshlogfwd, for keys without a forced command (a forced command runs regardless)." default:"sshlogfwd" placeholder:"PATH"`
	Fsync        time.Duration `name:"fsync" help:"With --reliable: fsync the spool and save its positions this often. A crash of this machine loses at most this much of the newest input, never anything acknowledged." default:"1s"`
	AckTimeout   time.Duration `name:"ack-timeout" help:"With --reliable: when data is outstanding and no acknowledgement came for this long, the link is taken for dead and ssh restarted (ssh's keepalives are the other watch)." default:"30s"`
}

func (r *ReliableFlags) validate() error {
	if !r.Reliable {
		for flag, set := range map[string]bool{
			"--remote-sshlogfwd": r.RemoteBinary != "sshlogfwd",
			"--fsync":            r.Fsync != time.Second,
			"--ack-timeout":      r.AckTimeout != 30*time.Second,
		} {
			if set {
				return usage(flag, errors.New("applies only with --reliable"))
			}
		}
	}
	if r.RemoteBinary == "" || strings.ContainsAny(r.RemoteBinary, "\n\x00") {
		return usage("--remote-sshlogfwd", fmt.Errorf("%q is not a program path", r.RemoteBinary))
	}
	if r.Fsync <= 0 {
		return usage("--fsync", fmt.Errorf("%s: must be positive", r.Fsync))
	}
	if r.AckTimeout < time.Second {
		return usage("--ack-timeout", fmt.Errorf("%s is too short (at least 1s)", r.AckTimeout))
	}
	return nil
}

// receiveCommand is the remote command of a reliable push, quoted for the
// remote shell in the one form `receive` accepts in SSH_ORIGINAL_COMMAND.
func (r *ReliableFlags) receiveCommand(path string) string {
	return request.Receive(r.RemoteBinary, path)
}

// Frame and window sizes of the reliable session: big frames keep the
// per-line cost near zero, and up to window bytes are sent ahead of the
// acknowledgements, so the link never waits for the far side's fsync.
const (
	relFrameMax = 256 << 10
	relWindow   = 16 << 20
)

// reliableState is what a destination remembers across reliable sessions.
type reliableState struct {
	// gapLines counts lines the spool bound dropped before this
	// destination had them and that no acknowledged gap notice has
	// reported yet; gapTo is where the stream continues after them.
	gapLines, gapTo int64
}

// syncSpool makes the spool durable every --fsync until ctx ends.
func (p *PushCmd) syncSpool(ctx context.Context, sp *spool.Spool, log *slog.Logger) {
	t := time.NewTicker(p.Fsync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := sp.Sync(); err != nil {
				log.Error("syncing the spool failed", "err", err)
			}
		}
	}
}

// reliableSession speaks the acknowledged protocol (internal/ackproto) with
// `sshlogfwd receive` through one ssh child: hello, resume at the offset
// the receiver reports, then frames pipelined up to relWindow ahead of the
// acknowledgements, which release the spool. It ends when the child dies,
// the receiver refuses, no acknowledgement comes within --ack-timeout, or
// the run ends and everything is acknowledged (or the drain is over).
func (p *PushCmd) reliableSession(ctx context.Context, c *execssh.Child, d *destination, sp *spool.Spool, drainDeadline *atomic.Int64, log *slog.Logger) (healthy bool) {
	dest := d.dest.String()
	sess, endSess := context.WithCancel(context.Background())
	defer endSess()
	go func() {
		select {
		case <-c.Done():
			endSess()
		case <-sess.Done():
		}
	}()
	// The drain has a deadline; a write blocked in a stuck ssh must not
	// outlive it.
	go func() {
		select {
		case <-sess.Done():
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(time.Until(time.Unix(0, drainDeadline.Load())))
		defer t.Stop()
		select {
		case <-sess.Done():
		case <-t.C:
			endSess()
			c.CloseStdin()
		}
	}()

	pipe.Grow(c.Stdin, 1<<20)
	pipe.Grow(c.Stdout, 1<<20)
	stream := sp.StreamID()
	if _, err := c.Stdin.Write(ackproto.AppendHello(nil, ackproto.Hello{Version: ackproto.Version, Stream: stream})); err != nil {
		return false
	}
	rd := ackproto.NewReplyDecoder(c.Stdout)
	hello, err := p.receiverHello(sess, rd)
	if err != nil {
		var re *ackproto.RemoteError
		if errors.As(err, &re) {
			p.logRefusal(log, d, re.Code, re.Text)
			return false
		}
		// An ssh that could not connect or authenticate ends without a
		// hello too: the supervisor logs why.
		sshFailed := false
		select {
		case <-c.Done():
			var ee *execssh.ExitError
			sshFailed = errors.As(c.Err(), &ee) && ee.SSHFailed()
		case <-time.After(time.Second):
		}
		switch {
		case sshFailed:
		case errors.Is(err, errNoHello):
			log.Error("the far side did not answer: is 'sshlogfwd receive PATH' the remote command (or the forced command in authorized_keys), and is its disk responding?", "dest", dest, "err", err)
		default:
			log.Error("the far side does not speak the reliable protocol: is the remote command (or the forced command in authorized_keys) 'sshlogfwd receive PATH'?", "dest", dest, "err", err)
		}
		return false
	}
	if hello.Version != 1 {
		log.Error("the receiver chose a protocol version this sshlogfwd does not speak", "dest", dest, "version", hello.Version)
		return false
	}

	// Where to resume.
	sent := int64(-1) // stream offset after the last byte sent; -1: a new stream starts at the first frame
	if hello.Stream == stream {
		sent = hello.Offset
		if _, tail := sp.Bounds(); sent > tail {
			if sp.InputMark() == "" {
				sp.SkipTo(sent)
			} else {
				log.Info("the receiver is ahead of the spool; the input read again after the restart fills the gap and is not sent twice", "dest", dest, "receiver", sent, "tail", tail)
			}
		}
		d.consumer.Ack(sent)
		d.consumer.Rewind(sent)
		log.Debug("receiver position", "dest", dest, "offset", sent)
	} else {
		_, acked := d.consumer.Position()
		d.consumer.Rewind(acked)
		if hello.Stream == "" {
			log.Info("the receiver has no stream yet; starting it", "dest", dest, "stream", stream, "offset", acked)
		} else {
			log.Warn("the receiver holds another stream (this spool is new: reinstalled or reset); it starts this one", "dest", dest, "stream", stream, "offset", acked, "receiver_stream", hello.Stream, "receiver_offset", hello.Offset)
		}
	}
	if d.rel.gapTo > 0 && sent >= d.rel.gapTo {
		d.rel.gapLines, d.rel.gapTo = 0, 0
	}

	var acked, sentHigh, lastProgress atomic.Int64
	acked.Store(max(sent, 0))
	sentHigh.Store(max(sent, 0))
	startAck := acked.Load()
	ackWake := make(chan struct{}, 1)
	notify := func() {
		select {
		case ackWake <- struct{}{}:
		default:
		}
	}
	// Acknowledgements release the spool.
	go func() {
		defer notify()
		defer endSess()
		for {
			r, err := rd.Next()
			if err != nil {
				if sess.Err() == nil && !errors.Is(err, io.EOF) && errors.Is(err, ackproto.ErrProtocol) {
					log.Error("bad reply from the receiver", "dest", dest, "err", err)
				}
				return
			}
			switch r.Type {
			case ackproto.Ack:
				if r.Offset > sentHigh.Load() {
					log.Error("the receiver acknowledged data never sent; dropping the connection", "dest", dest, "ack", r.Offset, "sent", sentHigh.Load())
					return
				}
				if r.Offset > acked.Load() {
					acked.Store(r.Offset)
					lastProgress.Store(time.Now().UnixNano())
					d.consumer.Ack(r.Offset)
					notify()
				}
			case ackproto.Error:
				p.logRefusal(log, d, r.Code, r.Text)
				return
			}
		}
	}()
	// A link that silently stopped carrying data: ssh's keepalives notice
	// it eventually; outstanding data without acknowledgements is our own
	// watch.
	go func() {
		t := time.NewTicker(min(p.AckTimeout/4, time.Second))
		defer t.Stop()
		for {
			select {
			case <-sess.Done():
				return
			case <-t.C:
			}
			out := sentHigh.Load() - acked.Load()
			if out > 0 && time.Since(time.Unix(0, lastProgress.Load())) > p.AckTimeout {
				log.Warn("no acknowledgement while data is outstanding; taking the link for dead and reconnecting", "dest", dest, "ack_timeout", p.AckTimeout, "outstanding_bytes", out)
				endSess()
				c.Kill()
				return
			}
		}
	}()

	// nextCtx ends the wait for new data when the session ends or the run
	// ends (then the loop drains).
	nextCtx, endNext := context.WithCancel(sess)
	defer endNext()
	stopAfter := context.AfterFunc(ctx, endNext)
	defer stopAfter()

	// Only input read again from a file (--file) may overlap what the
	// receiver has; anywhere else it means offsets were handed out twice.
	overlapLogged := false
	overlap := func() {
		if !overlapLogged && sp.InputMark() == "" {
			log.Error("bug: the spool hands out offsets the receiver already has; those lines are not sent", "dest", dest, "receiver", sent)
			overlapLogged = true
		}
	}
	buf := make([]byte, 0, relFrameMax+64)
	send := func(frame []byte, end int64) bool {
		if sentHigh.Load() == acked.Load() {
			// Data becomes outstanding now: the ack timeout counts from here.
			lastProgress.Store(time.Now().UnixNano())
		}
		sentHigh.Store(max(sentHigh.Load(), end))
		if _, err := c.Stdin.Write(frame); err != nil {
			log.Debug("write to ssh failed", "child", c.Name, "err", err)
			return false
		}
		return true
	}
loop:
	for sess.Err() == nil {
		if d.rel.gapTo > 0 && acked.Load() >= d.rel.gapTo {
			d.rel.gapLines, d.rel.gapTo = 0, 0
		}
		draining := ctx.Err() != nil
		if sentHigh.Load()-acked.Load() >= relWindow || (draining && d.consumer.Available() == 0) {
			if draining && d.consumer.Available() == 0 && acked.Load() >= sentHigh.Load() {
				// Everything is acknowledged: end the session in order.
				c.CloseStdin()
				select {
				case <-c.Done():
				case <-time.After(time.Until(time.Unix(0, drainDeadline.Load()))):
				}
				break loop
			}
			select {
			case <-ackWake:
			case <-sess.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		b, err := d.consumer.Next(nextCtx, relFrameMax)
		if err != nil {
			if sess.Err() == nil && ctx.Err() != nil {
				continue // start draining
			}
			break loop
		}
		if b.Gap.Bytes > 0 {
			d.rel.gapLines += b.Gap.Lines
			log.Warn("spool bound reached: lines were dropped before this destination had them", "dest", dest, "lines", b.Gap.Lines, "bytes", b.Gap.Bytes)
			continue
		}
		data, off := b.Data, b.Start
		switch {
		case sent < 0:
			// A new stream: it starts at the first frame.
			acked.Store(off)
			sentHigh.Store(off)
			startAck = off
			if d.rel.gapLines > 0 {
				if !send(ackproto.AppendGap(buf[:0], off, gapNotice(d, 0)), off) {
					break loop
				}
				d.rel.gapTo = off
			}
		case off > sent:
			// The spool no longer has what the receiver needs next.
			if !send(ackproto.AppendGap(buf[:0], off, gapNotice(d, off-sent)), off) {
				break loop
			}
			d.rel.gapTo = off
		case b.End <= sent:
			// The receiver has it already (input read again after a
			// restart).
			overlap()
			d.consumer.Ack(b.End)
			continue
		case off < sent:
			overlap()
			data, off = data[sent-off:], sent
			d.consumer.Ack(sent)
		}
		end := off + int64(len(data))
		if !send(ackproto.AppendData(buf[:0], off, data), end) {
			break loop
		}
		sent = end
		d.sent.Add(int64(len(data)))
	}
	return acked.Load() > startAck
}

// receiverHello waits for the receiver's hello, bounded by the ack timeout
// on top of ssh's own connection time.
func (p *PushCmd) receiverHello(sess context.Context, rd *ackproto.ReplyDecoder) (ackproto.ReceiverHello, error) {
	type result struct {
		h   ackproto.ReceiverHello
		err error
	}
	ch := make(chan result, 1)
	go func() {
		h, err := rd.Hello()
		ch <- result{h, err}
	}()
	timeout := p.AckTimeout + 15*time.Second
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.h, r.err
	case <-sess.Done():
		// The child ended; a refusal it printed may still be in the pipe.
		select {
		case r := <-ch:
			return r.h, r.err
		case <-time.After(200 * time.Millisecond):
			return ackproto.ReceiverHello{}, sess.Err()
		}
	case <-t.C:
		return ackproto.ReceiverHello{}, fmt.Errorf("%w within %v", errNoHello, timeout)
	}
}

var errNoHello = errors.New("no hello from the receiver")

// logRefusal says loudly why the receiver refuses data, and that nothing
// is lost.
func (p *PushCmd) logRefusal(log *slog.Logger, d *destination, code ackproto.Code, text string) {
	what := map[ackproto.Code]string{
		ackproto.CodeQuota:   "the log host refuses more data: the file reached its size bound (receive --max-size); rotate it or raise the bound",
		ackproto.CodeNoSpace: "the log host's disk is full",
		ackproto.CodeBusy:    "another receiver is writing the file on the log host",
		ackproto.CodeRefused: "the log host refused the request",
	}[code]
	if what == "" {
		what = "the log host's receiver failed"
	}
	log.Error(what+"; the data stays in the spool and is sent when the receiver accepts it again", "dest", d.dest.String(), "code", string(code), "reason", text, "spooled_bytes", d.consumer.Pending())
}

// gapNotice is the line written on the log host in place of lines the
// spool bound dropped before this destination had them.
func gapNotice(d *destination, missing int64) []byte {
	var s string
	if d.rel.gapLines > 0 {
		s = fmt.Sprintf("%s %s sshlogfwd: dropped %d lines while %s was unreachable (the spool bound --spool-max was reached)\n",
			time.Now().Format(time.RFC3339), hostname(), d.rel.gapLines, d.dest.String())
	} else {
		s = fmt.Sprintf("%s %s sshlogfwd: %d bytes of the stream are missing here: they had left the spool before %s had them\n",
			time.Now().Format(time.RFC3339), hostname(), missing, d.dest.String())
	}
	if len(s) > ackproto.MaxNotice {
		s = s[:ackproto.MaxNotice-1] + "\n"
	}
	return []byte(s)
}
