package sdnotify

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier is what an engine tells the service manager about: *Conn, or a
// fake in tests.
type Notifier interface {
	// Notify sends one message: VAR=value assignments, one per line.
	Notify(state string) error
	// Watchdog is the service manager's watchdog timeout (0: none): a
	// healthy service sends WATCHDOG=1 well within it.
	Watchdog() time.Duration
}

// Conn sends messages to the service manager's notification socket.
type Conn struct {
	socket   string
	watchdog time.Duration
}

// The environment of the protocol (sd_notify(3), sd_watchdog_enabled(3)).
const (
	envSocket      = "NOTIFY_SOCKET"
	envWatchdog    = "WATCHDOG_USEC"
	envWatchdogPID = "WATCHDOG_PID"
)

// ErrUnsupported is a $NOTIFY_SOCKET this package cannot send to (one
// that is neither a path nor an abstract name, e.g. vsock:).
var ErrUnsupported = errors.New("unsupported notification socket")

// FromEnv returns the Conn that $NOTIFY_SOCKET names, or nil when it is
// unset (not started by systemd with Type=notify). Its watchdog timeout
// comes from $WATCHDOG_USEC, unless $WATCHDOG_PID names another process.
// The variables are removed from the environment, so that children (ssh)
// do not take the messages as meant for them.
//
// A bad $WATCHDOG_USEC is returned as an error along with a Conn without
// a watchdog: the service can still say it is ready.
func FromEnv() (*Conn, error) {
	socket := os.Getenv(envSocket)
	usec, pid := os.Getenv(envWatchdog), os.Getenv(envWatchdogPID)
	for _, v := range []string{envSocket, envWatchdog, envWatchdogPID} {
		os.Unsetenv(v)
	}
	if socket == "" {
		return nil, nil
	}
	c, err := Dial(socket)
	if err != nil {
		return nil, err
	}
	c.watchdog, err = watchdogTimeout(usec, pid, os.Getpid())
	return c, err
}

// Dial returns a Conn to socket: a path, or an abstract name starting with
// "@". Nothing is sent yet.
func Dial(socket string) (*Conn, error) {
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return nil, fmt.Errorf("%s=%q: %w", envSocket, socket, ErrUnsupported)
	}
	// unix.SockaddrUnix maps a leading "@" to the abstract namespace.
	return &Conn{socket: socket}, nil
}

// watchdogTimeout is the timeout $WATCHDOG_USEC (usec) gives process self;
// 0 when it is unset or $WATCHDOG_PID (pid) names another process.
func watchdogTimeout(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: not a process id", envWatchdogPID, pid)
		}
		if p != self {
			return 0, nil
		}
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 || n > uint64(time.Duration(1<<62)/time.Microsecond) {
		return 0, fmt.Errorf("%s=%q: not a positive number of microseconds", envWatchdog, usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Notify sends state as one datagram. Each message gets a socket of its
// own, as sd_notify does: a service manager that was restarted meanwhile
// is found again under the same name. The socket does not block: a service
// manager that does not read its queue loses a message rather than stall
// the engine. (System calls directly: the net package would add 200 KB to
// the binary for this.)
func (c *Conn) Notify(state string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("notify %s: socket: %w", c.socket, err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, []byte(state), unix.MSG_NOSIGNAL, &unix.SockaddrUnix{Name: c.socket}); err != nil {
		return fmt.Errorf("notify %s: %w", c.socket, err)
	}
	return nil
}

// Watchdog is the watchdog timeout from $WATCHDOG_USEC (0: none).
func (c *Conn) Watchdog() time.Duration { return c.watchdog }
