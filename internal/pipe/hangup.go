package pipe

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"
)

// WatchHangup calls cancel when the reader of fd (our standard output) goes
// away, and returns; it returns without calling it when ctx ends or fd
// cannot be polled. sshd does not kill a forced command whose client died
// (no pty, no SIGHUP); it only closes the pipes. A write would then fail,
// but an idle session writes nothing, so the descriptor is polled for
// POLLERR/POLLHUP every 250 ms, the way GNU tail notices it.
func WatchHangup(ctx context.Context, fd int, cancel func()) {
	fds := []unix.PollFd{{Fd: int32(fd)}}
	for ctx.Err() == nil {
		fds[0].Revents = 0
		n, err := unix.Poll(fds, 250)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return // cannot poll (not a pipe or socket): rely on writes
		}
		if n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			cancel()
			return
		}
	}
}
