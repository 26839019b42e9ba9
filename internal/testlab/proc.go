package testlab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStat is the part of /proc/PID/stat the helpers need.
type procStat struct {
	pid       int
	comm      string
	state     byte
	ppid      int
	utime     uint64 // clock ticks
	stime     uint64 // clock ticks
	starttime uint64 // clock ticks after boot; tells a reused pid apart
}

// readStat reads /proc/PID/stat. The comm field is in parentheses and may
// itself contain spaces and parentheses, so it is cut at the first "(" and
// the last ")".
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, b)
}

func parseStat(pid int, b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no comm field", pid)
	}
	// Fields after comm, starting at field 3 (state).
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields after comm", pid, len(f))
	}
	st := procStat{pid: pid, comm: string(b[open+1 : closing]), state: f[0][0]}
	var errs [4]error
	st.ppid, errs[0] = strconv.Atoi(f[1])
	st.utime, errs[1] = strconv.ParseUint(f[11], 10, 64)
	st.stime, errs[2] = strconv.ParseUint(f[12], 10, 64)
	st.starttime, errs[3] = strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// allStats reads the stat of every process; processes that vanish while it
// reads are left out.
func allStats() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	stats := make([]procStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			stats = append(stats, st)
		}
	}
	return stats
}

// ChildPIDs returns the pids whose parent is pid, optionally only those whose
// command name is comm ("" means all). Linux truncates command names to 15
// bytes, so compare with that in mind.
func ChildPIDs(pid int, comm string) []int {
	var pids []int
	for _, st := range allStats() {
		if st.ppid == pid && (comm == "" || st.comm == comm) {
			pids = append(pids, st.pid)
		}
	}
	return pids
}

// descendants returns every process below pid, parents before children.
func descendants(pid int) []procStat {
	children := map[int][]procStat{}
	for _, st := range allStats() {
		children[st.ppid] = append(children[st.ppid], st)
	}
	var out []procStat
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// alive reports whether the process recorded in st still runs: it exists,
// is the same process (same start time) and is not a zombie.
func alive(st procStat) bool {
	now, err := readStat(st.pid)
	return err == nil && now.starttime == st.starttime && now.state != 'Z' && now.state != 'X'
}

// ProcessCPU returns the CPU time (user + system) pid has used so far.
func ProcessCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	return time.Duration(st.utime+st.stime) * time.Second / time.Duration(clockTicks()), nil
}

// ProcessReads returns how many read system calls (read, pread, readv
// and the like) pid has made so far: syscr of /proc/PID/io. A reader that
// spins on EOF or on an idle descriptor makes them by the thousand a
// second, however little CPU a loaded machine gives it, so a bound on
// them catches a busy loop where a bound on CPU time would flake.
func ProcessReads(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, fmt.Errorf("read calls of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read calls of %d: %q: %w", pid, line, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("read calls of %d: no syscr in /proc/%d/io", pid, pid)
}

// ProcessRSS returns the resident set size of pid and its peak (VmRSS and
// VmHWM of /proc/PID/status) in bytes.
func ProcessRSS(pid int) (rss, hwm int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("memory of %d: %w", pid, err)
	}
	defer f.Close()
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(val), " ")
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" {
			return 0, 0, fmt.Errorf("memory of %d: bad %s line %q", pid, key, sc.Text())
		}
		if key == "VmRSS" {
			rss = n * 1024
		} else {
			hwm = n * 1024
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("memory of %d: %w", pid, err)
	}
	if found < 2 {
		// Zombies and kernel threads have no memory lines.
		return 0, 0, fmt.Errorf("memory of %d: no VmRSS/VmHWM in /proc/%d/status", pid, pid)
	}
	return rss, hwm, nil
}

var clockTicks = sync.OnceValue(func() int64 {
	// sysconf(_SC_CLK_TCK) needs cgo; the kernel hands the same value to
	// every process in its auxiliary vector as AT_CLKTCK.
	const atClkTck = 17
	if b, err := os.ReadFile("/proc/self/auxv"); err == nil {
		// Pairs of native words; only 64-bit systems are handled.
		for ; strconv.IntSize == 64 && len(b) >= 16; b = b[16:] {
			if binary.NativeEndian.Uint64(b) == atClkTck {
				if v := int64(binary.NativeEndian.Uint64(b[8:])); v > 0 {
					return v
				}
			}
		}
	}
	return 100
})
