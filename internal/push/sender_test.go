package push

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/receiver"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

const otherStreamID = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func newReliable(t *testing.T, sopts spool.Options) *testEngine {
	return newTestEngine(t, Options{Reliable: true, AckTimeout: 30 * time.Second, DrainTimeout: 10 * time.Second}, sopts)
}

// holding answers a hello as a receiver that holds stream (ours if "=")
// up to offset.
func holding(stream string, offset int64) func(ackproto.Hello) ackproto.ReceiverHello {
	return func(h ackproto.Hello) ackproto.ReceiverHello {
		if stream == "=" {
			stream = h.Stream
		}
		return ackproto.ReceiverHello{Version: 1, Stream: stream, Offset: offset}
	}
}

func wantFrame(t *testing.T, f ackproto.Frame, typ ackproto.Type, off int64, data []byte) {
	t.Helper()
	if f.Type != typ || f.Offset != off || !bytes.Equal(f.Data, data) {
		t.Fatalf("frame %s at %d with %q; want %s at %d with %q", f.Type, f.Offset, clipped(f.Data), typ, off, clipped(data))
	}
}

func clipped(b []byte) []byte {
	if len(b) > 80 {
		return append(b[:80:80], "..."...)
	}
	return b
}

// TestSenderResumesAtReceiverOffset: a receiver that holds our stream up
// to an offset gets the stream from there on, and what it holds counts as
// delivered.
func TestSenderResumesAtReceiverOffset(t *testing.T) {
	te := newReliable(t, spool.Options{})
	all := lines(0, 100)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	r := startFakeReceiver(t, l, holding("=", 50*lineLen))
	done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
	if h := <-r.hello; h.Stream != te.sp.StreamID() {
		t.Fatalf("hello names stream %q, want the spool's %q", h.Stream, te.sp.StreamID())
	}
	wantFrame(t, r.frame(), ackproto.Data, 50*lineLen, lines(50, 100))
	if _, acked := te.d.consumer.Position(); acked != 50*lineLen {
		t.Errorf("delivered position %d after the hello, want the receiver's %d", acked, 50*lineLen)
	}
	r.ack(int64(len(all)))
	waitFor(t, func() bool { return te.d.consumer.Pending() == 0 }, "the ack to release the spool")
	l.Kill()
	if !result(t, done, "the session") {
		t.Errorf("a session that got acknowledgements reported unhealthy")
	}
}

// TestSenderResendsWhatWasNotAcknowledged: a session that dies with
// frames sent but not acknowledged; the next receiver holds our stream up
// to what it has, and gets everything after it again, with nothing
// skipped and no gap.
func TestSenderResendsWhatWasNotAcknowledged(t *testing.T) {
	te := newReliable(t, spool.Options{})
	te.sp.Append(lines(0, 100))
	l := newPipeLink(t, te.clk)
	r := startFakeReceiver(t, l, holding("=", 0))
	done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
	wantFrame(t, r.frame(), ackproto.Data, 0, lines(0, 100))
	r.ack(50 * lineLen)
	waitFor(t, func() bool { _, acked := te.d.consumer.Position(); return acked == 50*lineLen }, "the first half acknowledged")
	l.Kill() // the second half dies with the link
	result(t, done, "the first session")

	te.sp.Append(lines(100, 110))
	l2 := newPipeLink(t, te.clk)
	r2 := startFakeReceiver(t, l2, holding("=", 60*lineLen)) // it got a little more than it acknowledged
	done2 := runSession(func() bool { return te.sendTo(context.Background(), te.d, l2) })
	wantFrame(t, r2.frame(), ackproto.Data, 60*lineLen, lines(60, 110))
	l2.Kill()
	result(t, done2, "the second session")
}

// TestSenderStartsNewStreamAtFirstFrame: a receiver without our stream
// (none, or another sender's) gets a new stream that starts at the first
// frame: what this destination has not had acknowledged, whatever offset
// the receiver holds.
func TestSenderStartsNewStreamAtFirstFrame(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stream string
		offset int64
	}{
		{"empty receiver", "", 0},
		{"another stream", otherStreamID, 5000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			te := newReliable(t, spool.Options{})
			all := lines(0, 100)
			te.sp.Append(all)
			te.d.ack(20 * lineLen) // delivered by an earlier session
			l := newPipeLink(t, te.clk)
			r := startFakeReceiver(t, l, holding(tt.stream, tt.offset))
			done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
			wantFrame(t, r.frame(), ackproto.Data, 20*lineLen, lines(20, 100))
			r.ack(int64(len(all)))
			waitFor(t, func() bool { return te.d.consumer.Pending() == 0 }, "the ack to release the spool")
			l.Kill()
			result(t, done, "the session")
		})
	}
}

