package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// stall is how long a throughput run may go without progress before it
// counts as failed.
const stall = 30 * time.Second

// corpus is the input of the throughput runs: n numbered lines, in memory
// and in a file.
type corpus struct {
	n, size int
	data    []byte
	path    string
}

func (l *lab) corpus(n, size int) *corpus {
	l.tb.Helper()
	c := &corpus{n: n, size: size, data: streamLines(size).Range(0, n), path: l.path("input.log")}
	if err := os.WriteFile(c.path, c.data, 0o644); err != nil {
		l.tb.Fatal(err)
	}
	return c
}

// throughputModes lists what one round measures, bare references first,
// in the directions dirs names ("push", "pull").
func (l *lab) throughputModes(dirs map[string]bool) []Mode {
	var modes []Mode
	for _, compress := range []bool{true, false} {
		if dirs["push"] {
			modes = append(modes,
				Mode{Name: "bare ssh", Dir: "push", Compress: compress, Bare: true},
				Mode{Name: "push", Dir: "push", Compress: compress, Target: targetPush})
		}
		if dirs["push"] && l.has.PushReliable {
			modes = append(modes, Mode{Name: "push --reliable", Dir: "push", Compress: compress, Target: targetPushReliable})
		}
		if dirs["pull"] && l.has.Pull {
			modes = append(modes,
				Mode{Name: "bare ssh", Dir: "pull", Compress: compress, Bare: true},
				Mode{Name: "pull --reliable", Dir: "pull", Compress: compress, Target: targetPull})
			if l.has.PullCompat {
				modes = append(modes, Mode{Name: "pull --compat", Dir: "pull", Compress: compress, Target: targetPull})
			}
		}
	}
	return modes
}

// throughput runs every mode once per round, in the same order each round,
// so that each ratio compares runs a few seconds apart.
// Before each round the gate waits until nothing else uses the CPU; what
// else ran during each round is recorded (Quiet).
func (l *lab) throughput(c *corpus, rounds int, dirs map[string]bool, gate quietGate) ([]Mode, []Quiet) {
	modes := l.throughputModes(dirs)
	var quiet []Quiet
	for r := 0; r < rounds; r++ {
		if err := gate.settle(); err != nil {
			l.tb.Fatal(err)
		}
		quiet = append(quiet, gate.around(fmt.Sprintf("throughput round %d", r+1), func() {
			for i := range modes {
				m := &modes[i]
				run := l.throughputRun(c, *m)
				l.tb.Logf("round %d: %-16s %-4s %-5v %s", r+1, m.Name, m.Dir, m.Compress, describeRun(run))
				m.Runs = append(m.Runs, run)
			}
		}))
	}
	return modes, quiet
}

func describeRun(r Run) string {
	s := fmt.Sprintf("%.2fs %.0f lines/s %.1f MB/s cpu %.2fs ssh %.2fs far %.2fs rss %.1f MiB",
		float64(r.Seconds), r.LinesPerSec(), r.MBPerSec(), float64(r.CPU), float64(r.SSHCPU), float64(r.FarCPU), float64(r.PeakRSS)/(1<<20))
	if !r.OK() {
		s += fmt.Sprintf(" NOT EXACT: lost %d dup %d disorder %d torn %d other %d %s", r.Lost, r.Dup, r.OutOfOrd, r.Torn, r.Other, r.Err)
	}
	return s
}

func (l *lab) throughputRun(c *corpus, m Mode) Run {
	switch {
	case m.Bare && m.Dir == "push":
		return l.bareToRemote(c, m.Compress)
	case m.Bare:
		return l.bareFromRemote(c, m.Compress)
	case m.Name == "push":
		return l.pushRun(c, m.Compress, false)
	case m.Name == "push --reliable":
		return l.pushRun(c, m.Compress, true)
	case m.Name == "pull --reliable":
		return l.pullReliableRun(c, m.Compress)
	case m.Name == "pull --compat":
		return l.pullCompatRun(c, m.Compress)
	}
	return Run{Err: "unknown mode " + m.Name}
}

