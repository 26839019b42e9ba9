package execssh

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// Connection health, as the administrator reads it in the log: every
// connect is said (INFO), a connection failure is logged as it comes for
// the first few attempts, and when it persists it is explained once, with
// the fix (ERROR), and from then on only reminded now and then, with a
// count, instead of every attempt.

// reportAfter is the attempt at which a persistent failure is explained;
// remindEvery how often it is said again while it lasts.
const (
	reportAfter = 3
	remindEvery = 10 * time.Minute
)

// Advice is what to tell the administrator about a persistent failure.
type Advice struct{ Problem, Fix string }

// Explain is the default advice for f in connecting to target
// ([user@]host); stderr is ssh's complaint. The engines may give their own
// (see Supervisor.Explain).
func Explain(f Failure, target string, stderr []string) Advice {
	host := target[strings.LastIndexByte(target, '@')+1:]
	last := ""
	if n := len(stderr); n > 0 {
		last = stderr[n-1]
	}
	switch f {
	case HostKeyChanged:
		return Advice{"the far side's host key has CHANGED since it was pinned (reinstalled, or someone intercepts the connection)", "compare its fingerprint on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); only if it matches, ssh-keygen -R " + host + " and add the new key"}
	case HostKeyUnknown:
		return Advice{"the far side's host key is not in known_hosts, and an unknown key is never accepted", "fetch it with ssh-keyscan " + host + " (with -p PORT if it is not 22), compare its fingerprint with the one on the host's console, and add it to known_hosts (never StrictHostKeyChecking=no)"}
	case KeyExposed:
		return Advice{"ssh ignores the private key because others can read it", "chmod 600 the key file"}
	case PermissionDenied:
		return Advice{"the far side refuses the key (" + last + ")", "install the line printed by 'sshlogfwd authorized-key' in the far account's authorized_keys, with a from= that matches this host"}
	case UnknownHost:
		return Advice{"unknown host name (" + last + ")", "check the host name or the ~/.ssh/config alias"}
	case Unreachable:
		return Advice{"cannot reach the far side (" + last + ")", "check the address, the port and the firewall"}
	case Passphrase:
		return Advice{"the key has a passphrase", "use a dedicated key without passphrase"}
	case RequestRefused:
		return Advice{"the far side's forced command refuses the request (" + last + ")", "the path asked for must be the one in the key's forced command in authorized_keys"}
	case FarSideFailed:
		return Advice{"sshlogfwd on the far side gives up: " + farError(stderr), "what it says above; the far host's setup must change"}
	}
	if last == "" {
		last = "ssh said nothing"
	}
	return Advice{"the connection does not come up (" + last + ")", "run the same ssh by hand with -v to see why"}
}

// health tracks one supervisor's connections.
type health struct {
	log     *slog.Logger
	clk     clock.Clock
	target  string // "loghost"
	doing   string // "delivering"
	explain func(Failure, []string) Advice

	mu       sync.Mutex
	failures int       // attempts in a row that did not connect
	since    time.Time // the first of them
	kind     Failure   // what was last explained
	reminded time.Time
}

// quiet reports whether a persistent failure is being reported: the
// per-attempt lines (ssh's complaints, the exit) are then left out.
func (h *health) quiet() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures >= reportAfter
}

// connected says that a connection came up after took, and ends a run of
// failures.
func (h *health) connected(took time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := fmt.Sprintf("connected to %s in %d ms; %s", h.target, took.Milliseconds(), h.doing)
	if h.failures >= reportAfter {
		h.log.Info(msg, "after_failed_attempts", h.failures, "failing_for", clock.Since(h.clk, h.since).Round(time.Second))
	} else {
		h.log.Info(msg)
	}
	h.failures = 0
}

// up ends a run of failures without a word: the session carried data
// without saying it connected.
func (h *health) up() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures = 0
}

// failed counts an attempt that did not connect; stderr is ssh's last
// complaint. At the reportAfter-th attempt in a row, and when the cause
// changes, the failure is explained; then reminded every remindEvery.
func (h *health) failed(stderr []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clk.Now()
	if h.failures == 0 {
		h.since = now
	}
	h.failures++
	kind := Classify(stderr)
	switch {
	case h.failures < reportAfter:
		return
	case h.failures == reportAfter || kind != h.kind:
		a := h.explain(kind, stderr)
		h.log.Error(fmt.Sprintf("cannot connect to %s: %s; fix: %s", h.target, a.Problem, a.Fix),
			"attempts", h.failures, "failing_for", now.Sub(h.since).Round(time.Second), "cause", kind.String())
	case now.Sub(h.reminded) >= remindEvery:
		a := h.explain(kind, stderr)
		h.log.Error(fmt.Sprintf("still cannot connect to %s: %s; fix: %s", h.target, a.Problem, a.Fix),
			"attempts", h.failures, "failing_for", now.Sub(h.since).Round(time.Second), "cause", kind.String())
	default:
		return
	}
	h.kind, h.reminded = kind, now
}
