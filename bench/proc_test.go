package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
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

// becomeSubreaper makes the harness the reaper of the orphans below it
// (PR_SET_CHILD_SUBREAPER): a process whose parent ends first (an ssh
// whose push is gone, a remote cat or bash whose sshd session was killed)
// is re-parented to the test binary instead of to init, so that it stays
// in the harness's tree, and its CPU is counted as the harness's own, not
// as other work. Such an orphan is not reaped after it exits: its zombie,
// with its CPU still in /proc, stays a child of the test binary until the
// binary ends.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// ourSnapshot is a settled snapshot of the process table for the
// harness's own tree (this test binary, its sshd and all they start).
func ourSnapshot() map[int]procInfo {
	return settledSnapshot(procSnapshot, settleTries, os.Getpid())
}

// settleTries bounds the reads of settledSnapshot: processes end in
// bursts (200 pushes and their sshd sessions at the end of a scale run)
// and a burst is over long before this many reads of /proc.
const settleTries = 50

// settledSnapshot reads the process table until three reads in a row
// find the same processes below roots, and returns the middle one; after
// tries reads, the last. One read is not enough while processes end:
// /proc is read one file at a time, so a process that exits and is reaped
// between the read of its parent's file and its own is in neither (its
// parent's cutime did not have it yet) and its CPU is missing from the
// tree; one reaped between its own read and its parent's is counted
// twice. The first is in the read before (it was running), the second is
// not in the read after (it was reaped): so when a read agrees with its
// neighbours on both sides, nothing in it was lost or counted twice.
func settledSnapshot(read func() map[int]procInfo, tries int, roots ...int) map[int]procInfo {
	prev, cur := read(), read()
	for i := 2; i < tries; i++ {
		next := read()
		if sameTree(prev, cur, roots) && sameTree(cur, next, roots) {
			return cur
		}
		prev, cur = cur, next
	}
	return cur
}

// sameTree reports whether a and b hold the same processes (by pid and
// start time) below roots.
func sameTree(a, b map[int]procInfo, roots []int) bool {
	ta, tb := tree(a, roots...), tree(b, roots...)
	if len(ta) != len(tb) {
		return false
	}
	for _, pid := range ta {
		q, ok := b[pid]
		if !ok || q.start != a[pid].start || !slices.Contains(tb, pid) {
			return false
		}
	}
	return true
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
	return farCPU{root: root, before: treeCPU(ourSnapshot(), root)}
}

// since is the far side's CPU since f was taken.
func (f farCPU) since() Seconds {
	return Seconds((treeCPU(ourSnapshot(), f.root) - f.before).Seconds())
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
