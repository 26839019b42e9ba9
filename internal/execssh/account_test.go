package execssh

import (
	"strings"
	"testing"
)

// AccountProblem tells an account that cannot run any command (nologin as
// its shell, a program its shell cannot find or execute) from everything
// else, and names the account in the fix.
func TestAccountProblem(t *testing.T) {
	for _, tt := range []struct {
		name    string
		account string
		first   string
		code    int
		stderr  []string
		problem string // "" = not an account problem
		fix     string
	}{
		{name: "nologin", account: "logreader", first: "This account is currently not available.", code: 1,
			problem: "nologin as its shell", fix: "usermod -s /bin/sh logreader"},
		{name: "nologin, not exited yet", first: "This account is currently not available.\n", code: -1,
			problem: "nologin as its shell", fix: "usermod -s /bin/sh ACCOUNT"},
		{name: "not found", code: 127, stderr: []string{"sh: 1: /usr/local/bin/sshlogfwd: not found"},
			problem: "did not find the program (sh: 1: /usr/local/bin/sshlogfwd: not found)", fix: "--sshlogfwd-path"},
		{name: "not executable", account: "loguser", code: 126, stderr: []string{"sh: 1: /opt/sshlogfwd: Permission denied"},
			problem: "could not execute the program (sh: 1: /opt/sshlogfwd: Permission denied)", fix: "executable by loguser"},
		{name: "not found, bash", code: 127, stderr: []string{"bash: line 1: /nonexistent/sshlogfwd: No such file or directory"},
			problem: "did not find the program (bash: line 1: /nonexistent/sshlogfwd: No such file or directory)", fix: "install the program"},
		{name: "a line of the stream", first: "sshlogfwd-stream 1", code: -1},
		{name: "cat cannot create", code: 2, stderr: []string{"sh: 1: cannot create /x/y: Directory nonexistent"}},
		{name: "the message quoted in a log line", first: "Dec 1 web1 x: This account is currently not available.", code: 0},
	} {
		problem, fix := AccountProblem(tt.account, tt.first, tt.code, tt.stderr)
		if tt.problem == "" {
			if problem != "" || fix != "" {
				t.Errorf("%s: %q / %q, want no account problem", tt.name, problem, fix)
			}
			continue
		}
		if !strings.Contains(problem, tt.problem) || !strings.Contains(fix, tt.fix) {
			t.Errorf("%s: problem %q, fix %q; want %q and %q", tt.name, problem, fix, tt.problem, tt.fix)
		}
	}
}
