// Package receiver is the log host's side of a reliable push: it appends
// the stream that `sshlogfwd push --reliable` sends (internal/ackproto) to
// one file, and acknowledges only what is on disk.
//
// Its rules:
//   - Only whole frames are written; a frame cut off by a dying link is
//     discarded, and frames end at line ends, so the file never holds a
//     torn line.
//   - An acknowledgement follows an fsync of the file.
//   - The position survives crashes without repeating anything: a small
//     state file beside the file maps one stream offset to one file size
//     of one inode, and bytes found beyond that size in the same inode on
//     the next start were written by us and count as received. The state
//     is rewritten whenever the mapping changes (a new stream, a rotated
//     file, a gap) and at the fsync interval.
//   - Rotation by rename (logrotate) is noticed before every write; the
//     old file is synced and the stream continues at the same offset in a
//     new file at the path. When the path is missing, receive waits up to
//     a second for logrotate's create (which would otherwise find
//     receive's file in its way and rename it to a .backup) before it
//     creates the file itself, with O_EXCL.
//   - One receiver per file, by a lock file beside it. A receiver for the
//     same stream that is still running is a leftover of a dead connection
//     (sshd does not notice a silently dropped link), so a new one takes
//     over from it; a receiver for another stream is refused.
//   - A size bound (quota) and a full disk refuse the frame that does not
//     fit, with an error frame; the sender keeps the data. A failed write
//     is cut back to the size the file had right before it, never cutting
//     what someone else appended.
//   - The hidden files beside the file (state, its temporary, lock) may be
//     in a directory other local users can write: they are never opened
//     through a symlink (internal/fsutil), and a state file that is not
//     ours or not a state file is refused with "damaged state file, see
//     the log host's log": the sender is never shown a byte of it.
//   - A hostile sender is cheap to serve: frames that change nothing (a
//     gap to the position, data below it) cost no fsync, no state rewrite
//     and no log line, and warnings it can repeat are rate-limited.
package receiver
