package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"time"
)

// Results is everything one harness run measured. It is saved as JSON next
// to the plot, so the report can be rendered again without a new run.
type Results struct {
	Started    time.Time
	Duration   Seconds // wall time of the whole run
	LoadAvgEnd string  // /proc/loadavg at the end
	Machine    Machine
	Command    string   // how the run was started
	Settings   []string // the harness flags, "name=value"
	Binary     Binary   // what the built sshlogfwd offered
	Lines      int      // lines per throughput run
	LineSize   int      // bytes per line, newline included
	Rounds     int      // throughput rounds (every mode once per round)
	Notes      []string // what the run had to skip or work around

	// DryRun: the run did not wait for a quiet machine and may have had
	// fewer than 5 rounds (-dry-run): its figures are not a measurement.
	DryRun bool `json:",omitempty"`
	// MaxLoad is the 1-minute load average the run waited to fall below
	// before it started (0: it did not wait), Waited how long that took.
	MaxLoad float64 `json:",omitempty"`
	Waited  Seconds `json:",omitempty"`
	// Quiet is what else ran on the machine during each throughput round
	// and each other part.
	Quiet []Quiet `json:",omitempty"`

	Setup      Stats // connection setup: ssh start to first byte in the remote file, bare ssh, ms
	Throughput []Mode
	Latency    []Latency
	Outage     *Outage
	Scale      []Scale
	Recovery   *Recovery
	Journal    []JournalRun `json:",omitempty"`
}

// Seconds is a duration written as seconds in JSON and reports.
type Seconds float64

// Machine describes where the run happened.
type Machine struct {
	NProc   int
	CPU     string // model name from /proc/cpuinfo
	Kernel  string
	OpenSSH string
	Go      string
	LoadAvg string // /proc/loadavg at the start: other work on the machine
}

// Binary is what the sshlogfwd under test offered when the run started.
type Binary struct {
	Pull         bool // `pull` exists
	PullCompat   bool // `pull --compat` exists
	PushReliable bool // `push --reliable` exists
}

// Mode is one throughput configuration, run once per round.
type Mode struct {
	Name     string // e.g. "push", "pull --reliable"
	Dir      string // "push" (to the log host) or "pull" (from it)
	Compress bool   // ssh -C
	Bare     bool   // the bare ssh pipe, the reference for its Dir and Compress
	Target   float64
	Runs     []Run
}

// Run is one throughput run of 1 M lines.
type Run struct {
	Seconds   Seconds // first byte to last byte at the receiving file
	Bytes     int64
	Lines     int
	CPU       Seconds // sshlogfwd process (0 for bare)
	SSHCPU    Seconds // the ssh client
	FarCPU    Seconds // sshd and its command (cat, tail, serve, receive): the far side
	PeakRSS   int64   // VmHWM of the sshlogfwd process, bytes
	Lost, Dup int
	OutOfOrd  int
	Torn      int
	Other     int
	Err       string `json:",omitempty"`
}

// OK reports whether every line arrived exactly once, in order.
func (r Run) OK() bool {
	return r.Err == "" && r.Lost == 0 && r.Dup == 0 && r.OutOfOrd == 0 && r.Torn == 0 && r.Other == 0
}

// LinesPerSec is the run's rate.
func (r Run) LinesPerSec() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Lines) / float64(r.Seconds)
}

// MBPerSec is the run's rate in 10^6 bytes per second.
func (r Run) MBPerSec() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / float64(r.Seconds)
}

// Stats summarises samples.
type Stats struct {
	N                  int
	Min, P50, P99, Max float64
	Mean               float64
	Unit               string
	Quantiles          []float64 `json:",omitempty"` // value at each of QuantileLevels, for the plot
	Values             []float64 `json:",omitempty"` // the samples themselves, when there are few
}

// QuantileLevels are the levels Stats.Quantiles is given at: fine in the
// tail, where latency plots are read.
var QuantileLevels = func() []float64 {
	var q []float64
	for p := 0.0; p < 0.9; p += 0.01 {
		q = append(q, p)
	}
	for p := 0.90; p < 0.99; p += 0.001 {
		q = append(q, p)
	}
	for p := 0.990; p < 1; p += 0.0001 {
		q = append(q, p)
	}
	return append(q, 1)
}()

// Summarize computes Stats of samples (which it sorts).
func Summarize(samples []float64, unit string, keepValues bool) Stats {
	s := Stats{N: len(samples), Unit: unit}
	if len(samples) == 0 {
		return s
	}
	sort.Float64s(samples)
	var sum float64
	for _, v := range samples {
		sum += v
	}
	s.Mean = sum / float64(len(samples))
	s.Min, s.Max = samples[0], samples[len(samples)-1]
	s.P50, s.P99 = quantile(samples, 0.5), quantile(samples, 0.99)
	if keepValues {
		s.Values = append([]float64(nil), samples...)
	} else {
		for _, q := range QuantileLevels {
			s.Quantiles = append(s.Quantiles, quantile(samples, q))
		}
	}
	return s
}

