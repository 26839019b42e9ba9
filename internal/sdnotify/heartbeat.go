package sdnotify

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// Heartbeat turns an engine's life into messages: READY=1 with the first
// state line once the engine is up; on every report pass, STATUS= when the
// line changed and WATCHDOG=1 once half the watchdog timeout has passed
// since the last ping; STOPPING=1 when the engine begins to stop.
//
// The engine calls Beat from its report pass every Every, after taking its
// own locks to build the state line: a pass that cannot take them (a
// wedged engine) sends nothing, the pings stop and systemd restarts the
// service. STATUS= is thereby also rate-limited to one message per pass.
//
// A nil *Heartbeat (no Notifier) does nothing.
type Heartbeat struct {
	n     Notifier
	clock clock.Clock
	log   *slog.Logger

	mu       sync.Mutex
	ready    bool
	prefix   string // "stopping: " once the engine stops
	status   string
	lastPing time.Time
	failing  bool // the last message could not be sent
}

// NewHeartbeat returns the Heartbeat that tells n, or nil when n is nil.
func NewHeartbeat(n Notifier, c clock.Clock, log *slog.Logger) *Heartbeat {
	if n == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Heartbeat{n: n, clock: clock.OrReal(c), log: log}
}

// Every is how often the engine should call Beat: every second, or at half
// the watchdog timeout if that is shorter.
func (h *Heartbeat) Every() time.Duration {
	if h == nil {
		return time.Second
	}
	if wd := h.n.Watchdog(); wd > 0 && wd/2 < time.Second {
		return wd / 2
	}
	return time.Second
}

// Ready says the engine is up, with its first state line.
func (h *Heartbeat) Ready(status string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready, h.status, h.lastPing = true, status, h.clock.Now()
	h.send("READY=1", "STATUS="+status)
}

// Beat is one report pass: the state line now, which proves that the
// engine could take its locks. Before Ready it sends nothing.
func (h *Heartbeat) Beat(status string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ready {
		return
	}
	var msg []string
	status = h.prefix + status
	if status != h.status {
		h.status = status
		msg = append(msg, "STATUS="+status)
	}
	if wd := h.n.Watchdog(); wd > 0 {
		if now := h.clock.Now(); now.Sub(h.lastPing) >= wd/2 {
			h.lastPing = now
			msg = append(msg, "WATCHDOG=1")
		}
	}
	h.send(msg...)
}

// Stopping says the engine has begun to stop (it drains), with its state
// line. Passes go on during the drain (systemd's stop timeout bounds it),
// their lines now starting with "stopping: ".
func (h *Heartbeat) Stopping(status string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prefix = "stopping: "
	h.status = h.prefix + status
	h.send("STOPPING=1", "STATUS="+h.status)
}

// send sends the assignments as one message. A failure is logged once,
// until a message gets through again: the service runs on regardless.
func (h *Heartbeat) send(assignments ...string) {
	if len(assignments) == 0 {
		return
	}
	err := h.n.Notify(strings.Join(assignments, "\n"))
	switch {
	case err != nil && !h.failing:
		h.log.Warn("telling systemd the service state failed", "err", err)
	case err == nil && h.failing:
		h.log.Info("telling systemd the service state works again")
	}
	h.failing = err != nil
}

// Bytes is n for a state line: "0 B", "812 B", "12.3 KiB", "1.5 MiB".
func Bytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, i := float64(n)/1024, 0
	for f >= 1024 && i < len(units)-1 {
		f, i = f/1024, i+1
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}

// When is t for a state line, in local time to the second ("Dec  3
// 10:04:05"), or "never" for the zero time.
func When(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.Stamp)
}
