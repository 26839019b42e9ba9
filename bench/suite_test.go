package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// The harness's settings; scripts/bench.sh passes them after -args.
var (
	flagLines      = flag.Int("lines", 1_000_000, "lines per throughput run")
	flagLineSize   = flag.Int("line-size", 124, "bytes per line, newline included")
	flagRounds     = flag.Int("rounds", 5, "throughput rounds (at least 5 but in a dry run); every mode runs once per round, ratios are taken within a round and the report gives their medians")
	flagLatencyDur = flag.Duration("latency-duration", 10*time.Second, "how long each latency run writes")
	flagOutage     = flag.Duration("outage", 60*time.Second, "how long sshd is down in the outage run")
	flagOutageRate = flag.Int("outage-rate", 5000, "lines/s written during the outage run")
	flagScaleProcs = flag.String("scale-procs", "50,200", "numbers of concurrent pushes in the scale runs")
	flagScaleRate  = flag.Int("scale-rate", 20000, "total lines/s of a scale run")
	flagScaleDur   = flag.Duration("scale-duration", 20*time.Second, "how long a scale run writes")
	flagKills      = flag.Int("kills", 5, "how often the recovery run kills push's ssh")
	flagCut        = flag.Bool("cut", true, "measure detection of a silent link cut (network namespace, ~45 s)")
	flagJournalN   = flag.Int("journal-entries", 200_000, "entries in the journal of each full-speed journal run")
	flagJournalDur = flag.Duration("journal-duration", 10*time.Second, "how long each paced journal run writes (at 1,000 entries/s)")
	flagParts      = flag.String("parts", "throughput,latency,cost,scale,recovery,journal", "which parts to run")
	flagOut        = flag.String("out", "../BENCHMARKS.md", "the report to write")
	flagPlot       = flag.String("plot", "results.png", "the plot to write")
	flagJSON       = flag.String("json", "results.json", "the raw results to write (or read, with -render)")
	flagRender     = flag.Bool("render", false, "do not measure: render -json into -out and -plot")
	flagCommand    = flag.String("command", "", "the command line to record in the report")
	flagBin        = flag.String("bin", "", "run this sshlogfwd binary instead of building cmd/sshlogfwd (e.g. one built for profiling)")
	flagProfile    = flag.String("profile", "", "directory: every sshlogfwd started writes CPU and heap profiles there (--cpuprofile, --memprofile)")
	flagMaxLoad    = flag.Float64("max-load", 1.0, "start only once the 1-minute load average is at most this")
	flagMaxOther   = flag.Float64("max-other", 0.1, "share of one core that processes outside the harness may use during a round; more makes the run disturbed")
	flagQuietWait  = flag.Duration("quiet-wait", 30*time.Minute, "how long to wait for a quiet machine (at the start, and between rounds) before giving up")
	flagDryRun     = flag.Bool("dry-run", false, "try the harness: do not wait for a quiet machine, allow fewer than 5 rounds, and mark the report as a dry run")
)

func TestMain(m *testing.M) {
	if err := becomeSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: cannot keep orphans in the harness's tree (their CPU will count as other work): %v\n", err)
	}
	code := m.Run()
	testlab.RemoveBinary()
	os.Exit(code)
}

