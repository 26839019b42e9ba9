package check

import (
	"fmt"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
)

// This file holds the advice that needs more than a chmod: how to
// restrict a key, how to let the syslog daemon write the FIFO, what to do
// about an output, and what ssh's own complaints mean. It is kept apart so
// that the advice can grow (which flags to repeat in the suggested
// authorized-key command, group advice for a syslog daemon that does not
// run as root) without touching the checks.

// authorizedKeyCommand is the command that prints the restricted
// authorized_keys line for this setup (mode is push or pull).
func authorizedKeyCommand(mode, path string) string {
	return fmt.Sprintf("sshlogfwd authorized-key %s --from <this host's address> --key <key>.pub %s", mode, forcedcmd.ShellQuote(path))
}

// fixFIFOWriter is the fix for a FIFO the syslog daemon cannot write.
func fixFIFOWriter(syslogUser, path string) string {
	return fmt.Sprintf("chgrp a group of %s and chmod g+w %s, or give --syslog-user", syslogUser, path)
}

// fixOutputOwner is the fix for an output (or cursor file) that the user
// running pull cannot write.
func fixOutputOwner() string {
	return "chown it to the user that runs pull"
}

// fixAppendRefused is the fix for a far side that took push's compatible
// append request and exited with status code. receiveForced says that the
// far side answered with receive's refusal frame: the key is for push
// --reliable.
func fixAppendRefused(code int, receiveForced bool) string {
	switch {
	case receiveForced:
		return "the key's forced command is sshlogfwd receive: give --reliable"
	case code == 1, code == 2:
		// serve refusing the request ends with status 2 too, with
		// nothing on its output that says so.
		return "make sure the file's directory exists on the log host and the receiving account may write the file; or, if the far side refused the request (its reason is above), use the line printed by 'sshlogfwd authorized-key push' for this key"
	case code == 127:
		return "the forced command's program is not installed on the log host"
	}
	return "check the forced command in authorized_keys"
}

// explainSSHFailure turns ssh's complaint (the stderr of a run that did
// not get in) into a problem and a fix.
func (p *prober) explainSSHFailure(res probeResult) (problem, fix string) {
	role, host := p.role, p.dest.Host
	last := res.lastStderr()
	all := strings.Join(res.stderr, " ")
	has := func(s string) bool { return strings.Contains(all, s) }
	switch {
	case has("IDENTIFICATION HAS CHANGED") || has("has changed and you have requested strict checking"):
		return "the " + role + "'s host key has CHANGED since it was pinned: it was reinstalled, or someone is intercepting the connection",
			"ask the " + role + "'s administrator for its key fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub, on its console); only if it matches, remove the old key (ssh-keygen -R " + host + ") and add the new one"
	case has("host key is known") || has("Host key verification failed"):
		return "the " + role + "'s host key is not known, and the forwarder never accepts an unknown one",
			"get its fingerprint from the " + role + "'s console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), fetch it with " + p.keyscanCommand() + ", compare, and add it to known_hosts (never StrictHostKeyChecking=no)"
	case has("UNPROTECTED PRIVATE KEY") || has("bad permissions"):
		return "ssh ignored the private key because others can read it", "chmod 600 the key file"
	case has("Permission denied"):
		return "the " + role + " refused the key (" + last + ")",
			"install the line printed by 'sshlogfwd authorized-key' in the receiving account's authorized_keys, and make sure its from= matches this host's address"
	case has("Could not resolve hostname"):
		return "unknown host name (" + last + ")", "check the host name or the ~/.ssh/config alias"
	case has("Connection refused") || has("timed out") || has("No route to host") || has("Network is unreachable"):
		return "cannot reach the " + role + " (" + last + ")", "check the address, the port and the firewall"
	case has("passphrase"):
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