// quantile of sorted samples, nearest rank.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Latency is the time from a line's write into the input to its arrival in
// the receiving file, at a fixed rate.
type Latency struct {
	Name    string // "bare ssh -C", "push", ...
	Rate    int    // lines per second
	Written int
	Lost    int
	Dup     int
	Target  float64 // ms the p99 may be above the bare pipe's at the same rate (issue 14), 0 for the reference
	MS      Stats
	PeakRSS int64 // VmHWM of the sshlogfwd process, bytes (0 for bare)
	CPU     Seconds
	Err     string `json:",omitempty"`
}

// Outage is push's memory during a log host outage at a fixed rate.
type Outage struct {
	Rate          int
	Outage        Seconds // how long sshd was down
	BackoffMax    Seconds // push --backoff-max during the test
	RSSBefore     int64   // highest VmRSS in the steady phase before
	RSSDuring     int64   // highest VmRSS while sshd was down
	HWM           int64   // VmHWM at the end
	SpoolOnDisk   int64   // segment bytes on disk at the end of the outage
	Reconnect     Seconds // sshd back to the first byte delivered again
	Drain         Seconds // sshd back to the backlog delivered
	RSSAfterDrain int64
	CPUPerMLines  Seconds
	Written       int
	Received      int
	Lost, Dup     int
	OutOfOrder    int
	Torn          int
	Err           string `json:",omitempty"`
}

// Scale is many pushes into one sshd.
type Scale struct {
	Procs       int
	Rate        int     // lines/s in total
	Seconds     Seconds // writing time
	Connect     Seconds // time until every push was connected
	Lines       int     // lines written in total
	Delivered   int     // lines that arrived, each once
	Window      Seconds // first line written to last line delivered
	LogHostCPU  Seconds // sshd + cat CPU over the window
	ClientCPU   Seconds // every push and its ssh over the window
	PushCPU     Seconds // the push processes alone
	Lost, Dup   int
	Disorder    int
	MaxPushRSS  int64
	Err         string `json:",omitempty"`
	LogHostProc int    // processes counted on the log host's side
}

// DeliveredRate is lines per second delivered over the window.
func (s Scale) DeliveredRate() float64 {
	if s.Window <= 0 {
		return 0
	}
	return float64(s.Delivered) / float64(s.Window)
}

// CoresPer1k is the log host's CPU (in cores) per 1,000 lines/s.
func (s Scale) CoresPer1k() float64 {
	r := s.DeliveredRate()
	if r <= 0 || s.Window <= 0 {
		return 0
	}
	return float64(s.LogHostCPU) / float64(s.Window) / (r / 1000)
}

// Recovery is how fast push delivers again after its ssh dies.
type Recovery struct {
	Rate       int
	FirstByte  Stats // ssh killed -> first line written after the kill arrives, ms
	BackoffMin Seconds
	Lost       int // lines lost over all kills (compatible mode loses what ssh held)
	Kills      int

	CutMeasured bool
	CutDetect   Seconds // silent cut -> ssh exits
	CutResume   Seconds // link back -> first byte delivered again
	CutConfig   string  // keepalive settings in force
	CutNote     string
}

// Quiet is what else ran on the machine during one part of the run.
type Quiet struct {
	Label      string  // "throughput round 1", "latency", ...
	LoadBefore string  // /proc/loadavg's 1-, 5- and 15-minute averages before the part
	LoadAfter  string  // and after it (the harness's own work raises them)
	Seconds    Seconds // how long the part took
	OtherCPU   Seconds // CPU used meanwhile by processes outside the harness's own tree
	MaxShare   float64 // the share of one core other work may take
}

// Share is the other work's CPU in cores (CPU seconds per second).
func (q Quiet) Share() float64 {
	if q.Seconds <= 0 {
		return 0
	}
	return float64(q.OtherCPU) / float64(q.Seconds)
}

// Disturbed reports whether other work took more than its share: the
// part measured that work too.
func (q Quiet) Disturbed() bool { return q.MaxShare > 0 && q.Share() > q.MaxShare }

// Disturbed lists the parts of the run that other work disturbed.
func (r *Results) Disturbed() []Quiet {
	var d []Quiet
	for _, q := range r.Quiet {
		if q.Disturbed() {
			d = append(d, q)
		}
	}
	return d
}

// Save writes r as indented JSON.
func (r *Results) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Load reads results saved by Save.
func Load(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Median of the runs' rates, and the median of the ratios to the bare pipe
// taken round by round (paired, so that load that changes during the run
// affects both sides of a ratio alike).
func (r *Results) summary(m Mode) (linesPerSec, mbPerSec, ratio float64, ok bool) {
	var rates, mbs, ratios []float64
	ok = len(m.Runs) > 0
	bare := r.bare(m)
	for i, run := range m.Runs {
		if !run.OK() {
			ok = false
		}
		if run.Seconds <= 0 {
			continue
		}
		rates = append(rates, run.LinesPerSec())
		mbs = append(mbs, run.MBPerSec())
		if bare != nil && i < len(bare.Runs) && bare.Runs[i].Seconds > 0 {
			ratios = append(ratios, run.LinesPerSec()/bare.Runs[i].LinesPerSec())
		}
	}
	return median(rates), median(mbs), median(ratios), ok
}

func (r *Results) bare(m Mode) *Mode {
	for i := range r.Throughput {
		b := &r.Throughput[i]
		if b.Bare && b.Dir == m.Dir && b.Compress == m.Compress {
			return b
		}
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
