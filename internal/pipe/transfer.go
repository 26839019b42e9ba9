package pipe

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// SpliceFromFile moves up to max bytes of the regular file f, starting at
// *off, into the pipe w in one step, advances *off by what moved and
// returns that count: fewer than max when the pipe has less room or f
// ends first, and 0 with io.EOF when f has nothing at *off. When w is a
// pipe in non-blocking mode on the runtime poller (os.Pipe's ends) and is
// full, it waits until it has room; a blocking w blocks in the kernel.
// Where splice cannot be used (ErrNoSplice) it copies up to 64 KiB.
//
// Pages moved this way are the page cache's own: until the pipe's reader
// has taken them, a truncation of f to a size inside one of them, or a
// rewrite in place, changes what the reader gets. Log files only grow.
func SpliceFromFile(w io.Writer, f *os.File, off *int64, max int) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	n, err := transfer(w, nil, f, off, max, step)
	if errors.Is(err, io.ErrUnexpectedEOF) { // f ended: a short step, or none
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
	return n, err
}

// SpliceAll moves exactly n bytes from the pipe r into w, in as many
// steps as it takes: into a pipe or a file at its position (off nil), or
// into the regular file w at *off, which it advances. serve moves a data
// frame's payload from its own pipe (filled by SpliceFromFile) to its
// client; pull moves one from ssh's pipe into its output. While r is
// empty, or w is a full pipe, a side on the runtime poller is waited for
// and a blocking side blocks in the kernel. It returns how many bytes
// moved; fewer than n only with an error (io.ErrUnexpectedEOF when r ends
// first). Where splice cannot be used the bytes are copied, at *off with
// WriteAt.
func SpliceAll(w io.Writer, off *int64, r io.Reader, n int) (int, error) {
	return transfer(w, off, r, nil, n, whole)
}

// WaitQueued waits until the pipe r holds at least n bytes, or its last
// writer has gone, and returns how many bytes it holds: pull waits,
// without holding its locks, until a frame's payload is all there, and
// then moves it into its output at once. It waits on the runtime poller,
// woken by every write into the pipe; r must be on it (os.Pipe's read
// end). A pipe smaller than n bytes never holds them: the caller must not
// ask for more than fits. r not a descriptor: ErrNotPipe.
func WaitQueued(r io.Reader, n int) (int, error) {
	rc, err := rawConn(r)
	if err != nil {
		return 0, err
	}
	have := 0
	err = rc.Read(func(fd uintptr) bool {
		if have = queued(int(fd)); have >= n || have < 0 {
			return true
		}
		// Fewer bytes: wait, unless no writer is left (POLLHUP).
		ev, err := poll(int(fd), unix.POLLIN, 0)
		return err != nil || ev&hangup != 0
	})
	return max(have, 0), err
}
