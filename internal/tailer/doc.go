// Package tailer follows a local log file by name across rotation, like
// `tail -F`, but without the losses that GNU tail and most of its imitators
// have.
//
// A Tailer hands out raw byte ranges (Chunks), not lines: a Chunk may end in
// the middle of a line, and a Chunk whose Event is EventRotated or
// EventTruncated tells the consumer that the byte stream restarted, so a
// partial line it holds belongs to the old stream.
//
// Every Chunk carries the Cursor right after its data: device, inode and
// offset, not the name, because the name moves during rotation while the
// inode does not. A consumer that persists the Cursor of the last Chunk it
// has safely delivered can resume from it later, even if the file has been
// renamed to name.1 in the meantime.
//
// What the Tailer does about each kind of change:
//
//   - Rename rotation (logrotate's default "create" mode): the old file is
//     kept open and read to its end, including lines its writer adds through
//     its still-open descriptor after the rename, before the Tailer switches
//     to the new file at offset 0. The switch waits until the new file has
//     data (until then the writer has evidently not reopened, so its lines
//     still go to the old file) and the old file has been quiet for a short
//     settle time. After switching, the old file is still watched for a while
//     and anything written to it late is delivered, out of order, as
//     EventLate rather than lost.
//   - Deletion: the open descriptor is read to its end; the Tailer then waits
//     for the name to reappear and treats the new file like a rotation.
//   - Truncation and copytruncate: when the size falls below the read offset,
//     or the last 128 bytes before the read offset no longer match what was
//     read (a truncation followed at once by a longer write, which GNU tail
//     misses), reading restarts at offset 0 and EventTruncated is reported.
//     These checks run whenever the Tailer has reached the end of the file,
//     before it reads anything new. Residual race: while the Tailer is
//     behind and reads without reaching the end, a truncation followed by a
//     rewrite past its offset goes unnoticed and it reads on in the new
//     content. With copytruncate, lines written between the copy and the
//     truncation, and lines we had not read before the truncation, are only
//     in the copy.
//   - Resuming from a Cursor: the file with the cursor's inode is looked for
//     at the name and among its uncompressed rotations. It is read from the
//     offset, then any rotated generations written after it (by
//     modification time), then the current file from 0. A cursor whose file
//     is gone (deleted or compressed) is logged and, by default, the current
//     file is read from 0.
//   - Which neighbours are rotations (rotation.go): only names that
//     logrotate or savelog give a rotated log (name.N; with dateext
//     name-YYYYMMDD, name-YYYYMMDDHH, name-YYYYMMDD-N, name-YYYY-MM-DD),
//     and of those only regular files (no symlinks) with the owner of the
//     followed file and no hard links outside these names. A cursor
//     chooses the inode, and serve takes cursors from its client: any
//     other file (name.private, a hard link name.1 to someone's file) is
//     never read, the position counts as lost, and why goes only to
//     Options.PrivateLogger. A resume while the followed name does not
//     exist has no owner to compare with: its position is lost too.
//   - Two rotations within one check: a generation that was at the name only
//     while the Tailer was still reading an older one is found among the
//     rotations by modification time when the Tailer switches. It is
//     missed if its last write falls in the same timestamp tick as the last
//     write to the older file (the comparison is strict so that nothing is
//     read twice).
//
// Change notification comes from inotify on the parent directory (a watch on
// the file itself is dropped by a rename), with a slow periodic check so a
// missed event cannot stall the Tailer. When inotify is unavailable or
// overflows, the Tailer falls back to polling with stat.
package tailer
