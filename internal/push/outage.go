package push

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
)

// What push tells the administrator about a destination's link beyond
// each connect (execssh's supervisor says those): that the lines spooled
// while the link was down got through, and, for the failures only push can
// name, the fix in push's terms.

// outage is a destination's link being down, from a child's end until the
// next connect, and then the backlog spooled meanwhile until it is
// delivered: "delivered the 12,340 lines spooled during the outage".
type outage struct {
	mu     sync.Mutex
	down   bool
	since  time.Time
	lines0 int64 // lines the spool had taken in when the link went down

	// After the connect: the backlog, delivered once everything before
	// upTo is acknowledged.
	backlog bool
	lines   int64
	upTo    int64
	lasted  time.Duration
}

// lost starts an outage at now, unless one runs; appended is the spool's
// count of lines taken in.
func (o *outage) lost(now time.Time, appended int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		o.down, o.since, o.lines0 = true, now, appended
	}
}

// back ends the outage at a connect: what the spool took in meanwhile, up
// to its tail now, is the backlog.
func (o *outage) back(now time.Time, appended, tail int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		return
	}
	o.down = false
	if n := appended - o.lines0; n > 0 {
		o.backlog, o.lines, o.upTo, o.lasted = true, n, tail, now.Sub(o.since)
	}
}

// delivered takes an acknowledgement of everything before pos and reports
// the backlog once it is all acknowledged.
func (o *outage) delivered(pos int64) (lines int64, lasted time.Duration, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.backlog || pos < o.upTo {
		return 0, 0, false
	}
	o.backlog = false
	return o.lines, o.lasted, true
}

// thousands writes n with a comma every three digits: 12,340.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// connected is a session's connect to d: the supervisor says it, the
// state line and the metrics count the connection from now, and the
// outage, if there was one, ends.
func (e *engine) connected(d *destination, l Link) {
	l.Connected()
	d.stats.connected()
	_, tail := e.sp.Bounds()
	d.outage.back(e.clock.Now(), e.sp.Stats().AppendedLines, tail)
}

// logDelivered says that the lines spooled during an outage were
// delivered, once the acknowledgement of pos covers them.
func (d *destination) logDelivered(pos int64) {
	if lines, lasted, ok := d.outage.delivered(pos); ok {
		d.log.Info(fmt.Sprintf("delivered the %s lines spooled during the outage", thousands(lines)), "dest", d.String(), "outage", lasted.Round(time.Second))
	}
}

// explain is the advice for a connection to d that keeps failing, in
// push's terms where push knows better than ssh.
func (e *engine) explain(d *destination) func(execssh.Failure, []string) execssh.Advice {
	return func(f execssh.Failure, stderr []string) execssh.Advice {
		a := execssh.Explain(f, d.Target(), stderr)
		mode := "push"
		if e.opts.Reliable {
			mode = "push --reliable"
		}
		switch f {
		case execssh.PermissionDenied:
			a.Fix = fmt.Sprintf("install the line printed by 'sshlogfwd authorized-key %s --from <this host's address> --key <key>.pub %s' in the log host account's authorized_keys", mode, forcedcmd.ShellQuote(d.Path))
		case execssh.RequestRefused:
			a.Fix = fmt.Sprintf("DEST must match the forced command: the key's forced command in authorized_keys on the log host must name %s, or DEST the file it names", d.Path)
		}
		return a
	}
}
