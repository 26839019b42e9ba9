// Package backoff computes reconnect delays for supervised children (ssh,
// journalctl): exponential with jitter, reset after a healthy run.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff computes reconnect delays: exponential from Min, capped at Max,
// with ±20 % jitter so that many hosts restarted together do not reconnect
// in lockstep to one log host.
type Backoff struct {
	Min, Max time.Duration
	// Jitter returns a number in [0,1); nil uses math/rand.
	Jitter func() float64

	attempt int
	fresh   bool
}

// Next returns the delay before the next attempt and counts the attempt.
// Right after Reset (a connection that worked) the first retry comes after
// only 0-50 ms: a link that just carried data is most likely back at once,
// and every millisecond there is a millisecond of lines waiting.
func (b *Backoff) Next() time.Duration {
	j := rand.Float64
	if b.Jitter != nil {
		j = b.Jitter
	}
	if b.fresh {
		b.fresh = false
		return time.Duration(j() * float64(50*time.Millisecond))
	}
	minD, maxD := b.Min, b.Max
	if minD <= 0 {
		minD = 250 * time.Millisecond
	}
	if maxD < minD {
		maxD = minD
	}
	d := minD
	for i := 0; i < b.attempt && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	b.attempt++
	return time.Duration(float64(d) * (0.8 + 0.4*j()))
}

// Reset starts over at Min, after a healthy connection.
func (b *Backoff) Reset() { b.attempt, b.fresh = 0, true }
