package pipe

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxSize is the largest pipe buffer an unprivileged process may ask for
// (/proc/sys/fs/pipe-max-size; 1 MiB when unreadable).
func MaxSize() int {
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return 1 << 20
}

// Grow enlarges the pipe behind f (a FIFO, or one end of a pipe to or from
// a child such as ssh) to want bytes, halving on EPERM down to 4 KiB, and
// returns the size it has then (0 if f is not a pipe). With the default
// 64 KiB, every 256 KiB frame costs several wake-ups of both processes,
// and a writer that must not block (rsyslog) has little room. A pipe that
// is already as large is left alone, never shrunk: a socket unit's
// PipeSize= may have made it larger than we could.
func Grow(f any, want int) int {
	size := 0
	_ = control(f, func(fd int) {
		cur, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			cur = 0
		}
		if cur >= want {
			size = cur
			return
		}
		// Halving after EPERM stops above the present size: never shrink.
		for n := want; n >= 4096 && n > cur; n /= 2 {
			if got, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, n); err == nil {
				size = got
				return
			}
		}
		size, _ = unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	})
	return size
}
