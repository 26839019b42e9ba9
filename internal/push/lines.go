package push

import (
	"fmt"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// The lines push writes itself look like syslog's: a timestamp, the short
// host name, "sshlogfwd:" and the message.

// markLine is the timestamp line written every Options.Mark: it shows the
// log host we are alive and probes an idle link.
func (e *engine) markLine(now time.Time) []byte {
	return fmt.Appendf(nil, "%s %s sshlogfwd: -- MARK --\n", now.Format(time.RFC3339), e.opts.Hostname)
}

// gapLine is written in compatible mode in place of lines the spool bound
// dropped before d had them.
func (e *engine) gapLine(g spool.Gap, d *destination) []byte {
	return fmt.Appendf(nil, "%s %s sshlogfwd: dropped %d lines (%d bytes) while %s was unreachable\n",
		e.clock.Now().Format(time.RFC3339), e.opts.Hostname, g.Lines, g.Bytes, d.String())
}

// journalGapLine is written in place of journal entries that were gone
// (vacuumed, rotated away, wiped) before push read them: how many, when
// the journal can tell.
func journalGapLine(now time.Time, host string, g journal.Gap) []byte {
	return fmt.Appendf(nil, "%s %s sshlogfwd: %s\n", now.Format(time.RFC3339), host, g.String())
}

// gapNotice is the line the receiver writes in place of stream bytes it
// will never get: lines the spool bound dropped before d had them (d.gap
// counts them), or else missing bytes of the stream that had left the
// spool before d had them.
func (e *engine) gapNotice(d *destination, missing int64) []byte {
	var s string
	if d.gap.lines > 0 {
		s = fmt.Sprintf("%s %s sshlogfwd: dropped %d lines while %s was unreachable (the spool bound --spool-max was reached)\n",
			e.clock.Now().Format(time.RFC3339), e.opts.Hostname, d.gap.lines, d.String())
	} else {
		s = fmt.Sprintf("%s %s sshlogfwd: %d bytes of the stream are missing here: they had left the spool before %s had them\n",
			e.clock.Now().Format(time.RFC3339), e.opts.Hostname, missing, d.String())
	}
	if len(s) > ackproto.MaxNotice {
		s = s[:ackproto.MaxNotice-1] + "\n"
	}
	return []byte(s)
}

// logStats logs the status line: what was read, spooled, dropped, and per
// destination what was sent and how often it reconnected.
func (e *engine) logStats() {
	st := e.sp.Stats()
	args := []any{"read_lines", st.AppendedLines, "read_bytes", st.AppendedBytes,
		"spooled_bytes", st.Pending, "on_disk_bytes", st.OnDisk,
		"dropped_lines", st.DroppedLines, "dropped_bytes", st.DroppedBytes}
	for _, d := range e.dests {
		args = append(args, "sent_bytes["+d.Target()+"]", d.sent.Load(), "reconnects["+d.Target()+"]", d.reconnects.Load())
	}
	e.log.Info("status", args...)
}

// refusal is the last refusal logged for a destination: the same one again
// is logged at most every refusalEvery, with a count, so that a receiver
// that keeps refusing (a full quota, a path that does not match) does not
// fill the log at every retry.
type refusal struct {
	key      string
	at       time.Time
	repeated int
}

const refusalEvery = 10 * time.Minute

// logRefusal says loudly why the receiver refuses data, and that nothing
// is lost.
func (e *engine) logRefusal(d *destination, code ackproto.Code, text string) {
	d.stats.end(endRefused)
	r, now, key := &d.refusal, e.clock.Now(), string(code)
	if r.key == key && now.Sub(r.at) < refusalEvery {
		r.repeated++
		return
	}
	repeated := r.repeated
	*r = refusal{key: key, at: now}
	what := map[ackproto.Code]string{
		ackproto.CodeQuota:   "the log host refuses more data: the file reached its size bound (receive --max-size); rotate it or raise the bound",
		ackproto.CodeNoSpace: "the log host's disk is full",
		ackproto.CodeBusy:    "another writer is writing the file on the log host (a receiver of another stream, or sshlogfwd pull: see the reason)",
		ackproto.CodeRefused: "the log host refused the request",
	}[code]
	if what == "" {
		what = "the log host's receiver failed"
	}
	args := []any{"dest", d.String(), "code", string(code), "reason", text, "spooled_bytes", d.consumer.Pending()}
	if repeated > 0 {
		args = append(args, "repeated", repeated)
	}
	e.log.Error(what+"; the data stays in the spool and is sent when the receiver accepts it again", args...)
}
