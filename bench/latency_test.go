package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// arrivals collects stamped lines as they arrive in the remote file.
type arrivals struct {
	mu   sync.Mutex
	seen []int   // times line i arrived
	at   []int64 // arrival of line i (first time), mono ns
	lat  []float64
	bad  int
}

func newArrivals(n int) *arrivals {
	return &arrivals{seen: make([]int, n), at: make([]int64, n)}
}

func (a *arrivals) add(line []byte, at int64) {
	i, t, ok := parseStamped(line)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok || i < 0 || i >= len(a.seen) {
		a.bad++
		return
	}
	a.seen[i]++
	if a.seen[i] == 1 {
		a.at[i] = at
		a.lat = append(a.lat, float64(at-t)/1e6)
	}
}

// count returns lines arrived (each once), lost and duplicated among the
// first n.
func (a *arrivals) count(n int) (got, lost, dup int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.seen[:n] {
		switch {
		case s == 0:
			lost++
		default:
			got++
			dup += s - 1
		}
	}
	return got, lost, dup
}

// waitAll waits until the first n lines arrived or nothing new arrived for
// quiet.
func (a *arrivals) waitAll(n int, quiet time.Duration) {
	last, lastChange := -1, time.Now()
	for {
		got, _, _ := a.count(n)
		if got == n {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		}
		if time.Since(lastChange) > quiet {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// latencyModes are the ways lines reach the log host, compared at each
// rate: the bare pipe as the reference, then push.
func (l *lab) latencyModes() []string {
	modes := []string{"bare ssh -C", "push"}
	if l.has.PushReliable {
		modes = append(modes, "push --reliable")
	}
	return modes
}

// latency writes stamped lines, one write each, at rate for dur into the
// input of mode and measures when each is in the remote file.
func (l *lab) latency(mode string, rate int, dur time.Duration, size int) Latency {
	res := Latency{Name: mode, Rate: rate}
	if mode != "bare ssh -C" {
		res.Target = targetP99Over
	}
	n := int(float64(rate) * dur.Seconds())
	remote := l.path("latency.out")
	defer os.Remove(remote)

	var w io.Writer
	var p *proc
	switch mode {
	case "bare ssh -C":
		cmd := exec.Command("ssh", l.sshArgs(true, nil, "cat >> "+shellQuote(remote))...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			l.tb.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			l.tb.Fatal(err)
		}
		defer func() {
			stdin.Close()
			cmd.Wait()
		}()
		if err := waitFile(remote, 30*time.Second, nil); err != nil {
			res.Err = err.Error()
			return res
		}
		time.Sleep(200 * time.Millisecond)
		w = stdin
	default:
		fifo := l.path("latency.fifo")
		var f *os.File
		var err error
		p, f, err = l.startPushFIFO(fifo, remote, true, mode == "push --reliable")
		defer p.stop(15 * time.Second)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		defer f.Close()
		w = f
	}

	arr := newArrivals(n)
	watch, err := watchLines(remote, arr.add)
	if err != nil {
		l.tb.Fatal(err)
	}
	var cpu0 time.Duration
	var watched func()
	if p != nil {
		cpu0, _ = p.cpu()
		if l.watch != nil {
			watched = l.watch(p)
		}
	}
	written, err := pace(context.Background(), rate, n, func(i int) error {
		_, err := w.Write(stamped(i, mono(), size))
		return err
	})
	if watched != nil {
		watched()
	}
	if err != nil {
		res.Err = fmt.Sprintf("writer: %v", err)
	}
	arr.waitAll(written, 5*time.Second)
	if werr := watch.Stop(); werr != nil && res.Err == "" {
		res.Err = werr.Error()
	}
	if p != nil {
		cpu1, _ := p.cpu()
		res.CPU = Seconds((cpu1 - cpu0).Seconds())
		res.PeakRSS = p.hwm()
	}
	res.Written = written
	_, res.Lost, res.Dup = arr.count(written)
	arr.mu.Lock()
	res.MS = Summarize(arr.lat, "ms", false)
	arr.mu.Unlock()
	return res
}

// setupTime is the reference for recovery: from starting a bare
// `ssh -C loghost 'cat >> f'` with a line on its input to that line in the
// remote file, in ms.
func (l *lab) setupTime(times int) Stats {
	line := l.path("one-line.log")
	if err := os.WriteFile(line, []byte("one line\n"), 0o644); err != nil {
		l.tb.Fatal(err)
	}
	var ms []float64
	for i := 0; i < times; i++ {
		remote := l.path("setup.out")
		in, _ := os.Open(line)
		cmd := exec.Command("ssh", l.sshArgs(true, nil, "cat >> "+shellQuote(remote))...)
		cmd.Stdin = in
		start := time.Now()
		if err := cmd.Start(); err != nil {
			l.tb.Fatal(err)
		}
		g, err := watchGrowth(remote, 0, 1, 10*time.Second)
		cmd.Wait()
		in.Close()
		os.Remove(remote)
		if err == nil {
			ms = append(ms, float64(g.First.Sub(start).Microseconds())/1000)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return Summarize(ms, "ms", true)
}

// recovery kills push's ssh kills times while lines are written at rate,
// and measures from each kill to the first line written after it arriving
// in the remote file: that line can only come through the new connection.
func (l *lab) recovery(rate, kills int, size int) *Recovery {
	res := &Recovery{Rate: rate, Kills: kills, BackoffMin: 0.25}
	const gap = 3 * time.Second
	dur := time.Duration(kills+1) * gap
	n := int(float64(rate) * dur.Seconds())
	fifo, remote := l.path("recovery.fifo"), l.path("recovery.out")
	defer os.Remove(remote)
	p, f, err := l.startPushFIFO(fifo, remote, true, false, "--backoff-max", "1s")
	defer p.stop(15 * time.Second)
	if err != nil {
		l.tb.Logf("recovery: %v", err)
		return res
	}
	defer f.Close()
	arr := newArrivals(n)
	watch, err := watchLines(remote, arr.add)
	if err != nil {
		l.tb.Fatal(err)
	}
	stop := make(chan struct{})
	var killAt []int64
	go func() {
		for k := 0; k < kills; k++ {
			time.Sleep(gap)
			pid := p.sshChild()
			if pid == 0 {
				continue
			}
			at := mono()
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killAt = append(killAt, at)
			}
		}
		close(stop)
	}()
	var stamps []int64
	written, _ := pace(context.Background(), rate, n, func(i int) error {
		t := mono()
		stamps = append(stamps, t)
		_, err := f.Write(stamped(i, t, size))
		return err
	})
	<-stop
	arr.waitAll(written, 10*time.Second)
	watch.Stop()
	_, res.Lost, _ = arr.count(written)

	var ms []float64
	arr.mu.Lock()
	for _, k := range killAt {
		first := int64(-1)
		for i := 0; i < written; i++ {
			if stamps[i] > k && arr.seen[i] > 0 && (first < 0 || arr.at[i] < first) {
				first = arr.at[i]
			}
		}
		if first > 0 {
			ms = append(ms, float64(first-k)/1e6)
		}
	}
	arr.mu.Unlock()
	res.Kills = len(killAt)
	res.FirstByte = Summarize(ms, "ms", true)
	return res
}
