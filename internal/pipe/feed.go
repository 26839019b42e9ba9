package pipe

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// ErrNotPipe is a writer that is not a file descriptor (a test's
// io.Pipe): the caller writes into it as usual.
var ErrNotPipe = errors.New("not a pipe descriptor")

// Feed hands p to w, the write end of a pipe (the input of an ssh child)
// in non-blocking mode on the runtime poller, as os.Pipe makes it, waiting
// while the pipe is full; *taken, which must be 0, counts the bytes of p
// the pipe has taken, exactly, even when this process is killed at any
// moment. The bytes go from a memory file into the pipe with splice(2),
// and splice advances the count, the read offset it is given, in the
// same system call that moves them; a killed process dies only on its way
// back from a system call, so the count and the pipe never disagree. A
// count in a file mapped shared (see spool.Consumer.BeginHandover)
// outlives the process. Writing the bytes with write(2) and recording
// them after it returned leaves a window in which the pipe has them and
// the record does not.
//
// The memory file is new for every call: the pipe holds references to its
// pages, not copies, and a reused file would change what the reader gets.
// A w that is not a descriptor is ErrNotPipe, before anything is written.
func Feed(w io.Writer, p []byte, taken *int64) error {
	rc, err := writeConn(w)
	if err != nil {
		return err
	}
	mem, err := unix.MemfdCreate("sshlogfwd-handover", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(mem)
	if _, err := unix.Pwrite(mem, p, 0); err != nil {
		return fmt.Errorf("copy to memory file: %w", err)
	}
	_, err = sendFD(rc, mem, taken, len(p))
	return err
}
