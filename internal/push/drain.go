package push

import (
	"context"
	"sync"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// drain is the end of a run. When the run stops (a signal, or standard
// input ended), the sessions' context is cancelled, but they go on
// delivering what the spool holds until it is delivered or the drain
// timeout passes; then expired is closed and whatever is left stays in
// the spool for the next start. A write blocked in a stuck ssh must not
// outlive the drain either: sessions close the child's input then.
type drain struct {
	clock   clock.Clock
	timeout time.Duration
	once    sync.Once
	over    chan struct{}
}

func newDrain(c clock.Clock, timeout time.Duration) *drain {
	return &drain{clock: c, timeout: timeout, over: make(chan struct{})}
}

// begin starts the drain timeout. It must be called before the sessions'
// context is cancelled, so that a session that sees the stop sees a
// running timeout. life bounds the timer's goroutine.
func (d *drain) begin(life context.Context) {
	d.once.Do(func() {
		t := d.clock.NewTimer(d.timeout)
		go func() {
			defer t.Stop()
			select {
			case <-t.C():
				close(d.over)
			case <-life.Done():
			}
		}()
	})
}

// expired is closed once the drain timeout has passed.
func (d *drain) expired() <-chan struct{} { return d.over }

// isOver reports whether the drain timeout has passed.
func (d *drain) isOver() bool {
	select {
	case <-d.over:
		return true
	default:
		return false
	}
}

// onExpiry calls fn once the run has stopped (stop is done) and the
// drain timeout has passed, unless the session ends first (alive is
// done). Sessions close their child's input with it, so that a write
// blocked in a stuck ssh fails.
func (d *drain) onExpiry(alive, stop context.Context, fn func()) {
	go func() {
		select {
		case <-alive.Done():
			return
		case <-stop.Done():
		}
		select {
		case <-alive.Done():
		case <-d.over:
			fn()
		}
	}()
}
