package execssh

import (
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// Classify sorts ssh's complaints (OpenSSH 9.2's wording) and our forced
// commands' refusals.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		stderr []string
		want   Failure
	}{
		{[]string{"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @", "Host key verification failed."}, HostKeyChanged},
		{[]string{"No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.", "Host key verification failed."}, HostKeyUnknown},
		{[]string{`Load key "k": bad permissions`, "u@h: Permission denied (publickey)."}, KeyExposed},
		{[]string{"u@h: Permission denied (publickey)."}, PermissionDenied},
		{[]string{"ssh: Could not resolve hostname nosuch: Name or service not known"}, UnknownHost},
		{[]string{"ssh: connect to host 127.0.0.1 port 2: Connection refused"}, Unreachable},
		{[]string{"ssh: connect to host 10.0.0.1 port 22: Connection timed out"}, Unreachable},
		{[]string{`Load key "k": incorrect passphrase supplied to decrypt private key`}, Passphrase},
		{[]string{`level=ERROR msg="SSH_ORIGINAL_COMMAND: the request names /a.log, this key may only append to /b.log"`}, RequestRefused},
		{[]string{`time=2026-12-02T07:50:04.101Z level=ERROR msg="receive /x.log: /x.log is written by sshlogfwd pull (pid 3)"`}, FarSideFailed},
		{[]string{`level=WARN msg="slow disk"`}, FailureOther},
		{[]string{"kex_exchange_identification: Connection closed by remote host"}, FailureOther},
		{nil, FailureOther},
	} {
		if got := Classify(tc.stderr); got != tc.want {
			t.Errorf("Classify(%q) = %v, want %v", tc.stderr, got, tc.want)
		}
	}
}

func newHealth(t *testing.T) (*health, *clock.Fake, *logBuf) {
	log, buf := newLog()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	return &health{log: log, clk: clk, target: "loghost", doing: "delivering",
		explain: func(f Failure, stderr []string) Advice { return Explain(f, "loguser@loghost", stderr) }}, clk, buf
}

var hostKeyUnknown = []string{"No ED25519 host key is known for loghost and you have requested strict checking.", "Host key verification failed."}

// Every connect is said with its time. A failure is explained with its fix
// at the third attempt in a row; after that the attempts are quiet, and
// only every remindEvery is it said again, with the count; a changed cause
// is said at once; the connect after it says how long it failed.
func TestHealthReportsPersistentFailure(t *testing.T) {
	h, clk, buf := newHealth(t)
	h.connected(212 * time.Millisecond)
	if !strings.Contains(buf.String(), `level=INFO msg="connected to loghost in 212 ms; delivering"`) {
		t.Fatalf("connect not said:\n%s", buf)
	}
	for i := range reportAfter - 1 {
		h.failed(hostKeyUnknown)
		if h.quiet() || strings.Contains(buf.String(), "ERROR") {
			t.Fatalf("attempt %d: quiet %v, log:\n%s", i+1, h.quiet(), buf)
		}
	}
	h.failed(hostKeyUnknown)
	if !h.quiet() || strings.Count(buf.String(), "ERROR") != 1 ||
		!strings.Contains(buf.String(), "cannot connect to loghost: the far side's host key is not in known_hosts") ||
		!strings.Contains(buf.String(), "fetch it with ssh-keyscan loghost") || !strings.Contains(buf.String(), "attempts=3") {
		t.Fatalf("third attempt: quiet %v, log:\n%s", h.quiet(), buf)
	}
	for range 20 {
		clk.Advance(remindEvery / 40)
		h.failed(hostKeyUnknown)
	}
	if n := strings.Count(buf.String(), "ERROR"); n != 1 {
		t.Fatalf("%d errors within the reminder interval, want 1:\n%s", n, buf)
	}
	clk.Advance(remindEvery / 2)
	h.failed(hostKeyUnknown)
	if !strings.Contains(buf.String(), "still cannot connect to loghost") || !strings.Contains(buf.String(), "attempts=24") {
		t.Fatalf("no reminder with the count after %v:\n%s", remindEvery, buf)
	}
	h.failed([]string{"u@loghost: Permission denied (publickey)."})
	if !strings.Contains(buf.String(), "the far side refuses the key") || !strings.Contains(buf.String(), "sshlogfwd authorized-key") {
		t.Fatalf("changed cause not said at once:\n%s", buf)
	}
	h.connected(300 * time.Millisecond)
	if h.quiet() || !strings.Contains(buf.String(), "after_failed_attempts=25") {
		t.Fatalf("recovery: quiet %v, log:\n%s", h.quiet(), buf)
	}
}

// The advice names the host to scan and the key line to install.
func TestExplainAdvice(t *testing.T) {
	for f, want := range map[Failure]string{
		HostKeyChanged:   "ssh-keygen -R web1",
		HostKeyUnknown:   "ssh-keyscan web1",
		PermissionDenied: "sshlogfwd authorized-key",
		RequestRefused:   "forced command in authorized_keys",
		FarSideFailed:    "far host's setup",
		Unreachable:      "firewall",
		FailureOther:     "-v",
	} {
		if a := Explain(f, "user@web1", []string{"x"}); !strings.Contains(a.Fix, want) {
			t.Errorf("%v: fix %q lacks %q", f, a.Fix, want)
		}
	}
}
