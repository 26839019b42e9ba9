package pull

import (
	"errors"
	"syscall"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
)

// link is what a session uses of one connection: the far side's output and
// the two ways to end it. *execssh.Child provides it (childLink); tests
// give a pipe.
type link interface {
	// Read reads the far side's standard output.
	Read(p []byte) (int, error)
	// CloseStdin asks the far side to stop: its input ends.
	CloseStdin()
	// Kill ends the connection at once; reads then fail.
	Kill()
	// Name names the connection in the log, e.g. "ssh[loghost]".
	Name() string
	// Connected says that the far side answered: the connection is up
	// (the supervisor logs it).
	Connected()
}

// childLink is an ssh child as a link.
type childLink struct{ c *execssh.Child }

func (l childLink) Read(p []byte) (int, error) { return l.c.Stdout.Read(p) }
func (l childLink) CloseStdin()                { l.c.CloseStdin() }
func (l childLink) Kill()                      { l.c.Kill() }
func (l childLink) Name() string               { return l.c.Name }
func (l childLink) Connected()                 { l.c.Connected() }

// SyscallConn is the descriptor of ssh's standard output, a pipe: frame
// payloads go from it into the output with splice(2) (internal/pipe).
func (l childLink) SyscallConn() (syscall.RawConn, error) {
	sc, ok := l.c.Stdout.(syscall.Conn)
	if !ok {
		return nil, errors.New("ssh's standard output is not a descriptor")
	}
	return sc.SyscallConn()
}