// finish fills in the rate and checks what arrived.
func finish(run *Run, c *corpus, g growth, got []byte, err error) {
	run.Lines = c.n
	run.Bytes = int64(len(c.data))
	if err != nil {
		run.Err = err.Error()
	}
	if !g.First.IsZero() && !g.Last.IsZero() {
		run.Seconds = Seconds(g.Last.Sub(g.First).Seconds())
	}
	chk := checkNumbered(got, c.data, c.n, c.size)
	run.Lost, run.Dup, run.OutOfOrd, run.Torn, run.Other = chk.Lost, chk.Duplicated, chk.OutOfOrder, chk.Torn, len(chk.Other)
}

// bareToRemote is the limit: ssh [-C] loghost 'cat >> f' < file.
func (l *lab) bareToRemote(c *corpus, compress bool) Run {
	remote := l.path("bare.out")
	defer os.Remove(remote)
	in, err := os.Open(c.path)
	if err != nil {
		l.tb.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command("ssh", l.sshArgs(compress, nil, "cat >> "+shellQuote(remote))...)
	cmd.Stdin = in
	return l.bareRun(c, cmd, remote)
}

// bareFromRemote is the limit of pull: ssh [-C] loghost 'cat file' > out.
func (l *lab) bareFromRemote(c *corpus, compress bool) Run {
	out := l.path("bare-pull.out")
	defer os.Remove(out)
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		l.tb.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("ssh", l.sshArgs(compress, nil, "cat "+shellQuote(c.path))...)
	cmd.Stdout = f
	return l.bareRun(c, cmd, out)
}

// bareRun runs a bare ssh that copies the corpus into out and measures it.
func (l *lab) bareRun(c *corpus, cmd *exec.Cmd, out string) Run {
	var run Run
	if err := cmd.Start(); err != nil {
		l.tb.Fatal(err)
	}
	// The far side's CPU from the first byte on: connection setup costs
	// sshd about 0.2 s, which push and pull paid before their runs began.
	first, err := watchGrowth(out, 0, 1, stall)
	far := l.farCPU()
	g, err2 := watchGrowth(out, 0, int64(len(c.data)), stall)
	g.First = first.First
	err = errors.Join(err, err2)
	if werr := cmd.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("ssh: %w", werr)
	}
	// The session ends with ssh; once sshd has reaped it, its time is in
	// the listener's.
	time.Sleep(100 * time.Millisecond)
	run.FarCPU = far.since()
	if cmd.ProcessState != nil {
		run.SSHCPU = Seconds((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
	}
	got, _ := os.ReadFile(out)
	finish(&run, c, g, got, err)
	return run
}

// measure samples p's CPU and the far side's around transfer, which
// returns how out grew, and checks what arrived in out after offset base.
func (l *lab) measure(c *corpus, p *proc, out string, base int64, transfer func() (growth, error)) Run {
	var run Run
	cpu0, ssh0 := p.cpu()
	far := l.farCPU()
	var watched func()
	if l.watch != nil {
		watched = l.watch(p)
	}
	g, err := transfer()
	if watched != nil {
		watched()
	}
	cpu1, ssh1 := p.cpu()
	run.CPU, run.SSHCPU, run.FarCPU = Seconds((cpu1 - cpu0).Seconds()), Seconds((ssh1 - ssh0).Seconds()), far.since()
	run.PeakRSS = p.hwm()
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, p.tail())
	}
	got, _ := os.ReadFile(out)
	if int64(len(got)) >= base {
		got = got[base:]
	}
	finish(&run, c, g, got, err)
	return run
}

// pushArgs are the flags of a push from fifo to remote.
func (l *lab) pushArgs(fifo, remote string, compress, reliable bool, extra ...string) []string {
	args := []string{"push", "--fifo", fifo, "--spool", l.path("spool"), "--mark", "0", "--stats", "0"}
	if !compress {
		args = append(args, "--no-compress")
	}
	if reliable {
		args = append(args, "--reliable")
		args = append(args, l.reliableRemote(remote)...)
	}
	args = append(args, extra...)
	return append(args, l.sshd.Alias+":"+remote)
}

// startPush starts a push and waits until its remote command runs.
func (l *lab) startPush(fifo, remote string, compress, reliable bool, extra ...string) (*proc, error) {
	p := l.start(l.pushArgs(fifo, remote, compress, reliable, extra...)...)
	if err := waitFile(remote, 30*time.Second, p); err != nil {
		return p, err
	}
	// Let the session settle (the first data must not race the session
	// start in any mode).
	time.Sleep(200 * time.Millisecond)
	return p, nil
}

