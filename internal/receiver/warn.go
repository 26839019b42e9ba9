package receiver

import (
	"log/slog"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// Warnings of one kind let through per warnWindow; the rest are counted.
const (
	warnBurst  = 10
	warnWindow = time.Minute
)

// warnLimiter lets through at most warnBurst warnings of one kind (one
// message) per warnWindow and counts the rest, so that a sender repeating
// a frame that earns a warning cannot make the log host's log grow faster
// than a few lines a minute. The count is logged as one "suppressed" line
// when the kind's next window opens and when the session ends. One per
// session; the caller serialises calls (the Appender's mutex).
type warnLimiter struct {
	log   *slog.Logger
	clock clock.Clock
	kinds map[string]*warnKind
}

type warnKind struct {
	start      time.Time // of the current window
	count      int       // let through in it
	suppressed int       // not let through since the last report
}

func newWarnLimiter(log *slog.Logger, c clock.Clock) *warnLimiter {
	return &warnLimiter{log: log, clock: c, kinds: map[string]*warnKind{}}
}

// warn logs msg with args at warning level unless its kind has used up
// its window.
func (w *warnLimiter) warn(msg string, args ...any) {
	now := w.clock.Now()
	k := w.kinds[msg]
	if k == nil {
		k = &warnKind{start: now}
		w.kinds[msg] = k
	}
	if now.Sub(k.start) >= warnWindow {
		w.report(msg, k)
		k.start, k.count = now, 0
	}
	if k.count >= warnBurst {
		k.suppressed++
		return
	}
	k.count++
	w.log.Warn(msg, args...)
}

// flush reports every kind's suppressed count (at the end of a session).
func (w *warnLimiter) flush() {
	for msg, k := range w.kinds {
		w.report(msg, k)
	}
}

func (w *warnLimiter) report(msg string, k *warnKind) {
	if k.suppressed == 0 {
		return
	}
	w.log.Warn("suppressed similar warnings", "warning", msg, "suppressed", k.suppressed, "per", warnWindow)
	k.suppressed = 0
}
