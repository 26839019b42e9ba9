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

var (
	flagPipesBins     = flag.String("pipes-bins", "", "BenchmarkPipes: sshlogfwd binaries to run side by side, comma-separated, alternating within each round")
	flagPipesCompress = flag.String("pipes-compress", "no", "BenchmarkPipes: run the modes without -C (no), with -C (yes) or both (both)")
	flagPipesModes    = flag.String("pipes-modes", "", "BenchmarkPipes: only the modes whose names contain one of these comma-separated words (bare ssh always runs); empty: all")
)

// pipeEvents are what BenchmarkPipes counts with perf stat for each
// process: wake-ups (context switches) and the system calls that move
// bytes or wait for them.
var pipeEvents = []string{"task-clock", "context-switches", "syscalls:sys_enter_read", "syscalls:sys_enter_write",
	"syscalls:sys_enter_splice", "syscalls:sys_enter_ppoll", "syscalls:sys_enter_poll", "syscalls:sys_enter_epoll_pwait"}

// BenchmarkPipes runs the throughput modes, without -C (where the pipes
// between the processes decide the rate) or with it (-pipes-compress), for
// each binary of -pipes-bins in turn, -rounds times, and counts with perf
// stat what each process did during the transfer: the sshlogfwd under test,
// its ssh and the far side (the sshd session processes and cat, tail,
// serve or receive). Besides the counts it gives each process's wake-ups
// (context switches) per MB moved. It is not part of the suite
// (scripts/bench.sh); it compares builds, e.g.
//
//	go test ./bench -run '^$' -bench '^BenchmarkPipes$' -benchtime 1x -args -pipes-bins /tmp/old,/tmp/new -rounds 5 -dry-run
//
// -profile DIR adds a CPU profile of every sshlogfwd run (the whole
// process, connection setup included).
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
	modes := pipesModes(*flagPipesCompress, *flagPipesModes)
	if len(modes) == 0 {
		b.Fatalf("-pipes-compress %q -pipes-modes %q: no modes", *flagPipesCompress, *flagPipesModes)
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
					run, counts = l.barePerf(c, m.Dir, m.Compress)
				} else {
					run = l.throughputRun(c, m)
				}
				line := fmt.Sprintf("round %d %s %-16s %s %s: %s", r+1, filepath.Base(bin), m.Name, m.Dir, compressName(m.Compress), describeRun(run))
				key := m.Dir + " " + compressName(m.Compress)
				if m.Bare {
					bare[key] = run
				} else if br := bare[key]; br.Seconds > 0 && run.Seconds > 0 {
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
					if v, ok := counts[g+" context-switches"]; ok && run.Bytes > 0 {
						parts = append(parts, fmt.Sprintf("wake-ups/MB %.1f", v/(float64(run.Bytes)/1e6)))
					}
					if len(parts) > 0 {
						b.Logf("    %-9s %s", g, strings.Join(parts, ", "))
					}
				}
			}
		}
	}
}

// pipesModes are BenchmarkPipes' modes: each direction's bare pipe and
// the sshlogfwd modes whose names contain one of the comma-separated
// words of only (all when empty), without -C, with it, or both.
func pipesModes(compress, only string) []Mode {
	var cs []bool
	switch compress {
	case "no":
		cs = []bool{false}
	case "yes":
		cs = []bool{true}
	case "both":
		cs = []bool{false, true}
	}
	want := func(name string) bool {
		if only == "" {
			return true
		}
		for _, w := range strings.Split(only, ",") {
			if w != "" && strings.Contains(name, w) {
				return true
			}
		}
		return false
	}
	var modes []Mode
	for _, c := range cs {
		for _, dir := range []struct {
			name  string
			modes []string
		}{{"push", []string{"push", "push --reliable"}}, {"pull", []string{"pull --reliable", "pull --compat"}}} {
			var ours []Mode
			for _, name := range dir.modes {
				if want(name) {
					ours = append(ours, Mode{Name: name, Dir: dir.name, Compress: c})
				}
			}
			if len(ours) > 0 {
				modes = append(modes, Mode{Name: "bare ssh", Dir: dir.name, Compress: c, Bare: true})
				modes = append(modes, ours...)
			}
		}
	}
	return modes
}

// compressName is how a run's compression is written.
func compressName(c bool) string {
	if c {
		return "ssh -C"
	}
	return "no -C"
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

// barePerf is the bare pipe of dir, with -C or without, its ssh under
// perf stat (connection setup included: a few hundred system calls).
func (l *lab) barePerf(c *corpus, dir string, compress bool) (Run, map[string]float64) {
	out := l.path("bare-perf.out")
	defer os.Remove(out)
	remote, local := "cat >> "+shellQuote(out), c.path
	if dir == "pull" {
		remote = "cat " + shellQuote(c.path)
	}
	args := append([]string{"stat", "-x", ",", "-e", strings.Join(pipeEvents, ","), "--", "ssh"}, l.sshArgs(compress, nil, remote)...)
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

var flagTraceOut = flag.String("trace-out", "", "BenchmarkLatencyTrace: the perf trace output to write")

// BenchmarkLatencyTrace runs one latency run of push (ssh -C, one line per
// write at 1,000 lines/s for -latency-duration) with perf trace attached
// to the writer (this process), push and push's ssh, and writes the trace
// to -trace-out: every system call with its start and duration, from
// which the time between the writer's write into the FIFO and ssh's read
// of the same bytes can be taken apart. Not part of the suite, e.g.
//
//	go test ./bench -run '^$' -bench '^BenchmarkLatencyTrace$' -benchtime 1x -args -trace-out /tmp/push.trace -latency-duration 3s
func BenchmarkLatencyTrace(b *testing.B) {
	if *flagTraceOut == "" {
		b.Skip("no -trace-out")
	}
	if _, err := exec.LookPath("perf"); err != nil {
		b.Skip("no perf")
	}
	l := newLab(b)
	l.watch = func(p *proc) func() {
		pids := []string{strconv.Itoa(os.Getpid()), strconv.Itoa(p.pid())}
		if s := p.sshChild(); s > 0 {
			pids = append(pids, strconv.Itoa(s))
		}
		cmd := exec.Command("perf", "trace", "-o", *flagTraceOut, "-p", strings.Join(pids, ","))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // perf attaches
		return func() {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		}
	}
	res := l.latency("push", 1000, *flagLatencyDur, *flagLineSize)
	b.Logf("push at 1,000 lines/s under perf trace: %+v", res.MS)
}
