// Package pipe opens the named pipe (FIFO) that a syslog daemon writes
// into, the way a long-running reader must: it never deletes or recreates
// an existing FIFO, opens it read-write so that writers may come and go
// without ever producing EOF, enlarges its buffer (Grow), and keeps reads
// cancellable. A FIFO that a systemd socket unit holds (ListenFIFO=) is
// taken from systemd instead (FromSystemd): the pipe and what waits in it
// then outlive the reader's restarts. Whoever can read the FIFO sees the
// log lines and whoever can write it forges them, so an existing FIFO
// must be ours or root's and closed to others, and one we create is at
// most 0660 (CheckMode).
//
// # Moving bytes without copying them
//
// The package also moves bytes between pipes and files with splice(2),
// without copying them through this process: from a file into a pipe the
// pipe takes references to the page cache's pages (no copy at all);
// between pipes the pages move. It is measured to pay only there: into a
// regular file the kernel copies the pipe's pages into the page cache
// anyway, and read plus write cost the same. Where a kill -9 must not
// lose or repeat bytes, the same system call that moves them also counts
// them: splice advances the offset it is given, and a killed process
// dies only on its way back from a system call.
//
//   - Into a pipe, counted: SendFile (from a spool segment's page cache),
//     Feed (from memory, through a memory file), Stage (a header and a
//     payload from a file, in one piece). The offset or count passed says
//     exactly how far the pipe has taken the bytes.
//   - Out of a pipe, counted: Source (a FIFO, or standard input when it is
//     a pipe): Peek shows what it holds (tee(2)), MoveTo splices it into a
//     file, so each byte is in the pipe or in the file at every moment.
//   - Between a file and a pipe, copying where splice cannot be used:
//     SpliceFromFile (one pipeful of a followed file, serve), SpliceAll
//     (exactly n bytes out of a pipe, serve and pull).
//   - Around them: WaitQueued waits until a pipe holds n bytes, Queued
//     tells how many it holds (FIONREAD), Unread how many of them no
//     reader will take any more (a dead child's input), Private makes a
//     pipe of the process's own, Grow and MaxSize size a pipe.
//
// All of them share one splice loop: it goes on after EINTR and short
// moves; a pipe in non-blocking mode that is not ready (EAGAIN) is waited
// for on the runtime poller, the empty source or else the full
// destination, and a blocking pipe blocks in the kernel. They share one
// rule for giving up: ErrNoSplice, before anything moved, when a side is
// no descriptor (ErrNotPipe, itself an ErrNoSplice), was closed, or the
// kernel refuses the pair (EINVAL: O_APPEND, two regular files, a file
// system without splice). The counted moves return it for the caller to
// write the bytes itself; SpliceFromFile and SpliceAll copy them instead
// (read and write through a buffer), with the same result. Descriptors
// are taken only through syscall.Conn and RawConn.Control, never f.Fd(),
// which would put a pipe on the poller back into blocking mode.
//
// Pages spliced into a pipe stay the file's until the pipe's reader takes
// them: the bytes moved must not be rewritten meanwhile (spool segments
// and log files only grow).
package pipe
