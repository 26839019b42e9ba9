package push

import (
	"errors"
	"io"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
)

// Link is one connection to the far side as a session uses it: the ssh
// child's standard input and output, and its life. The engine's links are
// *execssh.Child (through child); tests drive sessions with pipes.
type Link interface {
	// Name is how the link appears in the log, e.g. "ssh[loghost]".
	Name() string
	// Stdin is the far side's input.
	Stdin() io.Writer
	// Stdout is the far side's output (reliable mode only).
	Stdout() io.Reader
	// Ready is closed once the link is connected and authenticated.
	Ready() <-chan struct{}
	// Connected says that the far side answered: the connection is up
	// (the supervisor logs it).
	Connected()
	// Done is closed once the child has exited.
	Done() <-chan struct{}
	// Err is the child's result once Done is closed; a non-zero exit
	// status is an error with a Code() int method (execssh.ExitError).
	Err() error
	// CloseStdin ends the far side's input: it writes what it has and
	// exits.
	CloseStdin()
	// Kill ends the child at once.
	Kill()
	// Uptime is how long the child has run.
	Uptime() time.Duration
}

// child is an ssh child as a Link.
type child struct{ c *execssh.Child }

func (l child) Name() string           { return l.c.Name }
func (l child) Stdin() io.Writer       { return l.c.Stdin }
func (l child) Stdout() io.Reader      { return l.c.Stdout }
func (l child) Ready() <-chan struct{} { return l.c.Ready() }
func (l child) Connected()             { l.c.Connected() }
func (l child) Done() <-chan struct{}  { return l.c.Done() }
func (l child) Err() error             { return l.c.Err() }
func (l child) CloseStdin()            { l.c.CloseStdin() }
func (l child) Kill()                  { _ = l.c.Kill() }
func (l child) Uptime() time.Duration  { return l.c.Uptime() }

// exitCode is the exit status an ended child's error reports: 0 for nil,
// -1 for a signal or an error without a status.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee interface{ Code() int }
	if errors.As(err, &ee) {
		return ee.Code()
	}
	return -1
}

// sshStatus is the exit status of ssh's own failure (could not connect or
// authenticate, or the link died), which a remote command exiting 255
// cannot be told apart from.
const sshStatus = 255
