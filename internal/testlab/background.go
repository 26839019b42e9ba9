package testlab

import (
	"context"
	"testing"
	"time"
)

// Background is an engine's Run going on in a goroutine of a test (push's,
// pull's), until Stop or the test's end.
type Background struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run returned, with err
	err    error
}

// Go runs run in a goroutine with a context that Cancel, Stop and the
// test's end cancel; the test's end also waits for run to return.
func Go(t testing.TB, run func(ctx context.Context) error) *Background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &Background{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// Cancel cancels run's context and returns at once.
func (b *Background) Cancel() { b.cancel() }

// Stop cancels run's context and waits for it to return: the test fails
// when that takes longer than within (a hang) or run returns an error.
func (b *Background) Stop(t testing.TB, within time.Duration) {
	t.Helper()
	b.cancel()
	select {
	case <-b.done:
	case <-time.After(within):
		t.Fatalf("hang: Run did not end within %v of the stop", within)
	}
	if b.err != nil {
		t.Fatalf("Run: %v", b.err)
	}
}
