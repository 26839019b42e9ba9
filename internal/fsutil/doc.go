// Package fsutil holds the careful file primitives every engine uses, each
// written once: replacing a small file atomically (WriteAtomic), reading
// one back without following a planted symlink (ReadOwned), an exclusive
// lock that says who holds it (Lock), and whether one is held, seen
// without taking it (Locked), and a file's identity (ID).
//
// sshlogfwd keeps state files beside user data (a receiver's .NAME.sshlogfwd
// next to the log file, pull's cursor, the spool's state.json), often in
// directories other local users can write. So every file created there is
// opened relative to its directory with O_NOFOLLOW, temporary files get
// random names and O_EXCL, and what is read back must be a regular file
// owned by us.
package fsutil
