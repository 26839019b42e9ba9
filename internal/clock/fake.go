package clock

import (
	"sync"
	"time"
)

// Fake is a Clock that stands still until Advance moves it. Timers and
// tickers fire, in deadline order, as Advance passes their deadlines.
// Waiters tells a test how many timers and tickers are armed, so that it
// can wait for the code under test to reach its select before advancing,
// instead of sleeping.
type Fake struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []*fakeWaiter
}

// NewFake returns a Fake clock set to start.
func NewFake(start time.Time) *Fake {
	f := &Fake{now: start}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// fakeWaiter is one armed timer or ticker.
type fakeWaiter struct {
	f        *Fake
	c        chan time.Time
	deadline time.Time
	period   time.Duration // 0 for a timer
	armed    bool
}

// Now is the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer arms a timer for d from the fake now.
func (f *Fake) NewTimer(d time.Duration) Timer {
	w := &fakeWaiter{f: f, c: make(chan time.Time, 1)}
	f.arm(w, d, 0)
	return fakeTimer{w}
}

// NewTicker arms a ticker with period d.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	w := &fakeWaiter{f: f, c: make(chan time.Time, 1)}
	f.arm(w, d, d)
	return fakeTicker{w}
}

func (f *Fake) arm(w *fakeWaiter, d, period time.Duration) (wasArmed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wasArmed = f.disarmLocked(w)
	w.deadline, w.period, w.armed = f.now.Add(d), period, true
	f.waiters = append(f.waiters, w)
	f.cond.Broadcast()
	if d <= 0 {
		f.fireLocked(w)
	}
	return wasArmed
}

func (f *Fake) disarm(w *fakeWaiter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disarmLocked(w)
}

func (f *Fake) disarmLocked(w *fakeWaiter) bool {
	was := w.armed
	w.armed = false
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			break
		}
	}
	if was {
		f.cond.Broadcast()
	}
	return was
}

// fireLocked delivers one tick of w (dropped if the last is unread, as
// time.Ticker does) and rearms a ticker or disarms a timer.
func (f *Fake) fireLocked(w *fakeWaiter) {
	select {
	case w.c <- w.deadline:
	default:
	}
	if w.period > 0 {
		w.deadline = w.deadline.Add(w.period)
		return
	}
	f.disarmLocked(w)
}

// Advance moves the clock forward by d, firing every timer and ticker
// whose deadline it passes, earliest first.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.now.Add(d)
	for {
		var next *fakeWaiter
		for _, w := range f.waiters {
			if !w.deadline.After(end) && (next == nil || w.deadline.Before(next.deadline)) {
				next = w
			}
		}
		if next == nil {
			break
		}
		if next.deadline.After(f.now) {
			f.now = next.deadline
		}
		f.fireLocked(next)
	}
	f.now = end
}

// Waiters is the number of armed timers and tickers.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// WaitForWaiters blocks until at least n timers and tickers are armed:
// the code under test has reached the point where it waits on the clock.
func (f *Fake) WaitForWaiters(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.waiters) < n {
		f.cond.Wait()
	}
}

type fakeTimer struct{ w *fakeWaiter }

func (t fakeTimer) C() <-chan time.Time        { return t.w.c }
func (t fakeTimer) Stop() bool                 { return t.w.f.disarm(t.w) }
func (t fakeTimer) Reset(d time.Duration) bool { return t.w.f.arm(t.w, d, 0) }

type fakeTicker struct{ w *fakeWaiter }

func (t fakeTicker) C() <-chan time.Time   { return t.w.c }
func (t fakeTicker) Stop()                 { t.w.f.disarm(t.w) }
func (t fakeTicker) Reset(d time.Duration) { t.w.f.arm(t.w, d, d) }
