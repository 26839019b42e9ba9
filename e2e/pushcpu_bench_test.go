package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// BenchmarkPushCPU measures what push itself costs per million lines of
// 124 bytes: the CPU time of all its threads while a FIFO brings 1 M
// lines as fast as push takes them, and the time until the last one
// arrived. The "ssh" is a stand-in that runs the remote command here
// (`cat >> FILE`, `sshlogfwd receive FILE`) without encryption, so that
// push's own work is what is measured, not ssh's and sshd's, which on
// these 2-core machines take most of the CPU and the time (bench/ measures
// against the real ssh). Run
//
//	go test ./e2e -run '^$' -bench PushCPU -benchtime 9x
//
// (-benchtime Nx: N rounds; the medians are reported). With
// SSHLOGFWD_BENCH_BINS="a b ..." it measures those builds instead of the
// current one, taking turns in every round, so that builds compare within
// seconds of each other on a shared machine.
func BenchmarkPushCPU(b *testing.B) {
	bins := strings.Fields(os.Getenv("SSHLOGFWD_BENCH_BINS"))
	if len(bins) == 0 {
		bins = []string{testlab.Binary(b)}
	}
	dir := b.TempDir()
	corpus := filepath.Join(dir, "corpus")
	var lines bytes.Buffer
	for i := range 1_000_000 {
		fmt.Fprintf(&lines, "%09d %s\n", i, strings.Repeat("x", 113))
	}
	size := int64(lines.Len())
	if err := os.WriteFile(corpus, lines.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	lines = bytes.Buffer{}
	ssh := filepath.Join(dir, "ssh")
	if err := os.WriteFile(ssh, []byte(standInSSH), 0o755); err != nil {
		b.Fatal(err)
	}
	cpu, wall := map[string][]time.Duration{}, map[string][]time.Duration{}
	var keys []string
	for round := range b.N {
		for _, reliable := range []bool{false, true} {
			for _, bin := range bins {
				key := "compat"
				if reliable {
					key = "reliable"
				}
				key += ":" + filepath.Base(bin)
				if round == 0 {
					keys = append(keys, key)
				}
				c, w := pushCPURun(b, bin, ssh, corpus, size, reliable)
				b.Logf("round %d %s: cpu %.3f s, %.3f s", round+1, key, c.Seconds(), w.Seconds())
				cpu[key] = append(cpu[key], c)
				wall[key] = append(wall[key], w)
			}
		}
	}
	for _, key := range keys {
		b.ReportMetric(median(cpu[key]).Seconds(), "cpu-s/Mlines:"+key)
		b.ReportMetric(median(wall[key]).Seconds(), "wall-s/Mlines:"+key)
	}
}

// median is the middle value of d (the upper one of two).
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// standInSSH runs ssh's LocalCommand (push's ready marker) and then the
// remote command, here.
const standInSSH = `#!/bin/sh
lc=""
while [ $# -gt 0 ]; do
	case "$1" in
	-o) case "$2" in LocalCommand=*) lc="${2#LocalCommand=}" ;; esac; shift 2 ;;
	--) shift; break ;;
	*) shift ;;
	esac
done
[ -n "$lc" ] && sh -c "$lc"
exec sh -c "$2"
`

// pushCPURun forwards the corpus once and returns push's CPU time during
// the transfer and the transfer's time.
func pushCPURun(b *testing.B, bin, ssh, corpus string, size int64, reliable bool) (cpu, wall time.Duration) {
	b.Helper()
	dir := b.TempDir()
	fifo, out, log := filepath.Join(dir, "fifo"), filepath.Join(dir, "out"), filepath.Join(dir, "push.log")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		b.Fatal(err)
	}
	args := []string{"push", "--ssh", ssh, "--fifo", fifo, "--spool", filepath.Join(dir, "spool"), "--mark", "0", "--stats", "0", "--log", log}
	if reliable {
		args = append(args, "--reliable", "--remote-command", bin+" receive "+out)
	}
	cmd := exec.Command(bin, append(args, "h:"+out)...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	testlab.WaitFor(b, 30*time.Second, func() bool { return strings.Contains(string(readFile(log)), "connected") }, "push to connect")
	cpu0 := threadsCPU(b, cmd.Process.Pid)
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	// Whole lines, 64 KiB at a time, as bench/ writes them.
	data, err := os.ReadFile(corpus)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	chunk := (64 << 10) / 124 * 124
	for off := 0; off < len(data); off += chunk {
		if _, err := w.Write(data[off:min(off+chunk, len(data))]); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	testlab.WaitFor(b, 2*time.Minute, func() bool { fi, err := os.Stat(out); return err == nil && fi.Size() >= size }, "every line at the far side")
	wall = time.Since(start)
	cpu = threadsCPU(b, cmd.Process.Pid) - cpu0
	return cpu, wall
}

// threadsCPU is the time the threads of process pid have run on a CPU
// (schedstat, nanoseconds).
func threadsCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, t := range tasks {
		s, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(s))[0], 10, 64)
		total += time.Duration(ns)
	}
	return total
}
