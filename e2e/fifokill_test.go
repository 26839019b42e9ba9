package e2e

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// The FIFO kill tests: push reads a FIFO that something else holds open
// read-write for its whole life (as systemd does for a socket unit with
// ListenFIFO=), a writer that behaves like rsyslog's ompipe (one
// non-blocking write per line, a line that finds the pipe full is dropped)
// goes on at 2,000 lines/s, and push is killed -9 at random moments and
// started again at once — with no pause of the writer and no waiting for
// the FIFO to be read empty. Every line the writer put into the FIFO must
// reach the log host exactly once.

const (
	fifoKillRate = 2000 // lines per second
	fifoKills    = 32
)

// TestPushFIFOKilledReliable: push --reliable --fifo killed -9 at random
// moments: nothing dropped by the writer, every line exactly once, in
// order, untorn.
func TestPushFIFOKilledReliable(t *testing.T) {
	// Not parallel, as the FIFO-holder tests: the kills measure push's
	// restart, which a machine loaded by the other e2e tests stretches
	// past the pipe's room.
	l := newRelLab(t, relLabOptions{})
	r, n, dropped := runFIFOKills(t, l.SSHD, l.Dir, l.Remote, "--reliable", "--ack-timeout", "10s", "--mark", "0")
	t.Logf("push --reliable --fifo killed -9 %d times at 0.5-1.5 s: %d lines, %d dropped by the writer; %s", fifoKills, n, dropped, r)
	if dropped != 0 {
		t.Errorf("the writer found the FIFO full %d times", dropped)
	}
	exactlyOnce(t, r, n)
}

// TestPushFIFOKilledCompat: push --fifo into `cat >>` killed -9 at random
// moments. Killing push does not kill its ssh, which delivers what it was
// given once its input ends; what push had taken from the FIFO but not
// given to ssh yet is in the spool. So nothing may be lost or repeated.
func TestPushFIFOKilledCompat(t *testing.T) {
	// Not parallel: see TestPushFIFOKilledReliable.
	l := newPushLab(t, "remote.log")
	r, n, dropped := runFIFOKills(t, l.SSHD, l.Dir, l.Remote, "--mark", "0")
	t.Logf("push --fifo (cat >>) killed -9 %d times at 0.5-1.5 s: %d lines, %d dropped by the writer; %s", fifoKills, n, dropped, r)
	if dropped != 0 {
		t.Errorf("the writer found the FIFO full %d times", dropped)
	}
	if r.Lost != 0 || r.Duplicated != 0 || len(r.Other) != 0 {
		t.Errorf("want no line lost or duplicated: %s; other lines: %q", r, first(r.Other, 5))
	}
}

// runFIFOKills creates a FIFO in dir and holds it open read-write, starts
// push (flags, then --fifo, the spool and the destination), then the
// writer, kills push -9 fifoKills times at random intervals of 0.5-1.5 s,
// starting it again at once, stops the writer, waits for the lines on the
// log host and stops the last push. It returns what arrived, how many
// lines were numbered and how many of them the writer dropped.
func runFIFOKills(t *testing.T, sshd *testlab.SSHD, dir, remote string, flags ...string) (r testlab.Report, n, dropped int) {
	t.Helper()
	fifo := filepath.Join(dir, "held.fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	holder, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close() })
	args := append(flags, "--fifo", fifo, "--spool", filepath.Join(dir, "spool"), sshd.Alias+":"+remote)
	ps := &crashPushes{t: t, sshd: sshd, log: filepath.Join(dir, "push.log"), args: args}
	t.Cleanup(ps.cleanup)
	p := ps.start()
	// The first push enlarges the pipe; the holder keeps it that size.
	testlab.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(string(readFile(ps.log)), "reading fifo") }, "push to open the fifo")
	w := testlab.OpenWriter(t, fifo, os.O_WRONLY, 0, relLines, testlab.WriterOptions{Mode: testlab.Drop, Tick: time.Millisecond})
	w.Start(t, 0, fifoKillRate, nil)
	for range fifoKills {
		time.Sleep(500*time.Millisecond + rand.N(time.Second))
		ps.kill(p)
		p = ps.start()
	}
	w.Stop(t)
	n, dropped = w.Next(), w.Dropped()
	if got := ps.kills.Load(); got != fifoKills {
		t.Fatalf("%d kills confirmed by push's exit status, want %d", got, fifoKills)
	}
	if _, ok := relLines.WaitQuiet(func() []byte { return readFile(remote) }, n-1, time.Second, 90*time.Second); !ok {
		r := relLines.Check(readFile(remote), n)
		t.Errorf("after 90 s the log host does not have the last of %d lines: %s; missing %s", n, r, r.Gaps(20))
	}
	ps.stop(p)
	r = relLines.Check(readFile(remote), n)
	if r.Lost > 0 {
		t.Errorf("missing lines (%d of them dropped by the writer): %s", dropped, r.Gaps(20))
	}
	return r, n, dropped
}
