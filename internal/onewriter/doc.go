// Package onewriter keeps one writer of ours per file. Every sshlogfwd
// program that appends to a file of the log host (receive, for a reliable
// push; pull, for its --output) takes the same lock file beside it,
// records itself in it, and refuses to start on a file another of them
// writes, naming the other: two writers on one file cut each other's bytes
// when they recover from a crash, so the second one must never start.
//
// The marks a writer leaves beside the file, all hidden from logrotate's
// *.log patterns:
//   - the lock file .NAME.sshlogfwd.lock: flock(2)-locked while the
//     writer runs, and holding its last holder ("receive PID STREAM" or
//     "pull PID SOURCE") after it stopped;
//   - the receiver's state file .NAME.sshlogfwd;
//   - pull's default cursor file NAME.cursor (starting with
//     PullCursorPrefix).
//
// Which writers may share a file: a receiver with the next receiver (it
// takes the stream over, internal/receiver decides), and a pull with the
// next pull of the same source. Anything else is an *OtherWriterError.
package onewriter
