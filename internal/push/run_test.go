package push

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// fakeSupervisor connects every child of a destination to the far side
// far starts on its link, one after the other, until ctx ends; far
// returns a wait for the far side's end. Like execssh.Supervisor, it
// closes the child's input once the session is over and reports the exit.
func fakeSupervisor(t *testing.T, c clock.Clock, far func(*pipeLink) func()) superviseFunc {
	return func(ctx context.Context, d *destination, session func(context.Context, Link) bool, exited func(error)) error {
		for ctx.Err() == nil {
			l := newPipeLink(t, c)
			wait := far(l)
			session(ctx, l)
			l.CloseStdin()
			wait()
			exited(l.Err())
		}
		return nil
	}
}

// endlessInput is an input like a FIFO: it gives its data, then blocks
// until a read deadline is set (when the run stops).
type endlessInput struct {
	data     []byte
	once     sync.Once
	deadline chan struct{}
}

func newEndlessInput(data []byte) *endlessInput {
	return &endlessInput{data: data, deadline: make(chan struct{})}
}

func (r *endlessInput) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	<-r.deadline
	return 0, os.ErrDeadlineExceeded
}

func (r *endlessInput) SetReadDeadline(time.Time) error {
	r.once.Do(func() { close(r.deadline) })
	return nil
}

// runOptions are the options of a reliable run into path, on clk.
func runOptions(t *testing.T, path string, clk clock.Clock, logs *logRecorder) Options {
	return Options{
		Dests:    []Dest{{Dest: execssh.Dest{Host: "loghost", Path: path}}},
		SpoolDir: filepath.Join(t.TempDir(), "spool"), SpoolMax: 64 << 20,
		Reliable: true, AckTimeout: time.Hour, DrainTimeout: 10 * time.Second,
		Hostname: "testhost", Clock: clk, Logger: slog.New(logs),
	}
}

func startRun(ctx context.Context, opts Options) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, opts) }()
	return errc
}

// TestRunDeliversInputThenEnds: standard input is delivered whole, and the
// run ends once everything is acknowledged, ending the receiver in order.
func TestRunDeliversInputThenEnds(t *testing.T) {
	logs := &logRecorder{t: t}
	all := append(lines(0, 20000), "a last line without newline"...)
	runInputToEnd(t, bytes.NewReader(all), all, logs)
	if n := logs.count("not delivered before exit; kept in the spool for the next start"); n != 0 {
		t.Errorf("data reported left in the spool")
	}
}

// TestRunStopDrains: on stop, delivery goes on until everything is
// acknowledged, or until the drain timeout has passed on the clock; what
// is not acknowledged then stays in the spool.
func TestRunStopDrains(t *testing.T) {
	for _, acked := range []bool{true, false} {
		name := map[bool]string{true: "acknowledged", false: "never acknowledged"}[acked]
		t.Run(name, func(t *testing.T) {
			clk, logs := clock.NewFake(t0), &logRecorder{t: t}
			all := lines(0, 100)
			opts := runOptions(t, "/var/log/remote.log", clk, logs)
			opts.Input = newEndlessInput(all)
			receivers := make(chan *fakeReceiver, 10)
			opts.supervise = fakeSupervisor(t, clk, func(l *pipeLink) func() {
				r := startFakeReceiver(t, l, holding("=", 0))
				receivers <- r
				return func() {
					for range r.frames {
					}
				}
			})
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			errc := startRun(ctx, opts)
			r := <-receivers
			wantFrame(t, r.frame(), ackproto.Data, 0, all)
			stop()
			if acked {
				r.ack(int64(len(all)))
			}
			var err error
			waitFor(t, func() bool {
				select {
				case err = <-errc:
					return true
				default:
					if !acked {
						clk.Advance(time.Second)
					}
					return false
				}
			}, "the end of the run")
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			moved := clk.Now().Sub(t0)
			kept := logs.count("not delivered before exit; kept in the spool for the next start")
			switch {
			case acked && (moved >= opts.DrainTimeout || kept != 0):
				t.Errorf("acknowledged data: the run ended after %v on the clock, %d reports of data kept", moved, kept)
			case !acked && (moved < opts.DrainTimeout || moved > opts.AckTimeout/2 || kept != 1):
				t.Errorf("unacknowledged data: the run ended after %v on the clock (drain timeout %v), %d reports of data kept", moved, opts.DrainTimeout, kept)
			}
		})
	}
}

