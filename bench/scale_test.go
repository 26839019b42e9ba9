package bench

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// scale runs procs pushes (one key, each its own FIFO and remote file) into
// the one sshd at rate lines/s in total for dur, one write per line, and
// measures what the log host's side (sshd and the cat processes) spends.
func (l *lab) scale(procs, rate int, dur time.Duration, size int) Scale {
	res := Scale{Procs: procs, Rate: rate, Seconds: Seconds(dur.Seconds())}
	perProc := float64(rate) / float64(procs)
	nPer := int(perProc * dur.Seconds())
	res.Lines = nPer * procs
	type pusher struct {
		p            *proc
		fifo, remote string
		f            *os.File
		next         int
	}
	ps := make([]*pusher, procs)
	t0 := time.Now()
	for i := range ps {
		o := &pusher{fifo: l.path("scale-%d.fifo", i), remote: l.path("scale-%d.out", i)}
		// Spread the connections a little, as hosts booting together would.
		o.p = l.start(l.pushArgs(o.fifo, o.remote, true, false, "--backoff-max", "2s")...)
		ps[i] = o
		time.Sleep(10 * time.Millisecond)
	}
	defer func() {
		var wg sync.WaitGroup
		for _, o := range ps {
			if o.f != nil {
				o.f.Close()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				o.p.stop(30 * time.Second)
				os.Remove(o.remote)
			}()
		}
		wg.Wait()
	}()
	for _, o := range ps {
		if err := waitFile(o.remote, 3*time.Minute, o.p); err != nil {
			res.Err = err.Error()
			return res
		}
	}
	res.Connect = Seconds(time.Since(t0).Seconds())
	for _, o := range ps {
		f, err := openFIFO(o.fifo, 10*time.Second)
		if err != nil {
			l.tb.Fatal(err)
		}
		o.f = f
	}
	time.Sleep(time.Second)

	var pushPIDs []int
	for _, o := range ps {
		pushPIDs = append(pushPIDs, o.p.pid())
	}
	before := ourSnapshot()
	host0 := treeCPU(before, l.sshd.PID())
	start := time.Now()
	lines := make([][]byte, nPer)
	for i := range lines {
		lines[i] = streamLines(size).Line(i)
	}
	for done := false; !done; {
		due := min(nPer, int(time.Since(start).Seconds()*perProc)+1)
		done = true
		for _, o := range ps {
			for ; o.next < due; o.next++ {
				if _, err := o.f.Write(lines[o.next]); err != nil {
					res.Err = fmt.Sprintf("write %s: %v", o.fifo, err)
					return res
				}
			}
			if o.next < nPer {
				done = false
			}
		}
		time.Sleep(time.Millisecond)
	}
	// Wait until every remote file is complete (or stuck).
	want := int64(nPer * size)
	lastChange, lastTotal := time.Now(), int64(-1)
	for {
		var total int64
		complete := true
		for _, o := range ps {
			s := fileSize(o.remote)
			total += s
			if s < want {
				complete = false
			}
		}
		if complete {
			break
		}
		if total != lastTotal {
			lastTotal, lastChange = total, time.Now()
		}
		if time.Since(lastChange) > 30*time.Second {
			res.Err = fmt.Sprintf("delivery stuck at %d of %d bytes", total, want*int64(procs))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Window = Seconds(time.Since(start).Seconds())
	end := ourSnapshot()
	host := tree(end, l.sshd.PID())
	client := tree(end, pushPIDs...)
	res.LogHostProc = len(host)
	res.LogHostCPU = Seconds((treeCPU(end, l.sshd.PID()) - host0).Seconds())
	res.ClientCPU = Seconds(cpuDelta(before, end, client).Seconds())
	res.PushCPU = Seconds(cpuDelta(before, end, pushPIDs).Seconds())
	wantData := streamLines(size).Range(0, nPer)
	for _, o := range ps {
		res.MaxPushRSS = max(res.MaxPushRSS, o.p.hwm())
		got, _ := os.ReadFile(o.remote)
		chk := checkNumbered(got, wantData, nPer, size)
		res.Delivered += chk.Received - chk.Duplicated
		res.Lost += chk.Lost
		res.Dup += chk.Duplicated
		res.Disorder += chk.OutOfOrder + chk.Torn + len(chk.Other)
	}
	return res
}