// BenchmarkSuite is the whole harness: one run, every measurement side by
// side on one sshd. Run it with scripts/bench.sh; it takes about 10 minutes
// and ignores b.N (run it with -benchtime 1x).
func BenchmarkSuite(b *testing.B) {
	if *flagRender {
		res, err := Load(*flagJSON)
		if err != nil {
			b.Fatal(err)
		}
		writeReport(b, res)
		return
	}
	if *flagRounds < minRounds && !*flagDryRun {
		b.Fatalf("-rounds %d: the report gives medians of at least %d rounds (-dry-run to try fewer)", *flagRounds, minRounds)
	}
	gate := quietGate{maxLoad: *flagMaxLoad, maxOther: *flagMaxOther, wait: *flagQuietWait, logf: b.Logf}
	if *flagDryRun {
		gate.maxLoad = 0 // record what else ran, wait for nothing
	}
	res := runSuite(b, suiteConfig{
		lines: *flagLines, size: *flagLineSize, rounds: *flagRounds,
		latencyDur: *flagLatencyDur, outage: *flagOutage, outageRate: *flagOutageRate,
		scaleProcs: parseInts(b, *flagScaleProcs), scaleRate: *flagScaleRate, scaleDur: *flagScaleDur,
		kills: *flagKills, cut: *flagCut, parts: *flagParts, gate: gate, dryRun: *flagDryRun,
		journalN: *flagJournalN, journalDur: *flagJournalDur,
	})
	if d := res.Disturbed(); len(d) > 0 && !*flagDryRun {
		// Where other work ran beside it, the run is thrown away: its
		// figures are kept for a look, apart, and the report is left alone.
		apart := strings.TrimSuffix(*flagJSON, ".json") + ".disturbed.json"
		if err := res.Save(apart); err != nil {
			b.Fatal(err)
		}
		var parts []string
		for _, q := range d {
			parts = append(parts, fmt.Sprintf("%s (%.2f cores)", q.Label, q.Share()))
		}
		b.Fatalf("other work used more than %.2f of a core during %s: the run is thrown away (its figures are in %s; %s and the plot are unchanged)",
			*flagMaxOther, strings.Join(parts, ", "), apart, *flagOut)
	}
	if err := res.Save(*flagJSON); err != nil {
		b.Fatal(err)
	}
	writeReport(b, res)
	for _, m := range res.Throughput {
		if !m.Bare {
			_, _, ratio, _ := res.summary(m)
			b.ReportMetric(ratio, "ratio:"+strings.ReplaceAll(modeLabel(m), " ", "_"))
		}
	}
}

// TestHarnessSmoke runs a small throughput round and a short latency run
// through the real harness and renders the report, so that the harness
// stays working between benchmark runs.
func TestHarnessSmoke(t *testing.T) {
	res := runSuite(t, suiteConfig{
		lines: 10_000, size: 124, rounds: 1, latencyDur: time.Second,
		parts: "throughput-push,latency-push",
	})
	for _, m := range res.Throughput {
		for _, r := range m.Runs {
			if !r.OK() {
				t.Errorf("%s (compress %v): %s", m.Name, m.Compress, describeRun(r))
			}
		}
	}
	if len(res.Throughput) == 0 || len(res.Latency) == 0 {
		t.Fatalf("nothing measured: %+v", res)
	}
	for _, lat := range res.Latency {
		if lat.Err != "" || lat.Lost > 0 || lat.Dup > 0 {
			t.Errorf("latency %s at %d/s: lost %d dup %d %s", lat.Name, lat.Rate, lat.Lost, lat.Dup, lat.Err)
		}
	}
	dir := t.TempDir()
	md, png := filepath.Join(dir, "BENCHMARKS.md"), filepath.Join(dir, "results.png")
	if err := WriteReport(res, md, png); err != nil {
		t.Fatal(err)
	}
}

type suiteConfig struct {
	lines, size, rounds int
	latencyDur          time.Duration
	outage              time.Duration
	outageRate          int
	scaleProcs          []int
	scaleRate           int
	scaleDur            time.Duration
	kills               int
	cut                 bool
	parts               string
	journalN            int
	journalDur          time.Duration
	gate                quietGate // the zero gate waits for nothing and records no limit
	dryRun              bool
}

func (c suiteConfig) has(part string) bool {
	for _, p := range strings.Split(c.parts, ",") {
		if p == part {
			return true
		}
	}
	return false
}

