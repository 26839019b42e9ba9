package push

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// next takes the next batch of the test destination at once.
func (te *testEngine) next(t *testing.T) spool.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	b, err := te.d.consumer.Next(ctx, 1<<20)
	if err != nil {
		t.Fatalf("hang: no batch: %v", err)
	}
	return b
}

// appendChild runs an append session of the test destination through a
// new child until the far side (cat) has n bytes.
func (te *testEngine) appendChild(t *testing.T, n int) (*pipeLink, *catFar, <-chan bool) {
	t.Helper()
	l := newPipeLink(t, te.clk)
	cat := startCat(l)
	done := runSession(func() bool { return te.appendTo(context.Background(), te.d, l) })
	waitFor(t, func() bool { return len(cat.bytes()) == n }, "%d bytes at the far side", n)
	return l, cat, done
}

// batchWritten is b, all of it written into the child at at.
func batchWritten(b spool.Batch, at time.Time) written {
	return written{n: b.End - b.Start, start: b.Start, end: b.End, at: at}
}

// TestSettleCountsDataDeliveredOnlyAfterTheChildStayedUp: data written
// into a child counts as delivered once the child stayed up settle after
// the write, not before, each write on its own time.
func TestSettleCountsDataDeliveredOnlyAfterTheChildStayedUp(t *testing.T) {
	te := newTestEngine(t, Options{}, spool.Options{})
	te.sp.Append(lines(0, 10))
	first := te.next(t)
	te.d.settling.wrote(batchWritten(first, t0))
	te.sp.Append(lines(10, 20))
	second := te.next(t)
	te.d.settling.wrote(batchWritten(second, t0.Add(500*time.Millisecond)))

	for _, step := range []struct {
		at      time.Duration
		pending int64
	}{
		{settle - time.Nanosecond, 20 * lineLen},
		{settle, 10 * lineLen},
		{settle + 500*time.Millisecond - time.Nanosecond, 10 * lineLen},
		{settle + 500*time.Millisecond, 0},
	} {
		te.d.settling.aged(te.d, t0.Add(step.at), nil)
		if got := te.d.consumer.Pending(); got != step.pending {
			t.Fatalf("at +%v: %d bytes pending, want %d", step.at, got, step.pending)
		}
	}
}

// TestAppendSessionDeliversOnTheClock: a session writes what is spooled
// into its child; nothing counts as delivered until the engine's clock
// has moved on by settle.
func TestAppendSessionDeliversOnTheClock(t *testing.T) {
	te := newTestEngine(t, Options{}, spool.Options{})
	all := lines(0, 100)
	te.sp.Append(all)
	l, cat, done := te.appendChild(t, len(all))
	if got := te.d.consumer.Pending(); got != int64(len(all)) {
		t.Fatalf("%d bytes pending before the clock moved, want all %d", got, len(all))
	}
	te.clk.WaitForWaiters(1) // the session's settle ticker
	waitFor(t, func() bool {
		te.clk.Advance(settle / 4)
		return te.d.consumer.Pending() == 0
	}, "delivery once the child stayed up")
	if clockMoved := te.clk.Now().Sub(t0); clockMoved < settle {
		t.Errorf("delivered after %v on the clock, want at least %v", clockMoved, settle)
	}
	te.clk.Advance(settle)
	l.exit(nil)
	if !result(t, done, "the session") {
		t.Errorf("a session that delivered data and stayed up %v reported unhealthy", l.Uptime())
	}
	if !bytes.Equal(cat.bytes(), all) {
		t.Errorf("far side got %q", cat.bytes())
	}
}

