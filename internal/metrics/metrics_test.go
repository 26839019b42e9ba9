package metrics

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample families: every rule the encoder must get right in one file.
var sample = []Family{
	{Name: "sshlogfwd_test_sent_bytes_total", Help: "Bytes sent.\nSecond line with a \\ backslash.", Type: Counter, Samples: []Sample{
		{Labels: []Label{{"dest", "loghost:/var/log/remote.log"}}, Value: 1234567},
		{Labels: []Label{{"dest", `odd "quoted"\host` + "\n:/x"}}, Value: 0},
	}},
	{Name: "sshlogfwd_test_reconnects_total", Help: "Reconnects.", Type: Counter, Samples: []Sample{
		{Labels: []Label{{"dest", "a"}, {"reason", "connect_failed"}}, Value: 3},
		{Labels: []Label{{"dest", "a"}, {"reason", "link_died"}}, Value: 1 << 60},
	}},
	{Name: "sshlogfwd_test_age_seconds", Help: "An age.", Type: Gauge, Samples: []Sample{{Value: 1.5}}},
	{Name: "sshlogfwd_test_special", Help: "Specials.", Type: Gauge, Samples: []Sample{
		{Labels: []Label{{"v", "nan"}}, Value: math.NaN()},
		{Labels: []Label{{"v", "inf"}}, Value: math.Inf(1)},
		{Labels: []Label{{"v", "-inf"}}, Value: math.Inf(-1)},
		{Labels: []Label{{"v", "tiny"}}, Value: 1e-9},
	}},
	{Name: "sshlogfwd_test_empty", Help: "No samples: left out.", Type: Gauge},
}

// TestEncodeParses: what Encode writes is read back by Prometheus's own
// parser with the same names, types, help texts, labels and values.
func TestEncodeParses(t *testing.T) {
	b, err := Encode(sample)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("encoded:\n%s", b)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	got, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the Prometheus parser refuses the output: %v", err)
	}
	if _, ok := got["sshlogfwd_test_empty"]; ok || len(got) != len(sample)-1 {
		t.Errorf("parsed %d families, want %d without the empty one", len(got), len(sample)-1)
	}
	for _, f := range sample[:len(sample)-1] {
		pf := got[f.Name]
		if pf == nil {
			t.Errorf("family %s missing", f.Name)
			continue
		}
		wantType := map[Type]dto.MetricType{Counter: dto.MetricType_COUNTER, Gauge: dto.MetricType_GAUGE}[f.Type]
		if pf.GetType() != wantType || pf.GetHelp() != f.Help {
			t.Errorf("%s: type %v help %q, want %v %q", f.Name, pf.GetType(), pf.GetHelp(), wantType, f.Help)
		}
		if len(pf.Metric) != len(f.Samples) {
			t.Errorf("%s: %d samples, want %d", f.Name, len(pf.Metric), len(f.Samples))
			continue
		}
		for i, s := range f.Samples {
			checkSample(t, f, s, pf.Metric[i])
		}
	}
}

func checkSample(t *testing.T, f Family, s Sample, m *dto.Metric) {
	t.Helper()
	var v float64
	if f.Type == Counter {
		v = m.GetCounter().GetValue()
	} else {
		v = m.GetGauge().GetValue()
	}
	if v != s.Value && !(math.IsNaN(v) && math.IsNaN(s.Value)) {
		t.Errorf("%s%v: value %v, want %v", f.Name, s.Labels, v, s.Value)
	}
	labels := map[string]string{}
	for _, l := range m.Label {
		labels[l.GetName()] = l.GetValue()
	}
	for _, l := range s.Labels {
		if labels[l.Name] != l.Value {
			t.Errorf("%s: label %s=%q, want %q", f.Name, l.Name, labels[l.Name], l.Value)
		}
	}
}

// TestEncodeRefuses: families that would break the format are refused
// rather than written.
func TestEncodeRefuses(t *testing.T) {
	ok := Sample{Labels: []Label{{"dest", "a"}}, Value: 1}
	for name, f := range map[string]Family{
		"name with a dash":   {Name: "bad-name", Type: Gauge, Samples: []Sample{ok}},
		"name with a digit":  {Name: "1st", Type: Gauge, Samples: []Sample{ok}},
		"empty name":         {Name: "", Type: Gauge, Samples: []Sample{ok}},
		"unknown type":       {Name: "x", Type: "histogram", Samples: []Sample{ok}},
		"label with a colon": {Name: "x", Type: Gauge, Samples: []Sample{{Labels: []Label{{"a:b", "v"}}}}},
		"reserved label":     {Name: "x", Type: Gauge, Samples: []Sample{{Labels: []Label{{"__name__", "v"}}}}},
		"repeated label":     {Name: "x", Type: Gauge, Samples: []Sample{{Labels: []Label{{"a", "v"}, {"a", "w"}}}}},
		"repeated label set": {Name: "x", Type: Gauge, Samples: []Sample{ok, ok}},
	} {
		if _, err := Encode([]Family{f}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	twice := Family{Name: "x", Type: Gauge, Samples: []Sample{ok}}
	if _, err := Encode([]Family{twice, twice}); !errors.Is(err, ErrInvalid) {
		t.Errorf("family given twice: err %v, want ErrInvalid", err)
	}
}

// TestFileReplaces: each write replaces the file whole, readable by others
// (node_exporter's user), and leaves no temporary file a *.prom glob
// would pick up.
func TestFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sshlogfwd.prom")
	f := File(path)
	for _, v := range []float64{1, 2} {
		if err := f.Write([]Family{{Name: "x", Help: "x", Type: Gauge, Samples: []Sample{{Value: v}}}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(string(b), "x 2\n") || strings.Contains(string(b), "x 1\n") {
		t.Errorf("file: %q %v, want the second write only", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.prom")); len(m) != 1 {
		t.Errorf("*.prom files: %q, want one", m)
	}
}