// TestSenderKeepsWithinWindow: never more than the window is sent ahead
// of the acknowledgements, and the sender uses the window before it
// waits. (A synctest bubble tells when the sender waits.)
func TestSenderKeepsWithinWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newReliable(t, spool.Options{})
		te.frameMax, te.window = 1024, 4096
		all := lines(0, 2000)
		te.appendChunks(all)
		l := newMemLink(t, te.clk)
		r := startFakeReceiver(t, l, holding("=", 0))
		done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
		var got, acked int64
		for acked < int64(len(all)) {
			synctest.Wait() // the sender has sent what the window allows
			for more := true; more; {
				select {
				case f := <-r.frames:
					wantFrame(t, f, ackproto.Data, got, all[got:got+int64(len(f.Data))])
					got += int64(len(f.Data))
					if got-acked > te.window {
						t.Fatalf("%d bytes outstanding, window %d", got-acked, te.window)
					}
				default:
					more = false
				}
			}
			if got < int64(len(all)) && got-acked <= te.window-te.frameMax {
				t.Fatalf("the sender waits with only %d bytes outstanding (window %d, frames up to %d)", got-acked, te.window, te.frameMax)
			}
			r.ack(got)
			acked = got
		}
		l.Kill()
		result(t, done, "the session")
	})
}

// TestSenderGapWhenSpoolLacksWhatReceiverNeeds: the receiver needs bytes
// the spool no longer has: a gap frame says how many are missing, and the
// stream goes on after them.
func TestSenderGapWhenSpoolLacksWhatReceiverNeeds(t *testing.T) {
	te := newReliable(t, spool.Options{SegmentSize: 64 << 10})
	all := lines(0, 10000)
	te.appendChunks(all)
	te.d.ack(46 * 100 * lineLen) // the first segment is released
	head, _ := te.sp.Bounds()
	if head == 0 {
		t.Fatal("test setup: the spool released nothing")
	}
	te.wantGapThenData(t, 1400, all, head,
		"2026-12-02T10:00:00Z testhost sshlogfwd: 63000 bytes of the stream are missing here: they had left the spool before loghost:/var/log/remote.log had them\n")
}

// wantGapThenData runs a session against a receiver that holds our stream
// up to offset, and wants a gap frame to head with notice, then the data
// of all from head on.
func (te *testEngine) wantGapThenData(t *testing.T, offset int64, all []byte, head int64, notice string) {
	t.Helper()
	l := newPipeLink(t, te.clk)
	r := startFakeReceiver(t, l, holding("=", offset))
	done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
	wantFrame(t, r.frame(), ackproto.Gap, head, []byte(notice))
	f := r.frame()
	wantFrame(t, f, ackproto.Data, head, all[head:head+int64(len(f.Data))])
	l.Kill()
	result(t, done, "the session")
}

// appendChunks spools all in chunks of 100 lines, so that segments fill
// up one after the other.
func (te *testEngine) appendChunks(all []byte) {
	for i := 0; i < len(all); i += 100 * lineLen {
		te.sp.Append(all[i:min(i+100*lineLen, len(all))])
	}
}

// TestSenderGapNoticeCountsDroppedLines: lines the spool bound dropped
// before this destination had them are reported on the log host by a gap
// notice with their number.
func TestSenderGapNoticeCountsDroppedLines(t *testing.T) {
	te := newReliable(t, spool.Options{Max: 128 << 10, SegmentSize: 64 << 10})
	all := lines(0, 15000)
	te.appendChunks(all)
	dropped := te.sp.Stats().DroppedLines
	head, _ := te.sp.Bounds()
	if dropped == 0 || head != dropped*lineLen {
		t.Fatalf("test setup: %d lines dropped, head %d", dropped, head)
	}
	te.wantGapThenData(t, 0, all, head, "2026-12-02T10:00:00Z testhost sshlogfwd: dropped "+itoa(dropped)+
		" lines while loghost:/var/log/remote.log was unreachable (the spool bound --spool-max was reached)\n")
}

// TestSenderDropsConnectionOnAckBeyondSent: an ack of data never sent
// means the receiver does not follow our stream: the session ends, and
// nothing counts as delivered.
func TestSenderDropsConnectionOnAckBeyondSent(t *testing.T) {
	te := newReliable(t, spool.Options{})
	all := lines(0, 100)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	r := startFakeReceiver(t, l, holding("=", 0))
	done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
	r.frame()
	r.ack(int64(len(all)) + 1)
	if result(t, done, "the session after a bogus ack") {
		t.Errorf("the session reported healthy")
	}
	if p := te.d.consumer.Pending(); p != int64(len(all)) {
		t.Errorf("%d bytes pending after a bogus ack, want all %d", p, len(all))
	}
	l.Kill()
}

