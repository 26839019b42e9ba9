package journal

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// fakePush is the test binary run as "fakepush ARGV...": it starts ARGV as
// push starts journalctl (startChild), prints the child's pid and waits to
// be killed.
func fakePush(argv []string) int {
	c, err := startChild(argv, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(c.cmd.Process.Pid)
	select {}
}

// TestChildDiesWithPush: a push killed -9 takes its journalctl with it
// (SIGTERM from the kernel), instead of leaving it to follow the journal
// until its next write into the closed pipe.
func TestChildDiesWithPush(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "fakepush")
	if err := os.Symlink(exe, fake); err != nil {
		t.Fatal(err)
	}
	// sleep stands for a journalctl following a quiet journal: it never
	// writes, so only a signal ends it.
	parent := exec.Command(fake, "sleep", "600")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Process.Kill(); parent.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("fake push printed no pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("the child %d: %v", pid, err)
	}
	defer unix.Close(fd)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := testlab.Kill(parent.Process.Pid); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	// The child is the fake push's, not ours: it is reaped by init once
	// it exits, and its pidfd turns readable then.
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int((10 * time.Second).Milliseconds()))
	if err != nil || n == 0 {
		t.Fatalf("the child still runs 10 s after its push was killed -9 (a hang bound): %v", err)
	}
}
