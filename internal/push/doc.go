// Package push is the engine of `sshlogfwd push`: it reads lines (a FIFO,
// standard input, a followed file, or the systemd journal) into a bounded
// spool at all times, link up or down, and delivers the spool to every
// destination through its own supervised ssh child.
//
// Its parts, one concern each:
//   - input.go: the readers. A FIFO, or standard input when it is a pipe,
//     is moved into the spool's files with splice(2), whole lines as they
//     come, so that a kill -9 at any moment loses nothing that reached the
//     pipe; other standard input is read and copied; a followed file
//     (--file) also records, with the spool, the file position each
//     whole-line chunk corresponds to, so that a restart neither skips nor
//     repeats.
//   - journal.go: the systemd journal (--journal), read through
//     internal/journal; every entry is spooled as one line together with
//     its journal cursor, and a gap in the journal (entries vacuumed
//     before they were read) becomes a notice line.
//   - compat.go: the compatible mode (`cat >> FILE` on the far side).
//     Nothing acknowledges delivery; data counts as delivered once the
//     child read it and stayed up a little while after it was written
//     (see settle), what a child that died left unread in its input is
//     sent again, and so is the share of a remote command that failed. A
//     batch goes into ssh with splice(2), from its segment file when it
//     lies in one, the kernel counting what ssh took (see handOver).
//   - sender.go: the acknowledged mode (`sshlogfwd receive` on the far
//     side, internal/ackproto): hello, resume at the receiver's offset, a
//     window of frames ahead of the acknowledgements, which release the
//     spool, and an ack timeout that takes a silent link for dead. A
//     frame's payload that lies in a segment file is spliced behind its
//     header, not copied (see writeData).
//   - drain.go: the end of a run. On SIGTERM, or once standard input is
//     finished, sessions keep delivering until everything is delivered or
//     the drain timeout passes; the rest stays in the spool.
//   - record.go, spools.go: the spool directory remembers its
//     destinations, its mode and the ssh settings (push.json), so that
//     lines left in a spool no push runs on any more (a DEST corrected or
//     dropped) are found at the next start (a warning naming them), and
//     can be listed, delivered (Deliver, Retarget) or discarded (Discard)
//     by `sshlogfwd spool`.
//   - lines.go: the lines push writes itself (marks, notices of dropped
//     lines), and the status line.
//
// Time comes from Options.Clock, so settle times, ack timeouts, marks,
// status lines, spool syncs and the drain are tested without sleeping; a
// session talks to its child through the small Link interface, so tests
// drive it with pipes.
package push
