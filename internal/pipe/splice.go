package pipe

import (
	"errors"

	"golang.org/x/sys/unix"
)

// errSourceEnded is a splice that moved nothing because its source had
// nothing more: a file at its end, a pipe without writers.
var errSourceEnded = errors.New("source ended")

// move moves up to n bytes from descriptor in to descriptor out with
// splice(2), one of them a pipe, going on after EINTR and short moves.
// inOff and outOff, when not nil, are the file offsets to use, and splice
// advances them itself, in the same system call that moves the bytes:
// that is what makes a count kept there exact when the process is killed
// at any moment. It returns how many bytes moved and, when that is less
// than n, why: EAGAIN (the pipe is full, or empty; nothing blocks),
// errSourceEnded, or another error.
func move(in int, inOff *int64, out int, outOff *int64, n int) (int, error) {
	moved := 0
	for moved < n {
		k, err := unix.Splice(in, inOff, out, outOff, n-moved, unix.SPLICE_F_NONBLOCK)
		switch {
		case err == nil && k == 0:
			return moved, errSourceEnded
		case err == nil:
			moved += int(k)
		case errors.Is(err, unix.EINTR):
		default:
			return moved, err
		}
	}
	return moved, nil
}
