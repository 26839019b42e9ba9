package pipe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// The variables of systemd's file descriptor passing (sd_listen_fds(3)):
// the descriptors are 3, 4, ... 3+LISTEN_FDS-1 and meant for the process
// whose pid is LISTEN_PID; LISTEN_FDNAMES names them, separated by colons
// (a socket unit's name, or its FileDescriptorName=).
const (
	listenPID     = "LISTEN_PID"
	listenFDs     = "LISTEN_FDS"
	listenFDNames = "LISTEN_FDNAMES"
	listenFDStart = 3
)

// ErrNotPassed is a FIFO that systemd passed no descriptor of although it
// passed some: the socket unit's ListenFIFO= names another file than
// --fifo, or what it passed is not a FIFO open for reading and writing.
var ErrNotPassed = errors.New("systemd passed no usable descriptor of this fifo")

// FromSystemd returns the FIFO at path as systemd passed it to this
// process (a socket unit's ListenFIFO=), or nil when nothing was passed to
// us: no LISTEN_FDS, or a LISTEN_PID that is not our pid (the variables
// were meant for another process, sd_listen_fds(3)). The caller then
// opens path itself.
//
// A socket unit holds the FIFO open read-write from boot on, so the pipe,
// its size and whatever is in it outlive a reader that dies or restarts,
// and a writer never finds it without a reader. The descriptor taken must
// be the file at path (device and inode), a FIFO, open read-write (so
// reads never see EOF, as with Open) and ours or root's and closed to
// others (as Open checks); anything else is ErrNotPassed (or ErrUnsafe),
// with what was passed in the message.
//
// The LISTEN_* variables are removed from the environment and every
// passed descriptor is made close-on-exec, so that the ssh children
// inherit neither.
func FromSystemd(path string) (*FIFO, error) {
	fds, names, err := takeListenFDs()
	if err != nil || len(fds) == 0 {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("fifo %s: %w: %w", path, ErrNotPassed, err)
	}
	want, ok := fsutil.IDOf(fi)
	if !ok || fi.Mode().Type() != fs.ModeNamedPipe {
		return nil, fmt.Errorf("fifo %s: %w: the path is %s, not a named pipe", path, ErrNotPassed, fsutil.DescribeMode(fi.Mode()))
	}
	for i, fd := range fds {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || (fsutil.ID{Dev: st.Dev, Ino: st.Ino}) != want {
			continue
		}
		if err := usableFD(fd, st); err != nil {
			return nil, fmt.Errorf("fifo %s: %w: descriptor %d (%s) %w", path, ErrNotPassed, fd, names[i], err)
		}
		if err := checkExisting(path, fi); err != nil {
			return nil, err
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("fifo %s: descriptor %d: %w", path, fd, err)
		}
		// Non-blocking, so os.NewFile puts it on the poller: Close
		// unblocks a Read and deadlines work, as with Open.
		return wrap(path, os.NewFile(uintptr(fd), path)), nil
	}
	return nil, fmt.Errorf("fifo %s (device:inode %s): %w: it passed %s; the socket unit's ListenFIFO= must name the path --fifo gives",
		path, want, ErrNotPassed, describeFDs(fds, names))
}

// takeListenFDs reads and removes the LISTEN_* variables and returns the
// descriptors passed to this process, made close-on-exec, with their
// names ("" where none was given).
func takeListenFDs() (fds []int, names []string, err error) {
	pid, nfds, fdnames := os.Getenv(listenPID), os.Getenv(listenFDs), os.Getenv(listenFDNames)
	for _, v := range []string{listenPID, listenFDs, listenFDNames} {
		os.Unsetenv(v)
	}
	if nfds == "" || pid != strconv.Itoa(os.Getpid()) {
		return nil, nil, nil
	}
	n, err := strconv.Atoi(nfds)
	if err != nil || n < 0 || n > 1024 {
		return nil, nil, fmt.Errorf("%w: %s=%q is not a number of descriptors", ErrNotPassed, listenFDs, nfds)
	}
	split := strings.Split(fdnames, ":")
	for i := range n {
		fd := listenFDStart + i
		unix.CloseOnExec(fd)
		fds = append(fds, fd)
		name := ""
		if len(split) == n {
			name = split[i]
		}
		names = append(names, name)
	}
	return fds, names, nil
}

// usableFD checks that a passed descriptor of the FIFO's file is a FIFO
// open read-write.
func usableFD(fd int, st unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return errors.New("is not a FIFO")
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if fl&unix.O_ACCMODE != unix.O_RDWR {
		return errors.New("is not open read-write (ListenFIFO= opens it so)")
	}
	return nil
}

// describeFDs says what systemd passed, for an error message.
func describeFDs(fds []int, names []string) string {
	var parts []string
	for i, fd := range fds {
		what := "not open"
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			kind := "not a FIFO"
			if st.Mode&unix.S_IFMT == unix.S_IFIFO {
				kind = "a FIFO"
			}
			what = fmt.Sprintf("%s, device:inode %s", kind, fsutil.ID{Dev: st.Dev, Ino: st.Ino})
		}
		if names[i] != "" {
			what = names[i] + ": " + what
		}
		parts = append(parts, fmt.Sprintf("descriptor %d (%s)", fd, what))
	}
	return strings.Join(parts, ", ")
}
