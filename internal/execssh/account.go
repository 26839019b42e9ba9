package execssh

import (
	"fmt"
	"strings"
)

// nologinMessage is what nologin(8) prints on its standard output (the
// util-linux and the shadow versions alike) before it exits 1.
const nologinMessage = "This account is currently not available."

// AccountProblem recognizes a far side whose account cannot run the remote
// command at all, whatever the command is: sshd runs every command, a
// forced one too, as "$SHELL -c COMMAND" with the account's login shell.
// With nologin (or false) as that shell nothing runs; a shell that cannot
// find or execute the program ends with status 127 or 126.
//
// account names the far side's account in the fix ("" if unknown), first
// is the first line the far side printed, code its exit status (-1 if not
// known yet) and stderr its last complaints. problem and fix are empty when
// none of these signs is there: then the account is not the problem (as
// far as can be seen from here).
func AccountProblem(account, first string, code int, stderr []string) (problem, fix string) {
	if account == "" {
		account = "ACCOUNT"
	}
	last := ""
	if n := len(stderr); n > 0 {
		last = stderr[n-1]
	}
	switch {
	case strings.TrimSpace(first) == nologinMessage:
		return fmt.Sprintf("the far side's account has nologin as its shell (it answered %q): sshd runs every command, the forced one too, through the account's shell, so nothing runs", nologinMessage),
			fmt.Sprintf("give the account a shell on the far side (usermod -s /bin/sh %s); the key's forced command still decides what it can do", account)
	case code == 127:
		// dash says "not found", bash "No such file or directory" (for
		// an absolute path) or "command not found".
		return fmt.Sprintf("the far side's account cannot run the forced command: its shell did not find the program (%s)", last),
			"install the program at the path the key's forced command names (for sshlogfwd: the --sshlogfwd-path given to authorized-key, /usr/local/bin/sshlogfwd by default), or correct the forced command"
	case code == 126:
		return fmt.Sprintf("the far side's account cannot run the forced command: its shell could not execute the program (%s)", last),
			fmt.Sprintf("make the program executable by %s on the far side (chmod 755 it, and let %s enter its directories)", account, account)
	}
	return "", ""
}
