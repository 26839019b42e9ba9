package pipe

import (
	"context"
)

// watchHangup calls cancel when the reader of fd (our standard output) goes
// away, and returns; it returns without calling it when ctx ends or fd
// cannot be polled. sshd does not kill a forced command whose client died
// (no pty, no SIGHUP); it only closes the pipes. A write would then fail,
// but an idle session writes nothing, so the descriptor is polled for
// POLLERR/POLLHUP every 250 ms, the way GNU tail notices it.
func watchHangup(ctx context.Context, fd int, cancel func()) {
	for ctx.Err() == nil {
		ev, err := poll(fd, 0, 250)
		if err != nil {
			return // cannot poll (not a pipe or socket): rely on writes
		}
		if ev&hangup != 0 {
			cancel()
			return
		}
	}
}

// WatchHangupOf calls cancel when the reader of out goes away: it is
// watchHangup for the descriptor behind out (an
// *os.File, or anything else that is a syscall.Conn); it returns at once
// when out has none (a test's io.Pipe). The descriptor is taken once and
// polled until ctx ends: the caller keeps out open until then.
func WatchHangupOf(ctx context.Context, out any, cancel func()) {
	fd := -1
	if control(out, func(f int) { fd = f }) != nil || fd < 0 {
		return
	}
	watchHangup(ctx, fd, cancel)
}