// TestAppendSessionExitDecidesDelivery: a remote command that fails (an
// exit status other than 0 and 255) appended nothing we can count on, so
// its share is sent again to the next child; when ssh itself failed (255)
// or was killed, what it accepted counts as sent.
func TestAppendSessionExitDecidesDelivery(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		resent bool
	}{
		{"cat cannot open the file", exitError(2), true},
		{"remote command not found", exitError(127), true},
		{"ssh failed", exitError(255), false},
		{"ssh killed", exitError(-1), false},
		{"remote command ended", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEngine(t, Options{}, spool.Options{})
			all := lines(0, 100)
			te.sp.Append(all)
			l, _, done := te.appendChild(t, len(all))
			l.exit(tt.err)
			result(t, done, "the session")
			te.exited(te.d, l.Err())

			if !tt.resent {
				if p, a := te.d.consumer.Pending(), te.d.consumer.Available(); p != 0 || a != 0 {
					t.Fatalf("after %v: %d bytes pending, %d to send; want everything counted as sent", tt.err, p, a)
				}
				return
			}
			if a := te.d.consumer.Available(); a != int64(len(all)) {
				t.Fatalf("after %v: %d bytes to send again, want all %d", tt.err, a, len(all))
			}
			l2, cat2, done2 := te.appendChild(t, len(all))
			if !bytes.Equal(cat2.bytes(), all) {
				t.Errorf("next child got %q", cat2.bytes())
			}
			l2.exit(nil)
			result(t, done2, "the second session")
		})
	}
}

// TestAppendSessionDrainsOnStop: once the run stops, a session still
// writes everything spooled into its child before it ends.
func TestAppendSessionDrainsOnStop(t *testing.T) {
	te := newTestEngine(t, Options{DrainTimeout: time.Minute}, spool.Options{})
	all := lines(0, 100000) // several batches, more than the pipe holds (1 MiB)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	cat := startCat(l)
	stop := te.stopped()
	result(t, runSession(func() bool { return te.appendTo(stop, te.d, l) }), "the draining session")
	l.CloseStdin()
	<-cat.done
	if got := cat.bytes(); !bytes.Equal(got, all) {
		t.Errorf("far side got %d of %d bytes after the drain", len(got), len(all))
	}
}

// TestAppendSessionDrainTimeoutEndsStuckWrite: a child that takes nothing
// more (a stuck ssh) does not hold the end of the run beyond the drain
// timeout: its input is closed, the blocked write fails, and what it did
// not take stays in the spool.
func TestAppendSessionDrainTimeoutEndsStuckWrite(t *testing.T) {
	te := newTestEngine(t, Options{DrainTimeout: 10 * time.Second}, spool.Options{})
	all := lines(0, 100000) // more than the pipe holds (1 MiB): the write blocks
	te.sp.Append(all)
	l := newPipeLink(t, te.clk) // nobody reads the far side
	stop := te.stopped()
	done := runSession(func() bool { return te.appendTo(stop, te.d, l) })
	waitFor(t, func() bool { read, _ := te.d.consumer.Position(); return read > 0 }, "a batch taken for the child")
	te.clk.Advance(10 * time.Second)
	result(t, done, "the session stuck in a write after the drain timeout")
	if a := te.d.consumer.Available(); a == 0 {
		t.Errorf("nothing left to send: the stuck child's share was counted as written")
	}
}

// restartPosition is where a push started now on te's spool directory
// (after a kill -9 of this one) would resume te's destination.
func (te *testEngine) restartPosition(t *testing.T, dir string) int64 {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, Max: 64 << 20, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	// Not closed: Close would save positions of its own.
	read, _ := sp.Consumer(te.d.String()).Position()
	return read
}

// TestAppendSessionRecordsWhatTheChildTook: after every write into the
// child, what it took is recorded for a restart, exactly: a killed push
// leaves its ssh running, which delivers what it took, and a restart must
// neither send that again nor skip anything after it.
func TestAppendSessionRecordsWhatTheChildTook(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	te := newTestEngine(t, Options{}, spool.Options{Dir: dir, Durable: true})
	all := lines(0, 100000) // more than the pipe holds (1 MiB)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	done := runSession(func() bool { return te.appendTo(context.Background(), te.d, l) })
	// The far side reads a little, then stops: the write blocks.
	first := make([]byte, 10000)
	if _, err := io.ReadFull(l.farIn, first); err != nil {
		t.Fatal(err)
	}
	// Blocked, the session has written what fits, and recorded it.
	waitFor(t, func() bool {
		took := len(first) + pipe.Queued(l.farIn)
		return took > len(first) && te.restartPosition(t, dir) == int64(took)
	}, "a restart position equal to what the child took")
	l.Kill()
	result(t, done, "the session")
}

