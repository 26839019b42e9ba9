// Package pull is the log host's side of pulling a file from a watched
// host: it runs ssh under a supervisor, reads what the far side sends and
// appends it to a local output, resuming after breaks and restarts.
//
// Two sessions read a connection:
//   - reliable: the far side runs `sshlogfwd serve` (internal/serve), whose
//     stream (internal/stream) carries the exact position in the remote
//     file with the data. The position is kept in a cursor file next to the
//     output, so that the next connection, or the next run, resumes at the
//     byte after the last one written.
//   - compat: the far side runs `tail -F`; whole lines are copied, and what
//     is written while the link is down is lost.
//
// The sink holds the output and the cursor. Its rules:
//   - The cursor file records the output's identity and size, the checksum
//     of the last bytes pull wrote and whether pull stopped cleanly, along
//     with the remote position, and is replaced atomically. A cursor is
//     saved only after the data it covers is written (and, with an fsync
//     interval, synced), so it never claims data the output lacks.
//   - pull never cuts a byte of the output (proof.go). On start, an output
//     whose bytes before the saved size are not the ones pull wrote, or
//     that grew after a clean stop, is another program's too: pull refuses
//     it. Bytes beyond the saved size after a kill may be pull's own:
//     serve sends them again from the cursor, and they are compared
//     instead of written; the first difference stops pull (ErrNotOurs).
//   - One writer per output: pull takes the writers' lock beside it
//     (internal/onewriter) and refuses a file that receive or a pull of
//     another source writes. One pull per cursor, by a lock file beside it.
//   - --max-size (bound.go): the output never grows beyond it; pull holds
//     the connection, taking nothing more, until the output is rotated.
//   - SIGHUP (logrotate) reopens the output under its name and saves the
//     cursor with the new file at once.
//   - A data payload goes from ssh's pipe into the output with splice(2),
//     not through pull's memory (reliable.go, output.spliceIn): pull waits,
//     holding no lock, until the whole payload is in the pipe, then moves
//     it at once, so that a reopen or a saved cursor never sees part of a
//     frame. Bytes still to be proven, a payload near --max-size and
//     standard output take the path through memory.
package pull
