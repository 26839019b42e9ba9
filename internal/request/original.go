package request

import (
	"os"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// Original is the client's request when sshd runs us as a forced command:
// SSH_ORIGINAL_COMMAND, which sshd sets to what the client asked for. No
// request (ok false): the variable is unset (no forced command, or a
// plain key running "sshlogfwd serve ..."), or blank (the client asked for
// no command), and our own command line decides.
func Original() (request string, ok bool) {
	return original(os.LookupEnv)
}

func original(lookup func(string) (string, bool)) (string, bool) {
	v, set := lookup("SSH_ORIGINAL_COMMAND")
	if !set || strings.Trim(v, " \t") == "" {
		return "", false
	}
	return v, true
}

// SSHDVariables are set by sshd in the sessions it starts: SSH_CONNECTION
// in every one, SSH_ORIGINAL_COMMAND when a forced command replaced what
// the client asked for.
var SSHDVariables = []string{"SSH_ORIGINAL_COMMAND", "SSH_CONNECTION"}

// UnderSSHD reports whether we run in a session sshd started (lookup is
// os.LookupEnv): there the environment is partly the client's.
func UnderSSHD(lookup func(string) (string, bool)) bool {
	for _, v := range SSHDVariables {
		if _, ok := lookup(v); ok {
			return true
		}
	}
	return false
}

// ServeOf is the request serve answers for path: the client's
// (SSH_ORIGINAL_COMMAND, ParseServe) when sshd set one, else own, what
// serve's own command line says (a forced command may carry --from; a
// plain key runs "sshlogfwd serve --cursor C PATH"). A refused request is
// a usage error naming SSH_ORIGINAL_COMMAND.
func ServeOf(path string, own ServeRequest) (ServeRequest, error) {
	return serveOf(os.LookupEnv, path, own)
}

func serveOf(lookup func(string) (string, bool), path string, own ServeRequest) (ServeRequest, error) {
	orig, forced := original(lookup)
	if !forced {
		return own, nil
	}
	req, err := ParseServe(path, orig)
	if err != nil {
		return ServeRequest{}, usage.Flag("SSH_ORIGINAL_COMMAND", err)
	}
	return req, nil
}

// CheckReceive refuses (a usage error naming SSH_ORIGINAL_COMMAND) a
// client's request other than receive's own for path (ParseReceive); no
// request is receive's own command line.
func CheckReceive(path string) error { return checkReceive(os.LookupEnv, path) }

func checkReceive(lookup func(string) (string, bool), path string) error {
	if orig, forced := original(lookup); forced {
		return usage.Flag("SSH_ORIGINAL_COMMAND", ParseReceive(path, orig))
	}
	return nil
}
