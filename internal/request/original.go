package request

import (
	"os"
	"strings"
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
