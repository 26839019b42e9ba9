package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestPushSSHKilledBehind: push is behind its ssh (ssh stopped with
// SIGSTOP, as a slow link would hold it) until ssh's input pipe is full,
// then ssh is killed -9, several times. What was in that pipe never
// reached ssh: the next ssh must send it. A kill may lose only what ssh
// itself had read, far less than the pipeful it held.
func TestPushSSHKilledBehind(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	const n, size, rate, kills = 60000, 124, 4000, 4 // 15 s
	testlab.WaitFor(t, 10*time.Second, func() bool { return p.sshChild() > 0 }, "first ssh child")
	ln := testlab.Numbered(size)
	w := startFIFOWriter(t, l.FIFO, n, size, rate, true)
	held, last := 0, 0
	for range kills {
		var pid int
		grown := int64(len(readFile(l.Remote))) + 1000*size
		testlab.WaitFor(t, 20*time.Second, func() bool {
			pid = p.sshChild()
			return pid > 0 && pid != last && int64(len(readFile(l.Remote))) >= grown
		}, "a new ssh child delivering")
		last = pid
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("stop ssh %d: %v", pid, err)
		}
		var q int
		testlab.WaitFor(t, 10*time.Second, func() bool {
			var full bool
			q, full = sshInput(p.Pid())
			return full
		}, "a full input pipe of the stopped ssh")
		held += q
		if err := testlab.Kill(pid); err != nil {
			t.Fatalf("kill ssh %d: %v", pid, err)
		}
	}
	w.Wait(t, 60*time.Second)
	_, r := waitLines(t, ln, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	perKill := float64(r.Lost) / kills
	heldLines := float64(held) / kills / size
	// The pipe is full when its slots are (a page each): spliced pieces
	// of pages fill them with less than its size. Before the next ssh
	// sent what was in it, a kill lost all of it (46 to 70 lines per
	// kill with 64 KiB pipes, and nothing more: ssh itself, stopped,
	// held next to nothing).
	bound := int(heldLines / 2)
	t.Logf("ssh stopped with a full input pipe (%.0f lines on average) and killed %d times: %s; lost per kill %.0f lines (bound %d), missing %s; writer EAGAIN drops %d",
		heldLines, kills, r, perKill, bound, r.Gaps(10), w.Dropped())
	recordFault(t, faultRow{Mode: "push", Fault: "ssh child stopped until its input pipe was full, then killed -9", Lines: n, Faults: kills, Report: r,
		Note: fmt.Sprintf("%.0f lines lost per kill with %.0f in its input pipe (bound %d)", perKill, heldLines, bound)})
	if w.Dropped() != 0 {
		t.Errorf("the writer found the FIFO full %d times", w.Dropped())
	}
	if r.Duplicated != 0 || r.OutOfOrder != 0 || len(r.Other) != 0 {
		t.Errorf("duplicated, reordered or foreign lines: %s", r)
	}
	if r.Torn > kills {
		t.Errorf("%d torn lines in %d kills: a kill tears at most the line in flight", r.Torn, kills)
	}
	if perKill > float64(bound) {
		t.Errorf("lost %.0f lines per kill of the %.0f in ssh's input pipe: what ssh never read was not sent again; missing %s", perKill, heldLines, r.Gaps(10))
	}
}

// sshInput is how many bytes wait in the input pipe of push's ssh child
// (-1: not found), and whether the pipe is full. ssh makes itself
// undumpable, so its /proc/PID/fd cannot be opened: the pipe is found
// among push's descriptors, the only pipe of its own (non-blocking) that
// push holds just one end of, for writing. It is opened for a moment and
// closed again before anything else happens to ssh.
func sshInput(pushPid int) (queued int, full bool) {
	dir := "/proc/" + strconv.Itoa(pushPid) + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return -1, false
	}
	ends := map[string][]string{}
	for _, e := range ents {
		if link, err := os.Readlink(dir + e.Name()); err == nil && strings.HasPrefix(link, "pipe:") {
			ends[link] = append(ends[link], e.Name())
		}
	}
	for _, fds := range ends {
		if len(fds) != 1 {
			continue
		}
		info, err := os.ReadFile("/proc/" + strconv.Itoa(pushPid) + "/fdinfo/" + fds[0])
		if err != nil {
			continue
		}
		var flags int64
		for line := range strings.Lines(string(info)) {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, _ = strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			}
		}
		// os.Pipe's ends are non-blocking; push's own standard error
		// and descriptors it inherited are not.
		if flags&syscall.O_ACCMODE != syscall.O_WRONLY || flags&syscall.O_NONBLOCK == 0 {
			continue
		}
		fd, err := unix.Open(dir+fds[0], unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, false
		}
		defer unix.Close(fd)
		q, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		if err != nil {
			return -1, false
		}
		// No room: every slot of the pipe is taken, which spliced
		// pieces of pages can do with far fewer bytes than its size.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, 0)
		return q, err == nil && n == 0
	}
	return -1, false
}
