package bench

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var flagPipesBins = flag.String("pipes-bins", "", "BenchmarkPipes: sshlogfwd binaries to run side by side, comma-separated, alternating within each round")

// pipeEvents are what BenchmarkPipes counts with perf stat for each
// process: wake-ups (context switches) and the system calls that move
// bytes or wait for them.
var pipeEvents = []string{"task-clock", "context-switches", "syscalls:sys_enter_read", "syscalls:sys_enter_write",
	"syscalls:sys_enter_splice", "syscalls:sys_enter_ppoll", "syscalls:sys_enter_poll", "syscalls:sys_enter_epoll_pwait"}

// BenchmarkPipes runs the throughput modes without -C, where the pipes
// between the processes decide the rate, for each binary of -pipes-bins in
// turn, -rounds times, and counts with perf stat what each process did
// during the transfer: the sshlogfwd under test, its ssh and the far side
// (the sshd session processes and cat, tail or serve). It is not part of
// the suite (scripts/bench.sh); it compares builds, e.g.
//
//	go test ./bench -run '^$' -bench '^BenchmarkPipes$' -benchtime 1x -args -pipes-bins /tmp/old,/tmp/new -rounds 5 -dry-run
func BenchmarkPipes(b *testing.B) {
	if *flagPipesBins == "" {
		b.Skip("no -pipes-bins")
	}
	if _, err := exec.LookPath("perf"); err != nil {
		b.Skip("no perf")
	}
	bins := strings.Split(*flagPipesBins, ",")
	l := newLab(b)
	c := l.corpus(*flagLines, *flagLineSize)
	defer os.Remove(c.path)
	modes := []Mode{
		{Name: "bare ssh", Dir: "push", Bare: true}, {Name: "push", Dir: "push"},
		{Name: "bare ssh", Dir: "pull", Bare: true}, {Name: "pull --reliable", Dir: "pull"}, {Name: "pull --compat", Dir: "pull"},
	}
	var counts map[string]float64
	l.watch = func(p *proc) func() {
		groups := map[string][]int{"sshlogfwd": {p.pid()}}
		if s := p.sshChild(); s > 0 {
			groups["ssh"] = []int{s}
		}
		snap := ourSnapshot()
		for _, pid := range tree(snap, l.sshd.PID()) {
			if pid != l.sshd.PID() {
				groups["far"] = append(groups["far"], pid)
			}
		}
		var stops []func() map[string]float64
		names := []string{}
		for name, pids := range groups {
			names = append(names, name)
			stops = append(stops, perfStat(b, pids))
		}
		time.Sleep(100 * time.Millisecond) // perf attaches
		return func() {
			counts = map[string]float64{}
			for i, stop := range stops {
				for ev, v := range stop() {
					counts[names[i]+" "+ev] = v
				}
			}
		}
	}
	for r := 0; r < *flagRounds; r++ {
		for _, bin := range bins {
			l.bin = bin
			_, load := loadAvg()
			bare := map[string]Run{}
			for _, m := range modes {
				counts = nil
				var run Run
				if m.Bare {
					run, counts = l.barePerf(c, m.Dir)
				} else {
					run = l.throughputRun(c, m)
				}
				line := fmt.Sprintf("round %d %s %-16s %s: %s", r+1, filepath.Base(bin), m.Name, m.Dir, describeRun(run))
				if m.Bare {
					bare[m.Dir] = run
				} else if br := bare[m.Dir]; br.Seconds > 0 && run.Seconds > 0 {
					line += fmt.Sprintf(" ratio %.2f", float64(br.Seconds)/float64(run.Seconds))
				}
				b.Logf("%s [load %s]", line, load)
				for _, g := range []string{"sshlogfwd", "ssh", "far"} {
					var parts []string
					for _, ev := range pipeEvents {
						if v, ok := counts[g+" "+ev]; ok {
							if ev == "task-clock" {
								parts = append(parts, fmt.Sprintf("cpu %.0f ms", v))
							} else {
								parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimPrefix(ev, "syscalls:sys_enter_"), v))
							}
						}
					}
					if len(parts) > 0 {
						b.Logf("    %-9s %s", g, strings.Join(parts, ", "))
					}
				}
			}
		}
	}
}

// perfStat attaches perf stat to pids; the function it returns stops it
// and gives each event's count over all of them.
func perfStat(tb testing.TB, pids []int) func() map[string]float64 {
	var ps []string
	for _, p := range pids {
		ps = append(ps, strconv.Itoa(p))
	}
	var out bytes.Buffer
	cmd := exec.Command("perf", "stat", "-x", ",", "-e", strings.Join(pipeEvents, ","), "-p", strings.Join(ps, ","))
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return func() map[string]float64 {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		m := map[string]float64{}
		for _, line := range strings.Split(out.String(), "\n") {
			f := strings.Split(line, ",")
			if len(f) < 3 {
				continue
			}
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				m[f[2]] = v
			}
		}
		return m
	}
}

// barePerf is the bare pipe of dir without -C, its ssh under perf stat
// (connection setup included: a few hundred system calls).
func (l *lab) barePerf(c *corpus, dir string) (Run, map[string]float64) {
	out := l.path("bare-perf.out")
	defer os.Remove(out)
	remote, local := "cat >> "+shellQuote(out), c.path
	if dir == "pull" {
		remote = "cat " + shellQuote(c.path)
	}
	args := append([]string{"stat", "-x", ",", "-e", strings.Join(pipeEvents, ","), "--", "ssh"}, l.sshArgs(false, nil, remote)...)
	cmd := exec.Command("perf", args...)
	var stat bytes.Buffer
	cmd.Stderr = &stat
	if dir == "pull" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			l.tb.Fatal(err)
		}
		defer f.Close()
		cmd.Stdout = f
	} else {
		in, err := os.Open(local)
		if err != nil {
			l.tb.Fatal(err)
		}
		defer in.Close()
		cmd.Stdin = in
	}
	run := l.bareRun(c, cmd, out)
	m := map[string]float64{}
	for _, line := range strings.Split(stat.String(), "\n") {
		if f := strings.Split(line, ","); len(f) >= 3 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				m["ssh "+f[2]] = v
			}
		}
	}
	return run, m
}