func runSuite(tb testing.TB, c suiteConfig) *Results {
	if c.gate.logf == nil {
		c.gate.logf = tb.Logf
	}
	waited, err := c.gate.start()
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	res := &Results{
		Started: start, Machine: machine(), Command: *flagCommand,
		Lines: c.lines, LineSize: c.size, Rounds: c.rounds,
		DryRun: c.dryRun, MaxLoad: c.gate.maxLoad, Waited: Seconds(waited.Seconds()),
	}
	// What shaped the measurements (not where the results go).
	flag.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "out", "plot", "json", "command", "render", "profile":
			return
		}
		if !strings.HasPrefix(f.Name, "test.") && f.Value.String() != "" {
			res.Settings = append(res.Settings, f.Name+"="+f.Value.String())
		}
	})
	l := newLab(tb)
	res.Binary = l.has
	if !l.has.PushReliable {
		res.Notes = append(res.Notes, "push --reliable is not in the binary yet (push --help has no --reliable): its throughput and latency were not measured.")
	}
	if !l.has.Pull {
		res.Notes = append(res.Notes, "pull is not in the binary yet: its throughput was not measured.")
	}
	logf := tb.Logf
	if c.has("throughput") || c.has("throughput-push") || c.has("throughput-pull") {
		dirs := map[string]bool{"push": true, "pull": true}
		if c.has("throughput-push") {
			l.has.Pull, l.has.PullCompat, l.has.PushReliable = false, false, false
		} else if c.has("throughput-pull") {
			dirs["push"] = false
		}
		corpus := l.corpus(c.lines, c.size)
		res.Throughput, res.Quiet = l.throughput(corpus, c.rounds, dirs, c.gate)
		os.Remove(corpus.path)
		l.has = res.Binary
	}
	around := func(label string, part func()) {
		if err := c.gate.settle(); err != nil {
			tb.Fatal(err)
		}
		res.Quiet = append(res.Quiet, c.gate.around(label, part))
	}
	if c.has("latency") || c.has("latency-push") {
		around("latency", func() { l.latencyPart(res, c) })
	}
	if c.has("cost") {
		around("cost (outage)", func() {
			res.Outage = l.outage(c.outageRate, c.outage, c.size)
			logf("outage: %+v", *res.Outage)
		})
	}
	if c.has("scale") {
		around("scale", func() { l.scalePart(res, c) })
	}
	if c.has("recovery") {
		around("recovery", func() { l.recoveryPart(res, c) })
	}
	if c.has("journal") {
		around("journal", func() { res.Journal = l.journal(c, &res.Notes) })
	}
	res.Duration = Seconds(time.Since(start).Seconds())
	res.LoadAvgEnd = machine().LoadAvg
	return res
}

// latencyPart measures the latency of every mode at 1,000 and 10,000
// lines/s.
func (l *lab) latencyPart(res *Results, c suiteConfig) {
	for _, rate := range []int{1000, 10000} {
		for _, mode := range l.latencyModes() {
			if c.has("latency-push") && (mode != "push" || rate != 1000) {
				continue
			}
			lat := l.latency(mode, rate, c.latencyDur, c.size)
			l.tb.Logf("latency %-16s %5d/s: p50 %.2f ms p99 %.2f ms max %.2f ms lost %d dup %d rss %.1f MiB %s",
				mode, rate, lat.MS.P50, lat.MS.P99, lat.MS.Max, lat.Lost, lat.Dup, float64(lat.PeakRSS)/(1<<20), lat.Err)
			res.Latency = append(res.Latency, lat)
		}
	}
}

// scalePart runs many pushes into one sshd.
func (l *lab) scalePart(res *Results, c suiteConfig) {
	for _, n := range c.scaleProcs {
		s := l.scale(n, c.scaleRate, c.scaleDur, c.size)
		l.tb.Logf("scale %d: %.0f lines/s delivered, log host %.2f s cpu over %.1f s (%.3f cores per 1k lines/s), lost %d dup %d %s",
			n, s.DeliveredRate(), float64(s.LogHostCPU), float64(s.Window), s.CoresPer1k(), s.Lost, s.Dup, s.Err)
		res.Scale = append(res.Scale, s)
	}
}

// recoveryPart measures connection setup, the recovery after ssh kills
// and, with -cut, after a silent cut.
func (l *lab) recoveryPart(res *Results, c suiteConfig) {
	res.Setup = l.setupTime(7)
	l.tb.Logf("connection setup: %+v", res.Setup)
	res.Recovery = l.recovery(1000, c.kills, c.size)
	l.tb.Logf("recovery after ssh kill: %+v", res.Recovery.FirstByte)
	if c.cut {
		l.cut(res.Recovery, c.size)
	} else {
		res.Recovery.CutNote = "not measured in this run (-cut=false)"
	}
	l.tb.Logf("silent cut: detected after %.1f s, resumed %.1f s after the link came back %s",
		float64(res.Recovery.CutDetect), float64(res.Recovery.CutResume), res.Recovery.CutNote)
}

func writeReport(tb testing.TB, res *Results) {
	tb.Helper()
	if err := WriteReport(res, *flagOut, *flagPlot); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("wrote %s and %s", *flagOut, *flagPlot)
}

func parseInts(tb testing.TB, s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			tb.Fatalf("bad number %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out
}

// machine describes this machine.
func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if out, err := exec.Command("ssh", "-V").CombinedOutput(); err == nil {
		m.OpenSSH = strings.TrimSpace(string(out))
	}
	if n, err := exec.Command("nproc").Output(); err == nil {
		if k, err := strconv.Atoi(strings.TrimSpace(string(n))); err == nil {
			m.NProc = k
		}
	}
	return m
}
