// Package sdnotify tells systemd how a service is doing, over the
// notification socket of sd_notify(3): READY=1 once it is up, STATUS= with
// a one-line state for `systemctl status`, WATCHDOG=1 while it is healthy
// (a unit with WatchdogSec= restarts a service whose pings stop), and
// STOPPING=1 when it begins to stop.
//
// The protocol is a few lines (a datagram of VAR=value lines to the unix
// socket named by $NOTIFY_SOCKET), so it is spoken here directly rather
// than through coreos/go-systemd, which would be a new module for the same
// few lines.
//
// Conn is the socket; Heartbeat is what an engine drives from its report
// pass. The pass must take the engine's own locks, the ones every byte of
// data goes through: when they are wedged, the pass blocks and so do the
// pings. A ticker of its own would ping on while the engine is stuck.
package sdnotify
