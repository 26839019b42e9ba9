// Package pipe opens the named pipe (FIFO) that a syslog daemon writes
// into, the way a long-running reader must: it never deletes or recreates
// an existing FIFO, opens it read-write so that writers may come and go
// without ever producing EOF, enlarges its buffer, and keeps reads
// cancellable. A FIFO that a systemd socket unit holds (ListenFIFO=) is
// taken from systemd instead (FromSystemd): the pipe and what waits in it
// then outlive the reader's restarts. Where a kill -9 must not lose bytes,
// it moves them with splice(2) instead of copying them through this
// process: out of a pipe into a file (Source), out of a file or of memory
// into a pipe (SendFile, Feed), the same way where copying them would only
// cost (Stage). Whoever can read the FIFO sees the log lines and whoever can
// write it forges them, so an existing FIFO must be ours or root's and
// closed to others, and one we create is at most 0660 (CheckMode).
package pipe
