package pull

import (
	"errors"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
)

// notStreamMessage says what answered instead of serve's stream (err wraps
// stream.ErrNotStream), and what to do: an account that cannot run any
// command (nologin as its shell) is told apart from a key whose forced
// command is something else.
func notStreamMessage(err error) string {
	var ns *stream.NotStreamError
	if errors.As(err, &ns) {
		if problem, fix := execssh.AccountProblem("", ns.First, -1, nil); problem != "" {
			return problem + ". Fix: " + fix
		}
	}
	return "the far side did not answer with the sshlogfwd stream: is its forced command something else, such as tail -f? Use --compat for that, or install sshlogfwd serve there"
}