// startPushFIFO starts push from fifo into remote (startPush) and, once
// it has started, opens fifo for writing; a FIFO that does not open in
// 10 s ends the benchmark (after stopping push). The caller stops p,
// also after an error, and closes the FIFO.
func (l *lab) startPushFIFO(fifo, remote string, compress, reliable bool, extra ...string) (*proc, *os.File, error) {
	l.tb.Helper()
	p, err := l.startPush(fifo, remote, compress, reliable, extra...)
	if err != nil {
		return p, nil, err
	}
	f, err := openFIFO(fifo, 10*time.Second)
	if err != nil {
		p.stop(15 * time.Second)
		l.tb.Fatal(err)
	}
	return p, f, nil
}

// pushRun: a writer fills the FIFO as fast as it can with blocking writes
// of whole lines, 64 KiB at a time; push forwards it.
func (l *lab) pushRun(c *corpus, compress, reliable bool) Run {
	var run Run
	fifo, remote := l.path("push.fifo"), l.path("push.out")
	defer os.Remove(remote)
	p, w, err := l.startPushFIFO(fifo, remote, compress, reliable)
	if err != nil {
		finish(&run, c, growth{}, nil, err)
		return run
	}
	defer p.stop(15 * time.Second)
	return l.measure(c, p, remote, 0, func() (growth, error) {
		werr := make(chan error, 1)
		start := time.Now()
		go func() {
			defer w.Close()
			chunk := (64 << 10) / c.size * c.size
			for off := 0; off < len(c.data); off += chunk {
				if _, err := w.Write(c.data[off:min(off+chunk, len(c.data))]); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		g, err := watchGrowth(remote, 0, int64(len(c.data)), stall)
		// From the first write: a far side that buffers (reliable mode
		// writes what it has acknowledged) must not shorten its own time.
		g.First = start
		if e := <-werr; e != nil && err == nil {
			err = fmt.Errorf("fifo writer: %w", e)
		}
		return g, err
	})
}

// pullReliableRun pulls the whole corpus file from its start through serve.
func (l *lab) pullReliableRun(c *corpus, compress bool) Run {
	out := l.path("pull.out")
	defer os.Remove(out)
	args := []string{"pull", "--output", out, "--from", "start", "--remote-sshlogfwd", l.bin}
	if !compress {
		args = append(args, "--no-compress")
	}
	p := l.start(append(args, l.sshd.Alias+":"+c.path)...)
	defer p.stop(15 * time.Second)
	first, err := watchGrowth(out, 0, 1, stall)
	return l.measure(c, p, out, 0, func() (growth, error) {
		g, err2 := watchGrowth(out, 0, int64(len(c.data)), stall)
		g.First = first.First
		return g, errors.Join(err, err2)
	})
}

// pullCompatRun follows a file with tail -F while a writer appends the
// corpus to it as fast as it can. tail starts at the end, so probe lines are
// appended until one arrives; the corpus comes after them.
func (l *lab) pullCompatRun(c *corpus, compress bool) Run {
	var run Run
	src, out := l.path("compat-src.log"), l.path("compat-pull.out")
	defer os.Remove(src)
	defer os.Remove(out)
	sf, err := os.OpenFile(src, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		l.tb.Fatal(err)
	}
	defer sf.Close()
	args := []string{"pull", "--compat", "--output", out}
	if !compress {
		args = append(args, "--no-compress")
	}
	p := l.start(append(args, l.sshd.Alias+":"+src)...)
	defer p.stop(15 * time.Second)
	probe := []byte("probe: is tail -F running yet?\n")
	var base int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) || p.exited() {
			finish(&run, c, growth{}, nil, fmt.Errorf("no probe line arrived through tail -F\n%s", p.tail()))
			return run
		}
		sf.Write(probe)
		time.Sleep(50 * time.Millisecond)
	}
	// Wait until the probes in flight have arrived.
	for stable := 0; stable < 10; {
		fi, _ := os.Stat(out)
		if fi.Size() == base {
			stable++
		} else {
			stable, base = 0, fi.Size()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return l.measure(c, p, out, base, func() (growth, error) {
		start := time.Now()
		go func() {
			for off := 0; off < len(c.data); off += 1 << 20 {
				sf.Write(c.data[off:min(off+1<<20, len(c.data))])
			}
		}()
		g, err := watchGrowth(out, base, base+int64(len(c.data)), stall)
		g.First = start
		return g, err
	})
}
