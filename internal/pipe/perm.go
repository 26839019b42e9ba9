package pipe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// ErrUnsafe is a FIFO other users could read (and so see the log lines)
// or write (and so forge them): an existing one owned by a stranger or
// open to others, or a mode for a new one wider than MaxMode.
var ErrUnsafe = errors.New("other users could read or write the fifo")

// MaxMode is the widest mode of a FIFO we create: its owner and its group
// (the syslog daemon's) may read and write it, others nothing.
const MaxMode fs.FileMode = 0o660

// CheckMode refuses (ErrUnsafe) a mode for a new FIFO wider than MaxMode.
// Commands call it when they check their flags, so that a wrong
// --fifo-mode is a usage error before anything is created.
func CheckMode(mode fs.FileMode) error {
	if mode&^MaxMode != 0 {
		return fmt.Errorf("%w: mode %04o gives others access (at most %04o: owner and group)", ErrUnsafe, uint32(mode), uint32(MaxMode))
	}
	return nil
}

// checkExisting refuses (ErrUnsafe) a FIFO that others may use: one owned
// by neither us nor root (its owner can read or forge lines, and chmod it
// back at will), or one others may read or write (mode & 0o006). The
// error says how to fix it; nothing is changed here, since a syslog
// daemon may hold the FIFO open.
func checkExisting(path string, fi fs.FileInfo) error {
	if uid, ok := fsutil.Owner(fi); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("fifo %s: %w: owned by uid %d, neither this user (uid %d) nor root; chown it to this user, or remove it and let push create it",
			path, ErrUnsafe, uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o006 != 0 {
		return fmt.Errorf("fifo %s: %w: mode %04o lets every user read or write it; chmod o-rw %s, or remove it and let push create it",
			path, ErrUnsafe, uint32(perm), path)
	}
	return nil
}
