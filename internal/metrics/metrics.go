package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// Type is a metric family's type.
type Type string

// The types engines use.
const (
	Counter Type = "counter"
	Gauge   Type = "gauge"
)

// Family is one metric: its name, help text, type and samples.
type Family struct {
	Name    string
	Help    string
	Type    Type
	Samples []Sample
}

// Sample is one value of a family, with its labels in the order written.
type Sample struct {
	Labels []Label
	Value  float64
}

// Label is one name="value" pair of a sample.
type Label struct{ Name, Value string }

// ErrInvalid is what Encode wraps when a family breaks the format's rules
// (a bad name, a repeated family or label set): a bug in the caller.
var ErrInvalid = errors.New("invalid metric")

// Encode returns the families in the text format. Families without samples
// are left out.
func Encode(fams []Family) ([]byte, error) {
	var b []byte
	seen := map[string]bool{}
	for _, f := range fams {
		if err := check(f, seen); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, f.Name, err)
		}
		if len(f.Samples) == 0 {
			continue
		}
		b = fmt.Appendf(b, "# HELP %s %s\n# TYPE %s %s\n", f.Name, escape(f.Help, false), f.Name, f.Type)
		for _, s := range f.Samples {
			b = append(b, f.Name...)
			b = appendLabels(b, s.Labels)
			b = append(b, ' ')
			b = appendValue(b, s.Value)
			b = append(b, '\n')
		}
	}
	return b, nil
}

// check applies the format's rules to f: valid names, a known type, a
// family named once, each label set once.
func check(f Family, seen map[string]bool) error {
	if !validName(f.Name, true) {
		return errors.New("bad metric name")
	}
	if f.Type != Counter && f.Type != Gauge {
		return fmt.Errorf("unknown type %q", f.Type)
	}
	if seen[f.Name] {
		return errors.New("family given twice")
	}
	seen[f.Name] = true
	sets := map[string]bool{}
	for _, s := range f.Samples {
		key := string(appendLabels(nil, s.Labels))
		if sets[key] {
			return fmt.Errorf("label set %s given twice", key)
		}
		sets[key] = true
		names := map[string]bool{}
		for _, l := range s.Labels {
			if !validName(l.Name, false) || strings.HasPrefix(l.Name, "__") || names[l.Name] {
				return fmt.Errorf("bad or repeated label name %q", l.Name)
			}
			names[l.Name] = true
		}
	}
	return nil
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, without colons, a label name.
func validName(s string, colon bool) bool {
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
			(i > 0 && r >= '0' && r <= '9') || (colon && r == ':')
		if !ok {
			return false
		}
	}
	return s != ""
}

func appendLabels(b []byte, labels []Label) []byte {
	if len(labels) == 0 {
		return b
	}
	b = append(b, '{')
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
		b = append(b, `="`...)
		b = append(b, escape(l.Value, true)...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// escape escapes a help text (backslash, newline) or a label value (also
// the double quote), as the format requires.
func escape(s string, quote bool) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	if quote {
		r = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	}
	return r.Replace(s)
}

// appendValue writes v as the format spells it: whole numbers without an
// exponent (counters read better), others in Go's shortest form.
func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// Seconds is t as a Unix timestamp in seconds (0 for the zero time), the
// unit of the *_timestamp_seconds gauges.
func Seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Sink takes the families of one write.
type Sink interface {
	Write(fams []Family) error
}

// File is a Sink that replaces the file at its path with each write,
// atomically (fsutil.WriteAtomic): node_exporter never reads half a file.
// The file is mode 0644, for node_exporter's user; no fsync, as it is
// rewritten soon and means nothing after a crash.
type File string

// Write replaces the file with fams.
func (f File) Write(fams []Family) error {
	b, err := Encode(fams)
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(string(f), b, 0o644, false)
}

// Writer writes an engine's metrics to a Sink: every interval while the
// engine runs, and once more when it ends. A nil *Writer does nothing.
type Writer struct {
	sink    Sink
	collect func() []Family
	log     *slog.Logger

	mu      sync.Mutex // one write at a time: the last one wins
	failing bool
}

// NewWriter returns the Writer of collect's families to sink, or nil when
// sink is nil.
func NewWriter(sink Sink, collect func() []Family, log *slog.Logger) *Writer {
	if sink == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{sink: sink, collect: collect, log: log}
}

// Run writes every interval on c until ctx ends (not at the end: the
// engine calls Write once it has stopped, with its final counters).
func (w *Writer) Run(ctx context.Context, c clock.Clock, interval time.Duration) {
	if w == nil || interval <= 0 {
		return
	}
	clock.Every(ctx, c, interval, func(time.Time) { w.Write() })
}

// Write collects and writes the metrics now. A failure is logged once,
// until a write succeeds again.
func (w *Writer) Write() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.sink.Write(w.collect())
	switch {
	case err != nil && !w.failing:
		w.log.Warn("writing the metrics file failed", "err", err)
	case err == nil && w.failing:
		w.log.Info("writing the metrics file works again")
	}
	w.failing = err != nil
}