// TestRunStopReconnectsToDrain: the log host is unreachable when the run
// stops; the drain goes on connecting, and the log host coming back
// within the drain timeout gets everything.
func TestRunStopReconnectsToDrain(t *testing.T) {
	clk, logs := clock.NewFake(t0), &logRecorder{t: t}
	path := filepath.Join(t.TempDir(), "remote.log")
	all := lines(0, 100)
	opts := runOptions(t, path, clk, logs)
	opts.Input = newEndlessInput(all)
	secondTry, stopped := make(chan struct{}), make(chan struct{})
	tries := 0
	opts.supervise = fakeSupervisor(t, clk, func(l *pipeLink) func() {
		tries++
		switch tries {
		case 1: // the log host is down
		case 2: // still down when the run stops
			close(secondTry)
			<-stopped
		default:
			served := serveReceiver(t, l, path)
			return func() { <-served }
		}
		l.exit(exitError(255))
		return func() {}
	})
	ctx, stop := context.WithCancel(context.Background())
	errc := startRun(ctx, opts)
	// A failed connection's session waits a moment on the clock for the
	// child's last words: the clock moves on while the test waits.
	tick := func(ch <-chan struct{}) func() bool {
		return func() bool {
			select {
			case <-ch:
				return true
			default:
				clk.Advance(10 * time.Millisecond)
				return false
			}
		}
	}
	waitFor(t, tick(secondTry), "a second connection")
	stop()
	close(stopped)
	var err error
	ended := make(chan struct{})
	go func() { err = <-errc; close(ended) }()
	waitFor(t, tick(ended), "the end of the run")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if moved := clk.Now().Sub(t0); moved >= opts.DrainTimeout {
		t.Errorf("the run ended %v after its start on the clock, beyond the drain timeout %v", moved, opts.DrainTimeout)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, all) {
		t.Errorf("the log host has %d bytes after the drain, want the %d read (%d connections)", len(got), len(all), tries)
	}
	if n := logs.count("not delivered before exit; kept in the spool for the next start"); n != 0 {
		t.Errorf("data reported left in the spool")
	}
}

// TestMarksAndStatsOnTheClock: a mark line every Mark and a status line
// every Stats, on the engine's clock.
func TestMarksAndStatsOnTheClock(t *testing.T) {
	te := newTestEngine(t, Options{Mark: 20 * time.Minute, Stats: 15 * time.Minute}, spool.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer te.startPeriodic(ctx).Wait()
	defer cancel()
	te.clk.WaitForWaiters(2)
	mark := func(at string) string { return at + " testhost sshlogfwd: -- MARK --\n" }

	te.clk.Advance(15 * time.Minute)
	waitFor(t, func() bool { return te.logs.count("status") == 1 }, "a status line at 15m")
	if a := te.d.consumer.Available(); a != 0 {
		t.Fatalf("%d bytes spooled before the first mark was due", a)
	}
	te.clk.Advance(5 * time.Minute)
	if got := string(te.next(t).Data); got != mark("2026-12-02T10:20:00Z") {
		t.Fatalf("first mark %q", got)
	}
	te.clk.Advance(10 * time.Minute)
	waitFor(t, func() bool { return te.logs.count("status") == 2 }, "a status line at 30m")
	te.clk.Advance(10 * time.Minute)
	if got := string(te.next(t).Data); got != mark("2026-12-02T10:40:00Z") {
		t.Fatalf("second mark %q", got)
	}
	if n := te.logs.count("status"); n != 2 {
		t.Errorf("%d status lines in 40m, want 2", n)
	}
}