// TestAppendSessionFailedCommandMovesRestartBack: the share of a remote
// command that failed is sent again, by the next child or, after a kill,
// by the next start.
func TestAppendSessionFailedCommandMovesRestartBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	te := newTestEngine(t, Options{}, spool.Options{Dir: dir, Durable: true})
	all := lines(0, 100)
	te.sp.Append(all)
	l, _, done := te.appendChild(t, len(all))
	if got := te.restartPosition(t, dir); got != int64(len(all)) {
		t.Fatalf("a restart would resume at %d after the child took all %d bytes", got, len(all))
	}
	l.exit(exitError(2))
	result(t, done, "the session")
	te.exited(te.d, l.Err())
	if got := te.restartPosition(t, dir); got != 0 {
		t.Errorf("a restart would resume at %d after the remote command failed, want 0", got)
	}
}

// connectingLink is a link (over io.Pipes, for synctest) whose ssh has
// not connected yet: connect closes Ready.
func connectingLink(t *testing.T, te *testEngine) (*pipeLink, func()) {
	t.Helper()
	l := newMemLink(t, te.clk)
	l.ready = make(chan struct{})
	return l, func() { close(l.ready) }
}

// TestAppendSessionWritesNothingBeforeConnected: nothing goes into a
// child before it is connected and authenticated (what goes into an ssh
// that then fails to connect dies with it); a child that fails to
// connect leaves everything to the next one. (A synctest bubble tells
// when the session waits.)
func TestAppendSessionWritesNothingBeforeConnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, Options{}, spool.Options{})
		all := lines(0, 100)
		te.sp.Append(all)

		failed, _ := connectingLink(t, te)
		cat := startCat(failed)
		done := runSession(func() bool { return te.appendTo(context.Background(), te.d, failed) })
		synctest.Wait() // the session waits for the connection
		if read, _ := te.d.consumer.Position(); read != 0 || len(cat.bytes()) != 0 {
			t.Fatalf("%d bytes taken from the spool, %d written, for a child that is not connected", read, len(cat.bytes()))
		}
		failed.exit(exitError(255)) // could not connect
		result(t, done, "the session of a child that did not connect")
		te.exited(te.d, failed.Err())
		if a := te.d.consumer.Available(); a != int64(len(all)) {
			t.Fatalf("%d bytes left to send after a failed connection, want all %d", a, len(all))
		}

		l, connect := connectingLink(t, te)
		cat = startCat(l)
		done = runSession(func() bool { return te.appendTo(context.Background(), te.d, l) })
		synctest.Wait()
		connect()
		synctest.Wait()
		if !bytes.Equal(cat.bytes(), all) {
			t.Errorf("far side got %d of %d bytes once connected", len(cat.bytes()), len(all))
		}
		l.exit(nil)
		result(t, done, "the session")
	})
}

// TestAppendSessionWaitsForConnectionDuringDrain: a child still
// connecting when the run stops is waited for while there is something
// to drain: the link may be back within the drain timeout. With nothing
// to drain it is not.
func TestAppendSessionWaitsForConnectionDuringDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, Options{DrainTimeout: time.Minute}, spool.Options{})
		all := lines(0, 100)
		te.sp.Append(all)
		l, connect := connectingLink(t, te)
		cat := startCat(l)
		stop := te.stopped()
		done := runSession(func() bool { return te.appendTo(stop, te.d, l) })
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the session gave up on a connecting child with data to drain")
		default:
		}
		connect()
		result(t, done, "the draining session")
		synctest.Wait()
		if !bytes.Equal(cat.bytes(), all) {
			t.Errorf("far side got %d of %d bytes after the drain", len(cat.bytes()), len(all))
		}

		empty := newTestEngine(t, Options{DrainTimeout: time.Minute}, spool.Options{})
		l2, _ := connectingLink(t, empty)
		result(t, runSession(func() bool { return empty.appendTo(empty.stopped(), empty.d, l2) }), "a session with nothing to drain")
		// The drain timers end; nothing is left in the bubble.
		te.clk.Advance(time.Minute)
		empty.clk.Advance(time.Minute)
	})
}

