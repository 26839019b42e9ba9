package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procInfo is one process's CPU from /proc/PID/stat.
type procInfo struct {
	ppid  int
	start uint64
	cpu   uint64 // utime+stime, clock ticks
	ccpu  uint64 // cutime+cstime: children it has reaped
}

// procSnapshot reads every process's parent and CPU time at once.
func procSnapshot() map[int]procInfo {
	ents, _ := os.ReadDir("/proc")
	m := make(map[int]procInfo, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 20 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		cut, _ := strconv.ParseUint(f[13], 10, 64)
		cst, _ := strconv.ParseUint(f[14], 10, 64)
		start, _ := strconv.ParseUint(f[19], 10, 64)
		m[pid] = procInfo{ppid: ppid, start: start, cpu: ut + st, ccpu: cut + cst}
	}
	return m
}

// tree returns root and every process below it in snap.
func tree(snap map[int]procInfo, roots ...int) []int {
	children := map[int][]int{}
	for pid, p := range snap {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if _, ok := snap[p]; !ok {
			continue
		}
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// treeCPU is the CPU used so far by root and everything below it,
// including processes that have ended: a process's own time plus what it
// collected from the children it reaped (the sshd listener reaps its
// sessions, a session its command), so every descendant counts once.
func treeCPU(snap map[int]procInfo, root int) time.Duration {
	var ticks uint64
	for _, pid := range tree(snap, root) {
		ticks += snap[pid].cpu + snap[pid].ccpu
	}
	return time.Duration(ticks) * time.Second / time.Duration(clkTck)
}

// farCPU measures the CPU of the lab's sshd and everything below it.
type farCPU struct {
	root   int
	before time.Duration
}

func (l *lab) farCPU() farCPU {
	root := l.sshd.PID()
	return farCPU{root: root, before: treeCPU(procSnapshot(), root)}
}

// since is the far side's CPU since f was taken.
func (f farCPU) since() Seconds {
	return Seconds((treeCPU(procSnapshot(), f.root) - f.before).Seconds())
}

// cpuDelta is the CPU the processes pids (as of end) used between the two
// snapshots; a process that started in between counts from zero.
func cpuDelta(before, end map[int]procInfo, pids []int) time.Duration {
	var ticks uint64
	for _, pid := range pids {
		e := end[pid]
		b, ok := before[pid]
		if ok && b.start == e.start {
			ticks += e.cpu - b.cpu
		} else {
			ticks += e.cpu
		}
	}
	return time.Duration(ticks) * time.Second / time.Duration(clkTck)
}

// clkTck is USER_HZ; 100 on every Linux this runs on (testlab reads the
// exact value for its own helpers).
const clkTck = 100

// segBytes is how many bytes of segment files a spool directory holds.
func segBytes(dir string) int64 {
	var n int64
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, p := range names {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// sampler records the highest value of f between resets, every interval.
type sampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func startSampler(every time.Duration, f func() int64) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			v := f()
			s.mu.Lock()
			s.peak = max(s.peak, v)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// take returns the peak since the last take and starts over.
func (s *sampler) take() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.peak
	s.peak = 0
	return v
}

func (s *sampler) Stop() {
	close(s.stop)
	<-s.done
}
