// Package stream is the framed protocol that `sshlogfwd serve` writes on its
// standard output and `sshlogfwd pull` reads from ssh: log data together with
// the exact file position (a tailer.Cursor, DEV:INO:OFF) it ends at, so that
// the puller can store the position next to the data it has written and
// resume from it on the next connection without losing or repeating a byte.
//
// A stream is the version line "sshlogfwd-stream 1" and then frames, each a
// one-line ASCII header (S start, D data, L late, R rotated, T truncated,
// H heartbeat), data frames followed by exactly the announced bytes.
// Encoder writes each frame with one Write; Decoder enforces the limits and
// rejects anything it does not know rather than guess.
//
// The grammar, the meaning of every frame and the rules for later versions
// are written out in full in docs/protocol.md ("The stream protocol"), the
// one place that defines them; change that page with this package.
package stream
