package bench

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOrphansStayInTheTree: a process whose parent ends before it (as an
// ssh whose push is gone, or a remote cat whose sshd session was killed)
// is still the harness's own, so its CPU is not counted as other work.
func TestOrphansStayInTheTree(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// sh starts cat, which blocks reading the pipe, and ends at once.
	cmd := exec.Command("sh", "-c", "cat <&3 >/dev/null 2>&1 & echo $!")
	cmd.ExtraFiles = []*os.File{r}
	out, err := cmd.Output()
	r.Close()
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		// Ours to reap only if it became our child.
		if ourSnapshot()[pid].ppid == os.Getpid() {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	})
	snap := ourSnapshot()
	if p, ok := snap[pid]; !ok {
		t.Fatalf("orphan %d not found in /proc", pid)
	} else if !slices.Contains(tree(snap, os.Getpid()), pid) {
		t.Errorf("orphan cat %d (now a child of %d) is not in the harness's tree: its CPU would count as other work", pid, p.ppid)
	}
}

// TestSettledSnapshot: a process that ends while /proc is read is
// neither lost nor counted twice; the reads stop once three agree.
func TestSettledSnapshot(t *testing.T) {
	const root, parent, child = 10, 20, 30
	base := map[int]procInfo{root: {ppid: 1, start: 1, cpu: 100}}
	with := func(extra map[int]procInfo) map[int]procInfo {
		m := map[int]procInfo{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	alive := with(map[int]procInfo{parent: {ppid: root, start: 5, cpu: 10}, child: {ppid: parent, start: 6, cpu: 40}})
	// The child ended after the parent's file was read and before its
	// own: in neither.
	lost := with(map[int]procInfo{parent: {ppid: root, start: 5, cpu: 10}})
	// The child ended before the parent's file was read, but its own
	// read came first: counted alive and in the parent's cutime.
	twice := with(map[int]procInfo{parent: {ppid: root, start: 5, cpu: 10, ccpu: 40}, child: {ppid: parent, start: 6, cpu: 40}})
	reaped := with(map[int]procInfo{parent: {ppid: root, start: 5, cpu: 10, ccpu: 40}})
	for _, tc := range []struct {
		name  string
		reads []map[int]procInfo
		want  time.Duration // the tree's CPU
		used  int           // reads taken
	}{
		{"still", []map[int]procInfo{alive, alive, alive}, 1500 * time.Millisecond, 3},
		{"ended unseen", []map[int]procInfo{alive, lost, reaped, reaped}, 1500 * time.Millisecond, 4},
		{"counted twice", []map[int]procInfo{alive, twice, reaped, reaped, reaped}, 1500 * time.Millisecond, 5},
		{"never settles", []map[int]procInfo{alive, lost, alive, lost}, 1100 * time.Millisecond, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			read := func() map[int]procInfo {
				r := tc.reads[min(n, len(tc.reads)-1)]
				n++
				return r
			}
			snap := settledSnapshot(read, len(tc.reads), root)
			if got := treeCPU(snap, root); got != tc.want {
				t.Errorf("tree CPU %v, want %v", got, tc.want)
			}
			if n != tc.used {
				t.Errorf("%d reads, want %d", n, tc.used)
			}
		})
	}
}
