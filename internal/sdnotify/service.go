package sdnotify

import "log/slog"

// Service is the notification socket of the service manager that started
// us with Type=notify (FromEnv), or nil: not a nil *Conn in a non-nil
// interface. A socket it cannot use is logged, not fatal: systemd then
// says the start timed out, which points here.
func Service(log *slog.Logger) Notifier {
	c, err := FromEnv()
	if err != nil {
		log.Warn("cannot tell systemd how the service is doing", "err", err)
	}
	if c == nil {
		return nil
	}
	return c
}
