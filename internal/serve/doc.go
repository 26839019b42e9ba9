// Package serve is the watched host's side of a reliable pull: it follows
// one file with the tailer and writes it, with the exact position of every
// byte, as the stream protocol (internal/stream) that `sshlogfwd pull`
// reads. It is meant to run as the forced command of a restricted key.
//
// Its rules:
//   - Where to start is decided once, and said in the start frame: at the
//     requested cursor, found in the file at PATH or in one of its
//     rotations (resume); at the beginning of the current file when the
//     cursor's file is gone (lost); or, without a cursor, at the current
//     start or end of the file (start, end), or at its first byte once it
//     appears (wait). A fresh start is sent as an exact cursor, so that
//     pull can store it.
//   - The client chooses the cursor, and so the inode: serve reads only
//     PATH and what looks like a rotation of it (PATH.N, PATH-YYYYMMDD and
//     the other logrotate and savelog names, a regular file with PATH's
//     owner and no names elsewhere; see internal/tailer). Any other inode
//     is "lost", exactly as a file that is gone, and which neighbour holds
//     it goes only to the local log (Options.LocalLogger), never to the
//     client: serve's own log is the client's stderr under sshd.
//   - While the file is idle a heartbeat is sent every heartbeat interval:
//     it keeps the link checked and makes a write fail when the client is
//     gone.
//   - serve stops, without an error, when the client goes away: its input
//     ends, its output hangs up or a write to it fails.
//   - serve takes its request as given; it never reads the environment
//     (the caller checks SSH_ORIGINAL_COMMAND against the forced command).
//   - Under sshd (its output a pipe) the file's bytes are never copied
//     through serve: the tailer splices them into a pipe of serve's own,
//     and serve splices each frame's payload on after its header.
package serve
