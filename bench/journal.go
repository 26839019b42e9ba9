package bench

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// JournalRun is one measurement of the journal input (issue 11): push
// --journal, or the bare `journalctl -f -o short-iso | ssh -C loghost
// 'cat >> f'` pipe it is compared with, in the same run.
type JournalRun struct {
	Name    string // "bare journalctl | ssh -C", "push --journal", "push --journal --reliable"
	Bare    bool
	Rate    int // entries written per second; 0: full speed (written beforehand)
	Round   int
	Entries int     // entries in the journal (full speed) or written (paced)
	Seconds Seconds // full speed: from starting the reader to the last line at the log host
	MS      Stats   // paced: from the entry's __REALTIME_TIMESTAMP to its line in the remote file
	// CPU over the measurement: the sshlogfwd process, its (or the bare
	// pipe's) journalctl, and the ssh client.
	CPU, JournalctlCPU, SSHCPU Seconds
	Lost, Dup, OutOfOrder      int
	Err                        string `json:",omitempty"`
}

// OK reports whether every entry arrived exactly once, in order.
func (j JournalRun) OK() bool {
	return j.Err == "" && j.Lost == 0 && j.Dup == 0 && j.OutOfOrder == 0
}

// PerSec is the full-speed rate in entries per second.
func (j JournalRun) PerSec() float64 {
	if j.Seconds <= 0 {
		return 0
	}
	return float64(j.Entries) / float64(j.Seconds)
}

// perM is CPU seconds per million entries.
func (j JournalRun) perM(v Seconds) float64 {
	return float64(v) / float64(max(1, j.Entries)) * 1e6
}

// journalRatio is the median over rounds of a full-speed mode's rate over
// the bare pipe's rate of the same round.
func journalRatio(runs []JournalRun, name string) (float64, bool) {
	bare := map[int]float64{}
	for _, j := range runs {
		if j.Bare && j.Rate == 0 && j.OK() {
			bare[j.Round] = j.PerSec()
		}
	}
	var ratios []float64
	ok := true
	for _, j := range runs {
		if j.Name != name || j.Rate != 0 {
			continue
		}
		ok = ok && j.OK()
		if b := bare[j.Round]; b > 0 && j.PerSec() > 0 {
			ratios = append(ratios, j.PerSec()/b)
		}
	}
	if len(ratios) == 0 {
		return 0, false
	}
	sort.Float64s(ratios)
	return ratios[len(ratios)/2], ok
}

// journalTargets judges the journal runs against issue 11: at least 0.9
// of the bare pipe's throughput, and a p99 latency within 5 ms of it.
func journalTargets(r *Results) []Target {
	var ts []Target
	names := map[string]bool{}
	for _, j := range r.Journal {
		if !j.Bare && !names[j.Name] {
			names[j.Name] = true
			ts = append(ts, journalThroughputTarget(r, j.Name))
		}
	}
	var bare *JournalRun
	for i, j := range r.Journal {
		if j.Bare && j.Rate > 0 {
			bare = &r.Journal[i]
		}
	}
	for _, j := range r.Journal {
		if j.Bare || j.Rate == 0 {
			continue
		}
		t := Target{What: fmt.Sprintf("%s latency p99 within 5 ms of the bare journalctl pipe at %s entries/s", j.Name, thousands(j.Rate))}
		switch {
		case bare == nil || bare.MS.N == 0 || j.MS.N == 0 || j.Err != "":
			t.Status, t.Measured = "not measured", "run failed"
		default:
			t.Measured = fmt.Sprintf("%.2f ms (bare: %.2f ms)", j.MS.P99, bare.MS.P99)
			t.Status = "met"
			if d := j.MS.P99 - bare.MS.P99; d > 5 {
				t.Status = missedBy(d-5, 1, " ms")
			}
		}
		ts = append(ts, t)
	}
	return ts
}

func journalThroughputTarget(r *Results, name string) Target {
	t := Target{What: fmt.Sprintf("%s >= 0.90 x the bare journalctl pipe (full speed)", name)}
	ratio, ok := journalRatio(r.Journal, name)
	t.Measured = fmt.Sprintf("%.2f x", ratio)
	switch {
	case ratio == 0:
		t.Status, t.Measured = "not measured", "run failed"
	case !ok:
		t.Status, t.Measured = "missed", t.Measured+", entries lost or repeated"
	case ratio >= 0.9:
		t.Status = "met"
	default:
		t.Status = missedBy((0.9-ratio)/0.9*100, 0, " %")
	}
	return t
}

// journalMarkdown is the report's section on the journal input.
func journalMarkdown(r *Results) string {
	if len(r.Journal) == 0 {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## 6. From the journal: push --journal (issue 11)\n\n")
	w("Real journal files written by `systemd-journal-remote`, read by the real `journalctl`. ")
	w("*bare* is `journalctl --directory=D --follow --no-tail -o short-iso | ssh -C loghost 'cat >> f'`; push runs `push --journal --journal-dir D --journal-priority debug` (every entry, like the bare pipe). ")
	w("Full speed: the entries are in the journal before the reader starts; the time runs from starting the reader (journalctl or push: both include one ssh connection setup) to the last line in the remote file. ")
	w("Paced: entries written one by one at a fixed rate, each stamped with its own `__REALTIME_TIMESTAMP`; latency runs from that stamp to reading the line in the remote file (inotify, same machine), so it includes journal-remote writing the entry and journalctl noticing it, for both. ")
	w("CPU is per million entries, from /proc: the sshlogfwd process, the journalctl it runs (or the bare pipe's), and the ssh client.\n\n")
	w("| mode | rate | entries | entries/s | ratio to bare (same round) | p50 | p99 | sshlogfwd CPU s / M | journalctl CPU s / M | ssh CPU s / M | exact |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, j := range r.Journal {
		rate, perSec, ratio, p50, p99 := "full speed", "-", "-", "-", "-"
		if j.Rate > 0 {
			rate = thousands(j.Rate) + "/s"
			p50, p99 = fmt.Sprintf("%.2f ms", j.MS.P50), fmt.Sprintf("%.2f ms", j.MS.P99)
		} else {
			perSec = thousands(int(math.Round(j.PerSec())))
			if !j.Bare {
				if bare := journalBare(r.Journal, j.Round); bare > 0 {
					ratio = fmt.Sprintf("%.2f", j.PerSec()/bare)
				}
			}
		}
		cpu := "-"
		if !j.Bare {
			cpu = fmt.Sprintf("%.2f", j.perM(j.CPU))
		}
		exact := "yes"
		if !j.OK() {
			exact = fmt.Sprintf("**lost %d, dup %d, disorder %d%s**", j.Lost, j.Dup, j.OutOfOrder, errNote(j.Err))
		}
		// The bare pipe's name has a "|" of its own.
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s |\n", strings.ReplaceAll(j.Name, "|", `\|`), rate, thousands(j.Entries), perSec, ratio, p50, p99,
			cpu, j.perM(j.JournalctlCPU), j.perM(j.SSHCPU), exact)
	}
	w("\n")
	return b.String()
}

// journalBare is the bare pipe's full-speed rate in round.
func journalBare(runs []JournalRun, round int) float64 {
	for _, j := range runs {
		if j.Bare && j.Rate == 0 && j.Round == round {
			return j.PerSec()
		}
	}
	return 0
}
