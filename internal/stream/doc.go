// Package stream is the framed protocol that `sshlogfwd serve` writes on its
// standard output and `sshlogfwd pull` reads from ssh: log data together with
// the exact file position (a tailer.Cursor) it ends at, so that the puller
// can store the position next to the data it has written and resume from it
// on the next connection without losing or repeating a byte.
//
// The stream is a version line followed by frames. Every frame starts with a
// one-line ASCII header; data frames carry exactly the announced number of
// bytes after it. Headers are text so that the stream can be read with
// `ssh host sshlogfwd serve | less` when something looks wrong.
//
//	stream    = version *frame
//	version   = "sshlogfwd-stream 1" LF
//	frame     = start / data / late / rotated / truncated / heartbeat
//	start     = "S " cursor " " how LF     ; exactly once, first
//	data      = "D " cursor " " len LF len*OCTET
//	late      = "L " cursor " " len LF len*OCTET
//	rotated   = "R " cursor LF
//	truncated = "T " cursor LF
//	heartbeat = "H" LF
//	cursor    = dev ":" ino ":" offset     ; canonical decimals (tailer.ParseCursor)
//	how       = "resume" / "lost" / "start" / "end" / "wait"
//	len       = canonical decimal, 1 to MaxData
//
// The cursor of a start frame is where serving begins (zero, 0:0:0, when
// the file does not exist yet: it is then read from its first byte once it
// appears); "how" says why: the requested cursor was found (resume), was not
// found so reading starts at the beginning of the current file (lost), or a
// fresh start at the file's beginning or end, or waiting for the file.
// A data frame's cursor is the position right after its bytes; within one
// file, consecutive data frames are contiguous. Rotated and truncated say
// that the byte stream restarts at the given cursor (offset 0 of the new, or
// the same, file). A late frame carries bytes written to the previous file
// after serve had switched away from it; its cursor is the unchanged
// position in the current file. Heartbeats are sent when the file is idle,
// so that serve notices a vanished client (the write fails) and pull can
// tell a live but quiet stream from a dead one.
//
// Evolution: a request without a version (all requests today) means
// version 1. A later version will be asked for by a new flag in the request,
// which an old serve refuses with a clear error; serve never sends a version
// the client did not ask for, and a decoder rejects any version line it does
// not know, so the two sides can never silently misread each other.
package stream
