package check

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
)

// This file holds the advice that needs more than a chmod: how to
// restrict a key, how to let the syslog daemon write the FIFO, what to do
// about an output, and what ssh's own complaints mean. It is kept apart so
// that the advice can grow without touching the checks.

// keyLine is what the suggested authorized-key command must repeat of the
// checked command, so that the line it prints forces the very command push
// or pull will ask for: following the advice must not turn a reliable
// push into a compatible one.
type keyLine struct {
	mode         string // "push" or "pull"
	reliable     bool   // push --reliable: receive
	compat       bool   // pull --compat: tail
	remoteBinary string // --remote-sshlogfwd; repeated as --sshlogfwd-path when absolute
	identity     string // -i FILE: the key is FILE.pub
}

// usesSSHLogFwd reports whether the forced command runs sshlogfwd on the
// far side (receive or serve).
func (k keyLine) usesSSHLogFwd() bool {
	return k.mode == "push" && k.reliable || k.mode == "pull" && !k.compat
}

// command is the authorized-key command that prints the line for path.
func (k keyLine) command(path string) string {
	words := []string{"sshlogfwd", "authorized-key", k.mode}
	switch {
	case k.mode == "push" && k.reliable:
		words = append(words, "--reliable")
	case k.mode == "pull" && k.compat:
		words = append(words, "--compat")
	}
	if k.usesSSHLogFwd() && filepath.IsAbs(k.remoteBinary) {
		words = append(words, "--sshlogfwd-path", k.remoteBinary)
	}
	key := "<key>.pub"
	if k.identity != "" {
		key = forcedcmd.ShellQuote(k.identity + ".pub")
	}
	return forcedcmd.ShellJoin(words...) + " --from <this host's address> --key " + key + " " + forcedcmd.ShellQuote(path)
}

// FixDir is the command (run as root) that gives the user we run as the
// directory dir with mode, creating it and its parents if missing: the
// fix for a directory we cannot create files in.
func FixDir(dir string, mode fs.FileMode) string {
	return fmt.Sprintf("install -d -o %s -g %s -m %04o %s", currentUser(), currentGroup(), mode, forcedcmd.ShellQuote(dir))
}

// fixSyslogAccess is the fix that lets the syslog daemon's user through
// path, which belongs to group and has mode: write a FIFO, or enter a
// directory (isDir). The daemon gets the group (unless it is a member
// already) and the group gets the permission; a running daemon sees a new
// group only after a restart.
func fixSyslogAccess(syslogUser, path, group string, mode fs.FileMode, isDir, member bool) string {
	bit, perm := fs.FileMode(0o020), "g+w"
	unit := "if a socket unit creates the FIFO, its SocketGroup=" + group + " and SocketMode=0620 do the same"
	if isDir {
		bit, perm = 0o010, "g+x"
		unit = "under systemd, the unit's Group=" + group + " and RuntimeDirectoryMode=0750 keep it so"
	}
	var steps []string
	if mode&bit == 0 {
		steps = append(steps, "chmod "+perm+" "+forcedcmd.ShellQuote(path))
	}
	if !member {
		steps = append(steps, "usermod -aG "+group+" "+syslogUser+", then restart the syslog daemon")
	}
	return strings.Join(steps, " and ") + " (" + unit + "); or give --syslog-user if the daemon runs as another user"
}

// fixOutputOwner is the fix for an output (or cursor file) that the user
// running pull cannot write.
func fixOutputOwner(path string) string {
	return fmt.Sprintf("chown %s: %s (the user that runs pull)", currentUser(), forcedcmd.ShellQuote(path))
}

// fixAppendRefused is the fix for a far side that took push's compatible
// append request and exited with status code. receiveForced says that the
// far side answered with receive's refusal frame: the key is for push
// --reliable.
func (p *prober) fixAppendRefused(code int, receiveForced bool) string {
	switch {
	case receiveForced:
		return "the key's forced command is sshlogfwd receive: give --reliable"
	case code == 1, code == 2:
		// serve refusing the request ends with status 2 too, with
		// nothing on its output that says so.
		return "make sure the file's directory exists on the log host and the receiving account may write the file; or, if the far side refused the request (its reason is above), use the line printed by " + p.keyCommand()
	case code == 127:
		return "the forced command's program is not installed on the log host"
	}
	return "check the forced command in authorized_keys"
}

// keyCommand is the authorized-key command for this destination.
func (p *prober) keyCommand() string { return p.key.command(p.dest.Path) }

// accountFailed reports, as a FAIL of check name, a far side whose account
// cannot run any command (execssh.AccountProblem), and says whether it
// did: then nothing else about the probe is worth saying.
func (p *prober) accountFailed(name string, res probeResult) bool {
	first, _, _ := strings.Cut(string(res.stdout), "\n")
	problem, fix := execssh.AccountProblem(p.dest.User, first, res.exitCode(), res.stderr)
	if problem == "" {
		return false
	}
	p.r.fail(name, problem, fix)
	return true
}

// explainSSHFailure turns ssh's complaint (the stderr of a run that did
// not get in, sorted by execssh.Classify) into a problem and a fix.
func (p *prober) explainSSHFailure(res probeResult) (problem, fix string) {
	role, host := p.role, p.dest.Host
	last := res.lastStderr()
	switch execssh.Classify(res.stderr) {
	case execssh.HostKeyChanged:
		return "the " + role + "'s host key has CHANGED since it was pinned: it was reinstalled, or someone is intercepting the connection",
			"ask the " + role + "'s administrator for its key fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub, on its console); only if it matches, remove the old key (ssh-keygen -R " + host + ") and add the new one"
	case execssh.HostKeyUnknown:
		return "the " + role + "'s host key is not known, and the forwarder never accepts an unknown one",
			"get its fingerprint from the " + role + "'s console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), fetch it with " + p.keyscanCommand() + ", compare, and add it to known_hosts (never StrictHostKeyChecking=no)"
	case execssh.KeyExposed:
		return "ssh ignored the private key because others can read it", "chmod 600 the key file"
	case execssh.PermissionDenied:
		return "the " + role + " refused the key (" + last + ")",
			"install the line printed by " + p.keyCommand() + " in the receiving account's authorized_keys, and make sure its from= matches this host's address; an account whose password is locked ('!') is refused too where sshd runs with UsePAM no (usermod -p '*' ACCOUNT)"
	case execssh.UnknownHost:
		return "unknown host name (" + last + ")", "check the host name or the ~/.ssh/config alias"
	case execssh.Unreachable:
		return "cannot reach the " + role + " (" + last + ")", "check the address, the port and the firewall"
	case execssh.Passphrase:
		return "the key has a passphrase (" + last + ")", "use a dedicated key without passphrase"
	}
	if last == "" {
		last = fmt.Sprint(res.err)
	}
	return "ssh did not connect (" + last + ")", "run the same ssh by hand with -v to see why"
}

// keyscanCommand fetches the far side's host key from the address and
// port ssh really uses (ssh -G).
func (p *prober) keyscanCommand() string {
	keyscan := "ssh-keyscan "
	if port := p.first("port"); port != "" && port != "22" {
		keyscan += "-p " + port + " "
	}
	if h := p.first("hostname"); h != "" {
		return keyscan + h
	}
	return keyscan + p.dest.Host
}

// currentGroup is the name of our primary group, or its gid.
func currentGroup() string { return groupName(os.Getgid()) }