// TestAppendSessionKilledMidBatchResendsWhatItNeverRead: a child that
// dies in the middle of a batch read part of what it took; that part
// counts as sent (what a dying ssh had read is lost or delivered, never
// knowable). What it took but never read, still in its input, never left
// this host: the next child gets exactly that and the rest, once, and a
// restart would resume there too.
func TestAppendSessionKilledMidBatchResendsWhatItNeverRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	te := newTestEngine(t, Options{}, spool.Options{Dir: dir, Durable: true})
	all := lines(0, 100000) // more than the pipe holds (1 MiB)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	done := runSession(func() bool { return te.appendTo(context.Background(), te.d, l) })
	read := make([]byte, 10000+lineLen/2) // ends inside a line
	if _, err := io.ReadFull(l.farIn, read); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		took := len(read) + pipe.Queued(l.farIn)
		return took > len(read) && te.restartPosition(t, dir) == int64(took)
	}, "the write to block on a full pipe, with what the child took recorded")
	l.Kill()
	result(t, done, "the killed session")
	te.exited(te.d, l.Err())
	if got := te.restartPosition(t, dir); got != int64(len(read)) {
		t.Errorf("a restart would resume at %d, want %d (what the killed child read)", got, len(read))
	}
	if _, acked := te.d.consumer.Position(); acked != int64(len(read)) {
		t.Errorf("%d bytes count as sent, want the %d the killed child read", acked, len(read))
	}
	rest := all[len(read):]
	l2, cat2, done2 := te.appendChild(t, len(rest))
	if got := cat2.bytes(); !bytes.Equal(got, rest) {
		t.Errorf("next child got %d bytes starting %.20q, want the %d the killed one did not read", len(got), got, len(rest))
	}
	l2.exit(nil)
	result(t, done2, "the second session")
}

// TestSettleWaitsForTheChildToRead: what waits in the child's input is
// not delivered however long it waits there (ssh slower than the
// stream): when the child dies, it is sent again, so it must still be in
// the spool.
func TestSettleWaitsForTheChildToRead(t *testing.T) {
	te := newTestEngine(t, Options{}, spool.Options{})
	// Batches smaller than the pipe: a batch counts once the child read
	// it, and while a write waits for room, its bytes in the pipe hide
	// that from the count (it errs on the side of not yet).
	te.frameMax = 16 << 10
	all := lines(0, 50000)
	te.sp.Append(all)
	l := newPipeLink(t, te.clk)
	done := runSession(func() bool { return te.appendTo(context.Background(), te.d, l) })
	read := make([]byte, 200_000) // several batches and part of one
	if _, err := io.ReadFull(l.farIn, read); err != nil {
		t.Fatal(err)
	}
	var queued int
	waitFor(t, func() bool { queued = pipe.Queued(l.farIn); return queued > 0 }, "bytes waiting in the child's input")
	te.clk.WaitForWaiters(1) // the session's settle ticker
	for range 8 {
		te.clk.Advance(settle / 4)
	}
	waitFor(t, func() bool { _, acked := te.d.consumer.Position(); return acked > 0 }, "what the child read counted as sent")
	if _, acked := te.d.consumer.Position(); acked > int64(len(read)) {
		t.Errorf("%d bytes count as sent, but the child read only %d", acked, len(read))
	}
	l.Kill()
	result(t, done, "the killed session")
	te.exited(te.d, l.Err())
	rest := all[len(read):]
	l2, cat2, done2 := te.appendChild(t, len(rest))
	if got := cat2.bytes(); !bytes.Equal(got, rest) {
		t.Errorf("next child got %d bytes starting %.20q, want the %d the killed one did not read", len(got), got, len(rest))
	}
	l2.exit(nil)
	result(t, done2, "the second session")
}