// TestSenderOverdueOnlyAfterAckTimeout: the link is taken for dead when
// data is outstanding and nothing was acknowledged for longer than the
// ack timeout, and only then.
func TestSenderOverdueOnlyAfterAckTimeout(t *testing.T) {
	te := newReliable(t, spool.Options{})
	s := &sender{e: te.engine}
	s.lastProgress.Store(t0.UnixNano())
	s.sentHigh.Store(100)
	if s.overdue(t0.Add(30 * time.Second)) {
		t.Error("overdue at exactly the ack timeout")
	}
	if !s.overdue(t0.Add(30*time.Second + time.Nanosecond)) {
		t.Error("not overdue after the ack timeout")
	}
	s.acked.Store(100)
	if s.overdue(t0.Add(time.Hour)) {
		t.Error("overdue with nothing outstanding")
	}
}

// TestSenderAckTimeoutKillsLink: with data outstanding and no
// acknowledgement, the link is killed once the ack timeout has passed on
// the clock.
func TestSenderAckTimeoutKillsLink(t *testing.T) {
	te := newReliable(t, spool.Options{})
	te.sp.Append(lines(0, 100))
	l := newPipeLink(t, te.clk)
	r := startFakeReceiver(t, l, holding("=", 0))
	done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
	r.frame()
	te.clk.WaitForWaiters(1) // the ack watch
	te.clk.Advance(30 * time.Second)
	te.clk.Advance(time.Second)
	waitFor(t, l.wasKilled, "the link killed after the ack timeout")
	result(t, done, "the session")
}

// serveReceiver runs the real receiver for path as l's far side; l exits
// when it returns.
func serveReceiver(t *testing.T, l *pipeLink, path string) <-chan error {
	served := make(chan error, 1)
	log := slog.New(&logRecorder{t: t})
	go func() {
		err := receiver.Serve(context.Background(), l.farIn, l.farOut, receiver.Options{Path: path, Logger: log})
		l.farOut.Close()
		if err != nil {
			l.exit(exitError(1))
		} else {
			l.exit(nil)
		}
		served <- err
	}()
	return served
}

// TestSenderExactlyOnceThroughReceiver: against the real receiver, a
// session broken after its first acknowledgement and the next one deliver
// every line exactly once, in order.
func TestSenderExactlyOnceThroughReceiver(t *testing.T) {
	te := newReliable(t, spool.Options{})
	te.frameMax = 4096
	te.deliverAcrossKill(t, lines(0, 6000))
}

// TestSenderDrainsUntilAcknowledged: once the run stops, the session still
// sends everything spooled, waits for its acknowledgement, and then ends
// the receiver in order.
func TestSenderDrainsUntilAcknowledged(t *testing.T) {
	te := newReliable(t, spool.Options{})
	path := filepath.Join(t.TempDir(), "remote.log")
	all := lines(0, 50000)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	served := serveReceiver(t, l, path)
	stop := te.stopped()
	if !result(t, runSession(func() bool { return te.sendTo(stop, te.d, l) }), "the draining session") {
		t.Errorf("a session that got everything acknowledged reported unhealthy")
	}
	if err := <-served; err != nil {
		t.Errorf("receiver: %v", err)
	}
	if p := te.d.consumer.Pending(); p != 0 {
		t.Errorf("%d bytes not acknowledged after the drain", p)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, all) {
		t.Errorf("the log host has %d bytes, want the %d spooled", len(got), len(all))
	}
}

// TestSenderDrainEndsAtDeadline: a receiver that acknowledges nothing
// holds the end of the run only until the drain timeout; what it did not
// acknowledge stays in the spool.
func TestSenderDrainEndsAtDeadline(t *testing.T) {
	te := newReliable(t, spool.Options{})
	all := lines(0, 100)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	r := startFakeReceiver(t, l, holding("=", 0))
	stop := te.stopped()
	done := runSession(func() bool { return te.sendTo(stop, te.d, l) })
	wantFrame(t, r.frame(), ackproto.Data, 0, all)
	te.clk.Advance(10 * time.Second)
	result(t, done, "the session after the drain timeout")
	if p := te.d.consumer.Pending(); p != int64(len(all)) {
		t.Errorf("%d bytes pending, want the %d never acknowledged", p, len(all))
	}
}
