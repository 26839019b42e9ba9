// Package pipe opens the named pipe (FIFO) that a syslog daemon writes
// into, the way a long-running reader must: it never deletes or recreates
// an existing FIFO, opens it read-write so that writers may come and go
// without ever producing EOF, enlarges its buffer, and keeps reads
// cancellable.
package pipe
