package pipe

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// SendFile moves n bytes of f, from offset *off on, into w, the write end
// of a pipe in non-blocking mode on the runtime poller (the input of an
// ssh child, as os.Pipe makes it), waiting while the pipe is full. The
// bytes go from the page cache into the pipe by reference (splice(2)),
// never through this process's memory, and splice advances *off in the
// same system call that moves them: *off always says exactly how far w
// has taken f, also when this process is killed at any moment (see Feed;
// *off may be a word in a file mapped shared).
//
// The pipe then holds references to f's pages, not copies: the bytes
// moved must not be written again while a reader may still get them
// (segment files of the spool only grow).
//
// Errors, all but the last before anything was written: ErrNotPipe (w is
// not a descriptor), ErrNoSplice (f cannot be spliced from, or is
// closed), io.ErrUnexpectedEOF (f ended before n bytes: what came before
// was moved), or why the pipe refused (EPIPE: its reader is gone).
func SendFile(w io.Writer, f *os.File, off *int64, n int) error {
	_, err := splice(w, nil, f, off, n, whole)
	return err
}

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
	if _, err := rawConn(w); err != nil {
		return err
	}
	fd, err := unix.MemfdCreate("sshlogfwd-handover", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd")
	defer mem.Close()
	if _, err := mem.WriteAt(p, 0); err != nil {
		return fmt.Errorf("copy to memory file: %w", err)
	}
	_, err = splice(w, nil, mem, taken, len(p), whole)
	return err
}

// Stage puts frames, a few bytes of header and a payload that lies in a
// file, into a pipe each in one piece, without copying the payload
// through this process: header and payload are gathered in a private
// pipe (write, then splice from the file's page cache) and moved on into
// the destination pipe with one splice, which wakes its reader once per
// frame, as one write(2) of the whole frame does. Writing the header
// into the destination first and splicing the payload after it would wake
// the reader for the header alone.
//
// A Stage is for one goroutine; its pipe must be as large as a frame
// (NewStage asks for 1 MiB), or a frame goes in several pieces.
type Stage struct {
	r, w *os.File
}

// NewStage makes a Stage with its private pipe, non-blocking: filling it
// stops when it is full instead of waiting for a reader, which is us.
func NewStage() (*Stage, error) {
	r, w, _, err := newPipe(1<<20, unix.O_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("staging %w", err)
	}
	return &Stage{r: r, w: w}, nil
}

// Close releases the private pipe.
func (st *Stage) Close() error {
	return errors.Join(st.r.Close(), st.w.Close())
}

// SendFrame writes head and then n bytes of f from offset off on into w,
// the write end of a pipe on the runtime poller, waiting while it is
// full. Errors as SendFile's; after ErrNotPipe and ErrNoSplice nothing
// was written into w, and the caller writes the frame itself. After
// another error, part of the frame may have reached w, and the stream
// through w is broken.
func (st *Stage) SendFrame(w io.Writer, head []byte, f *os.File, off int64, n int) error {
	if _, err := rawConn(w); err != nil {
		return err
	}
	// The private pipe is empty: the header fits at once.
	if _, err := st.w.Write(head); err != nil {
		return fmt.Errorf("staging pipe: %w", err)
	}
	// The descriptors are held for the whole frame: a file closed
	// meanwhile (a segment dropped) cannot cut it.
	err := flow(w, nil, st.r, nil, func(flush *mover) error {
		return flow(st.w, nil, f, &off, func(fill *mover) error {
			return sendFrame(fill, flush, len(head), n)
		})
	})
	if err != nil {
		// Whatever is left in the private pipe belongs to no frame.
		st.empty()
	}
	return err
}

// sendFrame fills the private pipe, which holds the frame's first queued
// bytes, with up to as much of the n bytes of payload as it takes, moves
// all of it on into the destination, and again until the frame is
// through.
func sendFrame(fill, flush *mover, queued, n int) error {
	total, sent := queued+n, 0
	for left := n; left > 0 || queued > 0; {
		if left > 0 {
			k, err := fill.run(left, ready)
			left -= k
			queued += k
			if err != nil && !(errors.Is(err, unix.EAGAIN) && queued > 0) {
				return why(err, n-left, n)
			}
		}
		k, err := flush.run(queued, whole)
		queued -= k
		sent += k
		if err != nil {
			return why(err, sent, total)
		}
	}
	return nil
}

// empty drains the private pipe after a frame that failed.
func (st *Stage) empty() {
	var buf [64 << 10]byte
	_ = control(st.r, func(fd int) {
		for {
			if _, err := readFD(fd, buf[:]); err != nil {
				return
			}
		}
	})
}
