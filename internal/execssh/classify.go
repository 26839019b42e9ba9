package execssh

import (
	"log/slog"
	"strings"
)

// Failure is what kept ssh from getting through, read from its stderr.
// check turns it into a FAIL line, push and pull into the error they log
// once a connection keeps failing; each says the fix in its own words.
type Failure int

// The failures Classify tells apart.
const (
	// FailureOther is anything else (or nothing said: ssh -q).
	FailureOther Failure = iota
	// HostKeyChanged: the far side's key differs from the pinned one.
	HostKeyChanged
	// HostKeyUnknown: no key is pinned for the far side.
	HostKeyUnknown
	// KeyExposed: ssh ignored a private key others can read.
	KeyExposed
	// PermissionDenied: the far side refused the key.
	PermissionDenied
	// UnknownHost: the name does not resolve.
	UnknownHost
	// Unreachable: refused, timed out, no route.
	Unreachable
	// Passphrase: the key needs a passphrase.
	Passphrase
	// RequestRefused: our forced command (receive, serve) refused the
	// request: the path asked for is not the one in authorized_keys.
	RequestRefused
	// FarSideFailed: our far side (receive, serve) logged an error and
	// gave up; its message says why.
	FarSideFailed
)

// String names the failure for the log.
func (f Failure) String() string {
	return [...]string{"other", "host key changed", "host key unknown", "private key readable by others",
		"permission denied", "unknown host", "unreachable", "key has a passphrase", "request refused", "far side failed"}[f]
}

// classes are the stderr phrases of each failure, in the order they are
// tried (OpenSSH 9.2's wording; the first match wins: a changed key also
// says "Host key verification failed", an exposed key also "Permission
// denied").
var classes = []struct {
	f       Failure
	phrases []string
}{
	{HostKeyChanged, []string{"IDENTIFICATION HAS CHANGED", "has changed and you have requested strict checking"}},
	{HostKeyUnknown, []string{"host key is known", "Host key verification failed"}},
	{KeyExposed, []string{"UNPROTECTED PRIVATE KEY", "bad permissions"}},
	{PermissionDenied, []string{"Permission denied"}},
	{UnknownHost, []string{"Could not resolve hostname"}},
	{Unreachable, []string{"Connection refused", "timed out", "No route to host", "Network is unreachable"}},
	{Passphrase, []string{"passphrase"}},
	// receive and serve refuse with an error on SSH_ORIGINAL_COMMAND.
	{RequestRefused, []string{"SSH_ORIGINAL_COMMAND"}},
}

// Classify sorts ssh's complaints (the stderr lines of a run that did not
// get through) into a Failure.
func Classify(stderr []string) Failure {
	all := strings.Join(stderr, " ")
	for _, c := range classes {
		for _, p := range c.phrases {
			if strings.Contains(all, p) {
				return c.f
			}
		}
	}
	if farError(stderr) != "" {
		return FarSideFailed
	}
	return FailureOther
}

// farError is the last error our far side logged among stderr, "" if
// none.
func farError(stderr []string) string {
	for i := len(stderr) - 1; i >= 0; i-- {
		if l := parseFarLine(stderr[i]); l.ours && l.level >= slog.LevelError {
			return l.msg
		}
	}
	return ""
}
