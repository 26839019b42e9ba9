package main

import (
	"fmt"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/check"
	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// ReportFlags are push's and pull's flags for monitoring. (systemd's
// notifications need none: $NOTIFY_SOCKET says where they go.)
type ReportFlags struct {
	MetricsFile     string        `name:"metrics-file" help:"Write metrics in the Prometheus text format to this file, replaced atomically, for node_exporter's textfile collector (e.g. /var/lib/prometheus/node-exporter/sshlogfwd.prom: it reads only *.prom files). No port is opened. Names: docs/metrics.md." placeholder:"PATH"`
	MetricsInterval time.Duration `name:"metrics-interval" help:"With --metrics-file: how often it is written (and once more at exit)." default:"30s"`
}

func (r *ReportFlags) validate() error {
	if r.MetricsFile == "" {
		return usage.OnlyWith("--metrics-file", false, map[string]bool{"--metrics-interval": r.MetricsInterval != 30*time.Second})
	}
	if r.MetricsInterval < time.Second {
		return usage.Flag("--metrics-interval", fmt.Errorf("%s is too short (at least 1s)", r.MetricsInterval))
	}
	return nil
}

// checkPath refuses a --metrics-file push or pull cannot write
// (check.MetricsPath; not in validate: check reports it as a finding).
func (r *ReportFlags) checkPath() error { return check.MetricsPath(r.MetricsFile) }

// sink is where the metrics go, nil for none.
func (r *ReportFlags) sink() metrics.Sink {
	if r.MetricsFile == "" {
		return nil
	}
	return metrics.File(r.MetricsFile)
}
