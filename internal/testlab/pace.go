package testlab

import (
	"context"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// batch is how many lines an unpaced run hands out at a time.
const batch = 64

// Pacer hands out the numbers of a stream's lines as they fall due at a
// fixed rate: line i falls due i/Rate seconds after Run starts.
type Pacer struct {
	// Rate is in lines per second; 0 hands out batches of 64 lines as
	// fast as they are taken.
	Rate int
	// Tick is how often Run wakes up to hand out what fell due; default
	// 2 ms. What falls due in between goes out at once, as a burst.
	Tick  time.Duration
	Clock clock.Clock // nil: real time
}

// Run calls write(from, to) for the lines from..to-1 that have fallen
// due, until limit lines are done (limit <= 0: until ctx ends). Lines
// before from count as done on time: a caller that wrote ahead waits
// until the schedule catches up. write returns how far it got, which may
// be less than to (nothing, while paused); an error ends Run. Run returns
// how many lines are done, and no error when ctx ends.
func (p Pacer) Run(ctx context.Context, from, limit int, write func(from, to int) (int, error)) (int, error) {
	c := clock.OrReal(p.Clock)
	tick := p.Tick
	if tick <= 0 {
		tick = 2 * time.Millisecond
	}
	start := c.Now()
	done := from
	for limit <= 0 || done < limit {
		to := done + batch
		if p.Rate > 0 {
			to = int(int64(clock.Since(c, start))*int64(p.Rate)/int64(time.Second)) + 1
		}
		if limit > 0 {
			to = min(to, limit)
		}
		progressed := false
		if to > done {
			next, err := write(done, to)
			progressed, done = next > done, next
			if err != nil {
				return done, err
			}
		}
		if limit > 0 && done >= limit {
			break
		}
		if p.Rate == 0 && progressed {
			if ctx.Err() != nil {
				return done, nil
			}
			continue
		}
		if clock.Sleep(ctx, c, tick) != nil {
			return done, nil
		}
	}
	return done, nil
}

// Run writes the stream at rate lines per second (0: as fast as the
// destination takes them) until line limit (limit <= 0: until ctx ends),
// calling during, if not nil, after each write with the number of the
// next line. It returns when done or when ctx ends (then with no error).
func (w *Writer) Run(ctx context.Context, limit, rate int, during func(next int)) error {
	p := Pacer{Rate: rate, Tick: w.opts.Tick, Clock: w.clock}
	_, err := p.Run(ctx, w.Next(), limit, func(from, to int) (int, error) {
		if w.paused.Load() {
			return from, nil
		}
		err := w.write(ctx, to-from)
		next := w.Next()
		if during != nil {
			during(next)
		}
		return next, err
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Start runs Run in a goroutine, until line limit (0: until Stop); the
// test's cleanup stops it.
func (w *Writer) Start(t testing.TB, limit, rate int, during func(next int)) {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		w.err = w.Run(ctx, limit, rate, during)
	}()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
}

// Stop ends a started run and returns how many lines it wrote. It fails
// the test if the run had ended early: then the lines after it were never
// written, and what it wrote may have died with the pipe.
func (w *Writer) Stop(t testing.TB) int {
	t.Helper()
	w.cancel()
	<-w.done
	w.check(t)
	return w.Written()
}

// Wait waits for a started run with a limit to finish and returns how
// many lines it wrote; it fails the test after timeout (a hang) or when
// the run ended early.
func (w *Writer) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(timeout):
		t.Fatalf("the test's line writer is not done after %v (%d lines written)", timeout, w.Written())
	}
	w.check(t)
	return w.Written()
}

func (w *Writer) check(t testing.TB) {
	t.Helper()
	if w.err != nil {
		t.Fatalf("the test's line writer failed after %d lines: %v", w.Written(), w.err)
	}
}
