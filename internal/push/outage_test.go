package push

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12340: "12,340", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// After an outage, once the lines spooled while the link was down are
// acknowledged, push says so, with their number and how long the outage
// lasted; not before they are all acknowledged, and not for a connect
// without an outage.
func TestOutageBacklogDelivered(t *testing.T) {
	te := newReliable(t, spool.Options{})
	const msg = "delivered the 12,340 lines spooled during the outage"
	te.sp.Append(lines(0, 10))
	l := newPipeLink(t, te.clk)
	r := startFakeReceiver(t, l, holding("=", 0))
	done := runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
	r.frame()
	r.ack(10 * lineLen)
	waitFor(t, func() bool { return te.d.consumer.Pending() == 0 }, "the first lines acknowledged")
	l.Kill()
	result(t, done, "the first session")
	te.exited(te.d, exitError(255)) // as the supervisor does
	if n := te.logs.count(msg); n != 0 {
		t.Fatalf("backlog reported without an outage")
	}

	te.clk.Advance(3 * time.Minute)
	te.sp.Append(lines(10, 10+12340))
	l = newPipeLink(t, te.clk)
	r = startFakeReceiver(t, l, holding("=", 10*lineLen))
	done = runSession(func() bool { return te.sendTo(context.Background(), te.d, l) })
	r.frame()
	r.ack(5000 * lineLen)
	waitFor(t, func() bool { _, a := te.d.consumer.Position(); return a == 5000*lineLen }, "the partial ack")
	if n := te.logs.count(msg); n != 0 {
		t.Fatalf("backlog reported before it was all acknowledged")
	}
	r.ack((10 + 12340) * lineLen)
	waitFor(t, func() bool { return te.logs.count(msg) == 1 }, "the backlog reported once delivered")
	l.Kill()
	result(t, done, "the second session")
}

// The advice for a connection that keeps failing names push's own fix: the
// authorized-key command for this mode and path, and that DEST must match
// the forced command.
func TestPushExplainsInItsTerms(t *testing.T) {
	te := newReliable(t, spool.Options{})
	explain := te.explain(te.d)
	if a := explain(execssh.PermissionDenied, []string{"Permission denied (publickey)."}); !strings.Contains(a.Fix, "sshlogfwd authorized-key push --reliable --from <this host's address> --key <key>.pub /var/log/remote.log") {
		t.Errorf("permission denied: fix %q", a.Fix)
	}
	if a := explain(execssh.RequestRefused, nil); !strings.Contains(a.Fix, "DEST must match the forced command") || !strings.Contains(a.Fix, "/var/log/remote.log") {
		t.Errorf("request refused: fix %q", a.Fix)
	}
	if a := explain(execssh.HostKeyUnknown, nil); !strings.Contains(a.Fix, "ssh-keyscan loghost") {
		t.Errorf("host key unknown: fix %q", a.Fix)
	}
}

// A refusal the receiver repeats at every retry is logged once, and again
// only after refusalEvery, with the count.
func TestRefusalRateLimited(t *testing.T) {
	te := newReliable(t, spool.Options{})
	const msg = "the log host refuses more data: the file reached its size bound (receive --max-size); rotate it or raise the bound; the data stays in the spool and is sent when the receiver accepts it again"
	for range 5 {
		te.logRefusal(te.d, ackproto.CodeQuota, "full")
		te.clk.Advance(time.Minute)
	}
	if n := te.logs.count(msg); n != 1 {
		t.Fatalf("refusal logged %d times within %v, want once", n, refusalEvery)
	}
	te.clk.Advance(refusalEvery)
	te.logRefusal(te.d, ackproto.CodeQuota, "full")
	if n := te.logs.count(msg); n != 2 {
		t.Fatalf("refusal not logged again after %v", refusalEvery)
	}
	te.logRefusal(te.d, ackproto.CodeRefused, "other")
	if n := te.logs.count("the log host refused the request; the data stays in the spool and is sent when the receiver accepts it again"); n != 1 {
		t.Fatalf("another refusal not logged at once")
	}
}
