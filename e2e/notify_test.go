package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestNotifyAndMetricsPush runs the real binary as systemd would run a
// Type=notify unit with WatchdogSec=2 (NOTIFY_SOCKET at an abstract name,
// WATCHDOG_USEC) and with --metrics-file, pushing N lines through the lab's
// sshd: READY=1 comes first, the state line names the log host and then
// the delivery, WATCHDOG=1 keeps coming, STOPPING=1 comes on SIGTERM, and
// the metrics file, read by Prometheus's parser, counts N lines read, sent
// and delivered. (No systemd runs here as PID 1: the unit itself is only
// checked by systemd-analyze, in TestContribUnits.)
func TestNotifyAndMetricsPush(t *testing.T) {
	t.Parallel()
	const n, size = 2000, 100
	ln := testlab.Numbered(size)
	l := newPushLab(t, "remote.log")
	notify := testlab.ListenNotify(t, true)
	prom := filepath.Join(l.Dir, "sshlogfwd.prom")
	env := []string{"NOTIFY_SOCKET=" + notify.Socket, "WATCHDOG_USEC=2000000"}
	p := startPushEnv(t, l.SSHD.SSHConfig, l.Log, env, "--fifo", l.FIFO, "--spool", l.Spool, "--mark", "0",
		"--metrics-file", prom, "--metrics-interval", "1s", l.SSHD.Alias+":"+l.Remote)

	first := notify.Next(t, 30*time.Second)
	st, _ := testlab.Assignment(first, "STATUS")
	if !strings.HasPrefix(first, "READY=1\n") || !strings.Contains(st, l.SSHD.Alias+": ") {
		t.Fatalf("first message %q, want READY=1 with a state line naming %s", first, l.SSHD.Alias)
	}
	writeFIFO(t, l.FIFO, ln.Range(0, n))
	waitLines(t, ln, func() []byte { return readFile(l.Remote) }, n, 30*time.Second)
	notify.Await(t, 30*time.Second, "a state line with the delivery", func(m string) bool {
		st, ok := testlab.Assignment(m, "STATUS")
		return ok && strings.Contains(st, l.SSHD.Alias+": connected, last delivery ") && !strings.Contains(st, "never")
	})
	notify.Await(t, 10*time.Second, "WATCHDOG=1", func(m string) bool { return strings.Contains(m, "WATCHDOG=1") })
	if err := p.Stop(t, 30*time.Second); err != nil {
		t.Fatalf("push exit: %v", err)
	}
	msgs := notify.Pending()
	stopped := false
	for _, m := range msgs {
		stopped = stopped || strings.HasPrefix(m, "STOPPING=1\n")
	}
	if !stopped {
		t.Errorf("no STOPPING=1 after SIGTERM; got %q", msgs)
	}

	fams := parseMetrics(t, prom)
	dest := l.SSHD.Alias + ":" + l.Remote
	for name, want := range map[string]float64{
		"sshlogfwd_push_read_lines_total":         n,
		"sshlogfwd_push_sent_lines_total":         n,
		"sshlogfwd_push_sent_bytes_total":         n * size,
		"sshlogfwd_push_acknowledged_lines_total": n,
		"sshlogfwd_push_acknowledged_bytes_total": n * size,
		"sshlogfwd_push_pending_bytes":            0,
		"sshlogfwd_push_dropped_lines_total":      0,
	} {
		if got, ok := metricValue(fams, name, "dest", dest); !ok || got != want {
			t.Errorf("%s{dest=%q} = %v (found: %v), want %v", name, dest, got, ok, want)
		}
	}
}

// TestNotifyAndMetricsPull: the same for the real pull from the lab's
// sshd (serve as the forced command): READY=1 once the output and the
// cursor are open, the state line with the source and what arrived,
// WATCHDOG=1, STOPPING=1 on SIGTERM, and a metrics file that counts the
// bytes pulled.
func TestNotifyAndMetricsPull(t *testing.T) {
	t.Parallel()
	const n = 3000
	l := newPLLab(t)
	if err := os.WriteFile(l.log, plLines.Range(0, n), 0o644); err != nil {
		t.Fatal(err)
	}
	notify := testlab.ListenNotify(t, false)
	prom := filepath.Join(l.dir, "pull.prom")
	l.env = []string{"NOTIFY_SOCKET=" + notify.Socket, "WATCHDOG_USEC=2000000"}
	p := l.startPull("--from", "start", "--metrics-file", prom, "--metrics-interval", "1s")

	first := notify.Next(t, 30*time.Second)
	if st, _ := testlab.Assignment(first, "STATUS"); !strings.HasPrefix(first, "READY=1\n") || !strings.HasPrefix(st, l.src()+": ") {
		t.Fatalf("first message %q, want READY=1 with a state line naming %s", first, l.src())
	}
	waitPulled(t, l.out, n, 30*time.Second, p.log)
	notify.Await(t, 30*time.Second, "a state line with the data", func(m string) bool {
		st, ok := testlab.Assignment(m, "STATUS")
		return ok && strings.HasPrefix(st, l.src()+": connected, received ") && !strings.Contains(st, "never")
	})
	notify.Await(t, 10*time.Second, "WATCHDOG=1", func(m string) bool { return strings.Contains(m, "WATCHDOG=1") })
	if err := p.stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("pull exit: %v", err)
	}
	stopped := false
	for _, m := range notify.Pending() {
		stopped = stopped || strings.HasPrefix(m, "STOPPING=1\n")
	}
	if !stopped {
		t.Errorf("no STOPPING=1 after SIGTERM")
	}
	fams := parseMetrics(t, prom)
	for name, want := range map[string]float64{
		"sshlogfwd_pull_received_bytes_total": n * plLineSize,
		"sshlogfwd_pull_cursor_offset_bytes":  n * plLineSize,
		"sshlogfwd_pull_reconnects_total":     0,
	} {
		if got, ok := metricValue(fams, name, "src", l.src()); !ok || got != want {
			t.Errorf("%s{src=%q} = %v (found: %v), want %v", name, l.src(), got, ok, want)
		}
	}
}

// parseMetrics reads a metrics file with Prometheus's own parser.
func parseMetrics(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("metrics file: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the Prometheus parser refuses %s: %v\n%s", path, err, b)
	}
	return fams
}

// metricValue is the value of name's sample whose label is value, or its
// only sample when it has no labels.
func metricValue(fams map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		match := len(m.Label) == 0
		for _, l := range m.Label {
			match = match || (l.GetName() == label && l.GetValue() == value)
		}
		if !match {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		return m.Gauge.GetValue(), true
	}
	return 0, false
}
