// Package spool keeps forwarded lines, in order, while they wait for their
// destinations: in memory first, then in segment files on disk, within a
// fixed bound. It is what lets the FIFO reader drain the pipe at all times,
// link up or down, so the syslog daemon never finds the pipe full and
// never discards messages.
//
// The spool is one append-only byte stream of whole lines, addressed by
// logical offsets that never repeat. Each destination reads it through a
// Consumer with its own position; bytes are released once every consumer
// has acknowledged them. When the bound is reached the oldest segment is
// dropped; every consumer that had not read it is told how many lines and
// bytes it missed, so the gap can be made visible on the far side.
//
// Input from a pipe is moved straight into the segment files with
// splice(2) (AppendMoved, moved.go), so that at every moment each byte is
// either still in the pipe or in a file whose size counts it: a process
// killed -9 at any moment loses none of it, and Open takes all of it. An
// unfinished last line stays unseen until its end arrives.
//
// Inspect reads what a spool directory holds for each destination without
// opening it (a push may be running on it); Remove and RenameConsumer serve
// `sshlogfwd spool discard` and `deliver --to` on a spool no push holds.
//
// The directory is ours alone: one owned by another user (not root) is
// refused, one of ours others may enter is tightened to 0700, and only
// regular files of ours found in it are taken up (no symlinks), so that a
// stranger can neither read the waiting lines nor slip a file of their
// choice into the stream.
package spool
