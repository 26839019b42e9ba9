package e2e

import (
	"testing"
)

// The FIFO kill tests: push reads a FIFO that something else holds open
// read-write for its whole life (as systemd does for a socket unit with
// ListenFIFO=), a writer that behaves like rsyslog's ompipe (one
// non-blocking write per line, a line that finds the pipe full is dropped)
// goes on at 2,000 lines/s, and push is killed -9 at random moments and
// started again at once — with no pause of the writer and no waiting for
// the FIFO to be read empty. Every line the writer put into the FIFO must
// reach the log host exactly once.

// fifoKills is how many times they kill push; the writer's rate, and the
// rest, are the FIFO-holder tests' (runFIFOHolder).
const fifoKills = 32

// TestPushFIFOKilledReliable: push --reliable --fifo killed -9 at random
// moments: nothing dropped by the writer, every line exactly once, in
// order, untorn.
func TestPushFIFOKilledReliable(t *testing.T) {
	// Not parallel, as the FIFO-holder tests: the kills measure push's
	// restart, which a machine loaded by the other e2e tests stretches
	// past the pipe's room.
	r := runFIFOHolder(t, fifoHolderCase{reliable: true, heldByPath: true})
	if r.dropped != 0 {
		t.Errorf("the writer found the FIFO full %d times", r.dropped)
	}
	exactlyOnce(t, r.Report, r.lines)
}

// TestPushFIFOKilledCompat: push --fifo into `cat >>` killed -9 at random
// moments. Killing push does not kill its ssh, which delivers what it was
// given once its input ends; what push had taken from the FIFO but not
// given to ssh yet is in the spool. So nothing may be lost or repeated.
func TestPushFIFOKilledCompat(t *testing.T) {
	// Not parallel: see TestPushFIFOKilledReliable.
	r := runFIFOHolder(t, fifoHolderCase{heldByPath: true})
	if r.dropped != 0 {
		t.Errorf("the writer found the FIFO full %d times", r.dropped)
	}
	if r.Lost != 0 || r.Duplicated != 0 || len(r.Other) != 0 {
		t.Errorf("want no line lost or duplicated: %s; other lines: %q; missing %s", r.Report, first(r.Other, 5), r.Gaps(20))
	}
}
