package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
)

// TestReportFlags: --metrics-interval needs --metrics-file and at least a
// second; a metrics file in a directory that is not there is a usage
// error; without --metrics-file there is no sink.
func TestReportFlags(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		flags ReportFlags
		usage bool
	}{
		{"none", ReportFlags{MetricsInterval: 30 * time.Second}, false},
		{"file", ReportFlags{MetricsFile: filepath.Join(dir, "m.prom"), MetricsInterval: 30 * time.Second}, false},
		{"interval alone", ReportFlags{MetricsInterval: time.Minute}, true},
		{"interval too short", ReportFlags{MetricsFile: filepath.Join(dir, "m.prom"), MetricsInterval: 100 * time.Millisecond}, true},
		{"no such directory", ReportFlags{MetricsFile: filepath.Join(dir, "missing", "m.prom"), MetricsInterval: 30 * time.Second}, true},
	}
	for _, c := range cases {
		err := c.flags.validate()
		if err == nil {
			err = c.flags.checkPath()
		}
		if got := err != nil && isUsage(err); got != c.usage || (err != nil && !got) {
			t.Errorf("%s: err %v, want a usage error: %v", c.name, err, c.usage)
		}
	}
	if (&ReportFlags{}).sink() != nil {
		t.Error("a sink without --metrics-file")
	}
	if s, ok := (&ReportFlags{MetricsFile: "/x.prom"}).sink().(metrics.File); !ok || string(s) != "/x.prom" {
		t.Errorf("sink %v, want the file", s)
	}
}
