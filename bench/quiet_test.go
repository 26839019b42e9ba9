package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A benchmark on a machine where other work runs measures that work (the
// run of 2026-11-25 saw load averages of 8 to 70). The harness therefore
// starts only once the 1-minute load average is below -max-load, and
// before each throughput round waits until nothing outside its own
// process tree uses the CPU; around each round it records the load and
// the CPU the rest of the machine used meanwhile (Quiet). A run in which
// other work took more than a tenth of a core is disturbed: its figures
// are kept apart and BENCHMARKS.md is left alone (suite_test.go).

// quietPoll is how often the load is looked at while waiting.
const quietPoll = 5 * time.Second

// loadAvg is the 1-minute load average and the three averages as
// /proc/loadavg gives them.
func loadAvg() (one float64, all string) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, ""
	}
	one, _ = strconv.ParseFloat(f[0], 64)
	return one, strings.Join(f[:3], " ")
}

// busyTicks is the CPU time, in clock ticks, that every CPU spent running
// processes (user, nice, system) since boot, from /proc/stat. Interrupt
// time is left out: loopback traffic is handled there, ours included.
func busyTicks() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "cpu" {
		return 0
	}
	var sum uint64
	for _, s := range f[1:4] {
		v, _ := strconv.ParseUint(s, 10, 64)
		sum += v
	}
	return sum
}

// otherMeter measures the CPU that processes outside the harness's own
// process tree (this test binary, its sshd, the sshlogfwd and ssh it
// starts, and what they start) use from its start on. The tree is read
// settled (ourSnapshot), and orphans stay in it (becomeSubreaper): a
// scale run's 200 pushes, their ssh and their sshd sessions end within
// a moment of each other, and a single read of /proc used to miss the
// CPU of those that ended while it ran and count it as other work.
type otherMeter struct {
	busy uint64
	ours time.Duration
}

func startOther() otherMeter {
	return otherMeter{busy: busyTicks(), ours: treeCPU(ourSnapshot(), os.Getpid())}
}

// since is the other work's CPU since m started (never negative).
func (m otherMeter) since() time.Duration {
	busy := time.Duration(busyTicks()-m.busy) * time.Second / clkTck
	ours := treeCPU(ourSnapshot(), os.Getpid()) - m.ours
	return max(busy-ours, 0)
}

// quietGate keeps the run to a quiet machine.
type quietGate struct {
	maxLoad  float64       // 1-minute load average to start below; 0: do not wait
	maxOther float64       // share of one core other work may take (0.1)
	wait     time.Duration // how long to wait for quiet before giving up
	logf     func(format string, args ...any)
}

// start waits until the 1-minute load average is at most g.maxLoad, and
// says how long that took; an error when it stays above for g.wait.
func (g quietGate) start() (time.Duration, error) {
	if g.maxLoad <= 0 {
		return 0, nil
	}
	begin := time.Now()
	lastSaid := begin
	for {
		one, all := loadAvg()
		if one <= g.maxLoad {
			return time.Since(begin), nil
		}
		if time.Since(begin) >= g.wait {
			return time.Since(begin), fmt.Errorf("the machine is not quiet: load average %s after waiting %v for the 1-minute figure to fall to %.2f; other work would be measured too. Run again when it is quiet, or with -dry-run to try the harness (its figures do not go into BENCHMARKS.md)",
				all, g.wait.Round(time.Second), g.maxLoad)
		}
		if time.Since(lastSaid) >= time.Minute {
			lastSaid = time.Now()
			g.logf("waiting for a quiet machine: load average %s (start below %.2f; giving up after %v)", all, g.maxLoad, g.wait)
		}
		time.Sleep(quietPoll)
	}
}

// settle waits, before a round, until other work used at most g.maxOther
// of a core over the last quietPoll. (The load average cannot say so
// between rounds: it still counts the harness's own last round.)
func (g quietGate) settle() error {
	if g.maxLoad <= 0 {
		return nil
	}
	begin := time.Now()
	for {
		m := startOther()
		time.Sleep(quietPoll)
		other := m.since()
		if other.Seconds() <= g.maxOther*quietPoll.Seconds() {
			return nil
		}
		if time.Since(begin) >= g.wait {
			return fmt.Errorf("other work kept using %.2f cores for %v between rounds: the run is thrown away", other.Seconds()/quietPoll.Seconds(), g.wait.Round(time.Second))
		}
		g.logf("waiting before the next round: other work uses %.2f cores", other.Seconds()/quietPoll.Seconds())
	}
}

// around runs part and records what else ran on the machine meanwhile.
func (g quietGate) around(label string, part func()) Quiet {
	_, before := loadAvg()
	m := startOther()
	begin := time.Now()
	part()
	q := Quiet{Label: label, LoadBefore: before, Seconds: Seconds(time.Since(begin).Seconds()), OtherCPU: Seconds(m.since().Seconds())}
	_, q.LoadAfter = loadAvg()
	q.MaxShare = g.maxOther
	g.logf("%s: load %s -> %s, other work %.2f s of CPU in %.0f s (%.2f cores)%s", label, q.LoadBefore, q.LoadAfter,
		float64(q.OtherCPU), float64(q.Seconds), q.Share(), map[bool]string{true: " DISTURBED", false: ""}[q.Disturbed()])
	return q
}
