package bench

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// AnalysisFile is the hand-written part of the report, kept beside the
// harness and copied into BENCHMARKS.md on every run: what the figures mean,
// what was profiled and changed. The figures themselves are generated.
const AnalysisFile = "analysis.md"

// WriteReport writes the Markdown report to mdPath and the plot to
// pngPath; the report links the plot by its path relative to the report.
func WriteReport(r *Results, mdPath, pngPath string) error {
	var img bytes.Buffer
	if err := png.Encode(&img, Plot(r)); err != nil {
		return fmt.Errorf("encode plot: %w", err)
	}
	if err := os.WriteFile(pngPath, img.Bytes(), 0o644); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(absPath(mdPath)), absPath(pngPath))
	if err != nil {
		rel = pngPath
	}
	analysis, _ := os.ReadFile(filepath.Join(filepath.Dir(absPath(pngPath)), AnalysisFile))
	return os.WriteFile(mdPath, []byte(Markdown(r, filepath.ToSlash(rel), string(analysis))), 0o644)
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// minRounds is the fewest throughput rounds a measurement takes the
// median of (issue 14).
const minRounds = 5

// The targets of issue 14: ratios to the bare pipe of the same round,
// medians of at least 5 rounds of 1 M lines, on a quiet 2-core machine.
const (
	targetPush         = 0.95     // compatible push, with and without -C
	targetPushReliable = 1.0      // push --reliable, with and without -C
	targetPull         = 0.95     // pull --reliable and --compat against ssh host 'cat file' > f
	targetCPUPerM      = 0.2      // sshlogfwd's own CPU, seconds per million lines, every mode
	targetP99Over      = 1.0      // latency p99, ms over the bare pipe's p99 in the same minute
	targetP50Over      = 0.1      // latency p50, ms over the bare pipe's p50
	targetFirstByte    = 50.0     // first byte after an ssh kill, ms over connection setup
	targetRSS          = 20 << 20 // peak RSS, steady and during the outage
)

// Target is one of the targets, judged against the results.
type Target struct {
	What     string
	Measured string
	Status   string // "met", "missed ...", "not measured"
}

// atLeast judges a figure that must reach target.
func atLeast(v, target float64) string {
	if v >= target {
		return "met"
	}
	return missedBy((target-v)/target*100, 0, " %")
}

// atMost judges a figure that must stay at or below limit; decimals and
// unit say how to write by how much it missed.
func atMost(v, limit float64, decimals int, unit string) string {
	if v <= limit+1e-9 { // 0.4 - 0.3 is not above 0.1
		return "met"
	}
	return missedBy(v-limit, decimals, unit)
}

// missedBy writes a miss of d with decimals digits after the point. A
// miss that rounds to zero there is written as less than the last digit
// ("missed by <0.01 ms"): "missed by 0.00 ms" reads as met.
func missedBy(d float64, decimals int, unit string) string {
	s := strconv.FormatFloat(d, 'f', decimals, 64)
	if v, _ := strconv.ParseFloat(s, 64); v <= 0 {
		s = "<" + strconv.FormatFloat(math.Pow10(-decimals), 'f', decimals, 64)
	}
	return "missed by " + s + unit
}

// cpuPerM is the median of a mode's sshlogfwd CPU seconds per million
// lines, and whether any run had a figure.
func cpuPerM(m Mode) (float64, bool) {
	var v []float64
	for _, r := range m.Runs {
		if r.Seconds > 0 && r.Lines > 0 {
			v = append(v, float64(r.CPU)/float64(r.Lines)*1e6)
		}
	}
	return median(v), len(v) > 0
}

// bareLatency is the bare pipe's latency run at rate, if there is one.
func (r *Results) bareLatency(rate int) *Latency {
	for i, b := range r.Latency {
		if b.Name == "bare ssh -C" && b.Rate == rate && b.MS.N > 0 {
			return &r.Latency[i]
		}
	}
	return nil
}

// latencyStatus judges a latency run against the bare pipe's at the same
// rate: p99 at most targetP99Over and p50 at most targetP50Over above it.
func (r *Results) latencyStatus(lat Latency) (p50, p99 string) {
	bare := r.bareLatency(lat.Rate)
	if bare == nil || lat.MS.N == 0 || lat.Err != "" {
		return "not measured", "not measured"
	}
	return atMost(lat.MS.P50-bare.MS.P50, targetP50Over, 2, " ms"), atMost(lat.MS.P99-bare.MS.P99, targetP99Over, 2, " ms")
}

// Targets judges the results against the targets of issue 14 (and, in
// the last rows, the scale and silent-cut checks of DESIGN.md), in the
// order of the report's table.
func Targets(r *Results) []Target {
	return slices.Concat(ratioTargets(r), cpuTargets(r), reliableTarget(r), latencyTargets(r),
		steadyRSSTarget(r), outageRSSTarget(r), recoveryTargets(r), journalTargets(r), scaleTargets(r))
}

// ratioTargets: each mode's throughput against the bare pipe's.
func ratioTargets(r *Results) []Target {
	var ts []Target
	for _, m := range r.Throughput {
		if m.Bare {
			continue
		}
		_, _, ratio, ok := r.summary(m)
		t := Target{What: fmt.Sprintf("%s >= %.2f x bare ssh (%s)", m.Name, m.Target, compressLabel(m.Compress))}
		t.Measured = fmt.Sprintf("%.2f x", ratio)
		switch {
		case ratio == 0:
			t.Status, t.Measured = "not measured", "run failed"
		case !ok:
			t.Status = "missed"
			t.Measured += ", lines lost or repeated"
		default:
			t.Status = atLeast(ratio, m.Target)
		}
		ts = append(ts, t)
	}
	return ts
}

// cpuTargets: each mode's own CPU per million lines.
func cpuTargets(r *Results) []Target {
	var ts []Target
	for _, m := range r.Throughput {
		if m.Bare {
			continue
		}
		t := Target{What: fmt.Sprintf("%s (%s): sshlogfwd CPU <= %.2f s per million lines", m.Name, compressLabel(m.Compress), targetCPUPerM)}
		if v, ok := cpuPerM(m); ok {
			t.Measured, t.Status = fmt.Sprintf("%.2f s", v), atMost(v, targetCPUPerM, 2, " s")
		} else {
			t.Measured, t.Status = "run failed", "not measured"
		}
		ts = append(ts, t)
	}
	return ts
}

// reliableTarget says that push --reliable was not measured, when the
// binary lacked it.
func reliableTarget(r *Results) []Target {
	if len(r.Throughput) == 0 || r.Binary.PushReliable {
		return nil
	}
	return []Target{{What: fmt.Sprintf("push --reliable >= %.2f x bare ssh", targetPushReliable), Measured: "push --reliable not in the binary", Status: "not measured"}}
}

// latencyTargets: p99 and p50 of each latency run against the bare
// pipe's at the same rate.
func latencyTargets(r *Results) []Target {
	var ts []Target
	for _, lat := range r.Latency {
		if lat.Name == "bare ssh -C" {
			continue
		}
		p50, p99 := r.latencyStatus(lat)
		ref := "no bare run at this rate"
		if b := r.bareLatency(lat.Rate); b != nil {
			ref = fmt.Sprintf("bare ssh -C in the same minute: p50 %.2f ms, p99 %.2f ms", b.MS.P50, b.MS.P99)
		}
		ts = append(ts,
			Target{What: fmt.Sprintf("%s latency p99 <= bare p99 + %.0f ms at %s lines/s", lat.Name, targetP99Over, thousands(lat.Rate)),
				Measured: fmt.Sprintf("%.2f ms (%s)", lat.MS.P99, ref), Status: p99},
			Target{What: fmt.Sprintf("%s latency p50 <= bare p50 + %.1f ms at %s lines/s", lat.Name, targetP50Over, thousands(lat.Rate)),
				Measured: fmt.Sprintf("%.2f ms (%s)", lat.MS.P50, ref), Status: p50})
	}
	return ts
}

// steadyRSSTarget: the highest peak RSS while paced (latency runs, before
// the outage) and at full speed (throughput runs).
func steadyRSSTarget(r *Results) []Target {
	var paced, full int64
	for _, lat := range r.Latency {
		paced = max(paced, lat.PeakRSS)
	}
	if r.Outage != nil {
		paced = max(paced, r.Outage.RSSBefore)
	}
	for _, m := range r.Throughput {
		full = max(full, maxOf(m.Runs, func(x Run) int64 { return x.PeakRSS }))
	}
	if paced == 0 && full == 0 {
		return nil
	}
	t := Target{What: fmt.Sprintf("sshlogfwd peak RSS <= %s in steady state", mib(targetRSS))}
	t.Measured = fmt.Sprintf("%s paced (latency runs, before the outage); %s at full speed (throughput runs)", mib(paced), mib(full))
	t.Status = "met"
	if worst := max(paced, full); worst > targetRSS {
		t.Status = fmt.Sprintf("missed by %s", mib(worst-targetRSS))
	}
	return []Target{t}
}

// outageRSSTarget: the peak RSS while sshd was down.
func outageRSSTarget(r *Results) []Target {
	o := r.Outage
	if o == nil {
		return nil
	}
	t := Target{What: fmt.Sprintf("sshlogfwd peak RSS <= %s during the outage", mib(targetRSS))}
	t.Measured = fmt.Sprintf("%s (%s spooled on disk)", mib(o.RSSDuring), mib(o.SpoolOnDisk))
	switch {
	case o.RSSDuring == 0:
		t.Status = "not measured"
	case o.RSSDuring <= targetRSS:
		t.Status = "met"
	default:
		t.Status = fmt.Sprintf("missed by %s", mib(o.RSSDuring-targetRSS))
	}
	return []Target{t}
}

// recoveryTargets: the first byte after an ssh kill, and the detection
// of a silent link cut.
func recoveryTargets(r *Results) []Target {
	if r.Recovery == nil {
		return nil
	}
	return []Target{firstByteTarget(r), cutTarget(r.Recovery)}
}

// firstByteTarget: the first byte again after an ssh kill, against
// connection setup.
func firstByteTarget(r *Results) Target {
	rc := r.Recovery
	t := Target{What: fmt.Sprintf("first byte again <= connection setup + %.0f ms after an ssh kill", targetFirstByte)}
	limit := r.Setup.P50 + targetFirstByte
	switch {
	case rc.FirstByte.N == 0 || r.Setup.N == 0:
		t.Status, t.Measured = "not measured", "run failed"
	default:
		t.Measured = fmt.Sprintf("median %.0f ms, max %.0f ms (limit %.0f + %.0f = %.0f ms)", rc.FirstByte.P50, rc.FirstByte.Max, r.Setup.P50, targetFirstByte, limit)
		if rc.FirstByte.P50 <= limit {
			t.Status = "met"
		} else {
			t.Status = missedBy(rc.FirstByte.P50-limit, 0, " ms")
		}
	}
	return t
}

// cutTarget: a silent link cut noticed by ssh's keepalives.
func cutTarget(rc *Recovery) Target {
	t := Target{What: "silent link cut detected within ~30 s (DESIGN.md)"}
	if !rc.CutMeasured {
		t.Status, t.Measured = "not measured", rc.CutNote
		return t
	}
	t.Measured = fmt.Sprintf("%.1f s (%s)", float64(rc.CutDetect), rc.CutConfig)
	// Keepalives every 10 s, 3 unanswered: 30 s after the last
	// answer, i.e. up to 40 s after the cut.
	if rc.CutDetect <= 40 {
		t.Status = "met"
	} else {
		t.Status = missedBy(float64(rc.CutDetect)-40, 0, " s")
	}
	return t
}

// scaleTargets: many pushes into one sshd lose nothing.
func scaleTargets(r *Results) []Target {
	var ts []Target
	for _, s := range r.Scale {
		t := Target{What: fmt.Sprintf("%d pushes into one sshd at %s lines/s: nothing lost", s.Procs, thousands(s.Rate))}
		t.Measured = fmt.Sprintf("%s lines/s delivered, lost %d, duplicated %d", thousands(int(math.Round(s.DeliveredRate()))), s.Lost, s.Dup)
		switch {
		case s.Err != "" && s.Delivered == 0:
			t.Status = "not measured"
		case s.Lost == 0 && s.Dup == 0 && s.Err == "":
			t.Status = "met"
		default:
			t.Status = "missed"
		}
		ts = append(ts, t)
	}
	return ts
}

func compressLabel(c bool) string {
	if c {
		return "ssh -C"
	}
	return "no -C"
}

// modeLabel names a throughput mode with its compression.
func modeLabel(m Mode) string {
	s := m.Name
	if m.Bare {
		s = "bare ssh"
	}
	if m.Compress {
		return s + " -C"
	}
	return s + " --no-compress"
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// thousands writes n with commas.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func perM(v Seconds, lines int) string {
	if lines == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(v)/float64(lines)*1e6)
}

// Markdown renders the report; plot is the plot's path relative to it.
func Markdown(r *Results, plot, analysis string) string {
	b := &markdown{r: r}
	b.header(plot)
	b.machine()
	b.targets()
	b.throughput()
	b.latency()
	b.outage()
	b.scale()
	b.recovery()
	b.w("%s", journalMarkdown(r))
	b.quiet()
	b.analysis(analysis)
	return b.String()
}

// markdown is the report being written, one method per section.
type markdown struct {
	strings.Builder
	r *Results
}

func (b *markdown) w(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

// header is the title, where the figures come from, and the plot.
func (b *markdown) header(plot string) {
	r := b.r
	b.w("# Benchmarks\n\n")
	b.w("Generated by `./scripts/bench.sh` (the harness in `bench/`) on %s; the run took %.0f minutes. ",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), float64(r.Duration)/60)
	b.w("Run that command again to replace every figure here, the plot and `bench/results.json` (the raw figures).\n\n")
	if r.DryRun {
		b.w("**Dry run** (`-dry-run`): the harness did not wait for a quiet machine and may have run fewer than %d rounds. These figures try the harness; they are not a measurement.\n\n", minRounds)
	}
	b.w("![Throughput ratio to the bare ssh pipe, and latency distribution](%s)\n\n", plot)
}

// machine is the section on the machine and the method.
func (b *markdown) machine() {
	r := b.r
	b.w("## Machine and method\n\n")
	b.w("- `nproc`: %d; CPU: %s; kernel %s; %s; %s.\n", r.Machine.NProc, r.Machine.CPU, r.Machine.Kernel, r.Machine.OpenSSH, r.Machine.Go)
	b.w("- Load average when the run started: %s, when it ended: %s. This machine has 2 cores, shared with other work at other times, so absolute figures wander from run to run: the harness measures everything side by side on one private loopback sshd, runs every throughput mode once per round (%d rounds) and takes each ratio against the bare pipe *of the same round* (runs seconds apart); the tables give medians over the rounds.\n", r.Machine.LoadAvg, r.LoadAvgEnd, r.Rounds)
	if r.MaxLoad > 0 {
		b.w("- Quiet machine: the run started once the 1-minute load average was at most %.2f (it waited %.0f s for that), and before each round until other processes used next to no CPU; [the load around each part](#quiet-machine) says what else ran.\n", r.MaxLoad, float64(r.Waited))
	}
	if r.Command != "" {
		b.w("- Exact command: `%s` (from the repository root), which runs `go test ./bench -run '^$' -bench '^BenchmarkSuite$' -benchtime 1x -count 1 -timeout 150m -v -args -out BENCHMARKS.md -plot bench/results.png -json bench/results.json` plus its own arguments.\n", r.Command)
	}
	if len(r.Settings) > 0 {
		b.w("- Settings: `%s`\n", strings.Join(r.Settings, " "))
	}
	b.w("- sshd: OpenSSH on 127.0.0.1 started by `internal/testlab` (`KexAlgorithms curve25519-sha256`, empty HOME for sessions), key line `restrict ssh-ed25519 …` (the client picks `cat >>`, `tail -F` or `serve`). Every sshlogfwd runs with `--mark 0`.\n")
	for _, n := range r.Notes {
		b.w("- %s\n", n)
	}
	b.w("\n")
}

// targets is the table of Targets, misses in bold.
func (b *markdown) targets() {
	b.w("## Targets (issue 14)\n\nRatios are medians over the rounds of the ratio to the bare pipe of the same round; after them come the journal part's targets (issue 11) and the scale and silent-cut checks of DESIGN.md.\n\n| target | measured | status |\n|---|---|---|\n")
	for _, t := range Targets(b.r) {
		status := t.Status
		if strings.HasPrefix(status, "missed") {
			status = "**" + status + "**"
		}
		b.w("| %s | %s | %s |\n", t.What, t.Measured, status)
	}
	b.w("\n")
}

// throughput is section 1: the table of modes, then each round's figures.
func (b *markdown) throughput() {
	r := b.r
	if len(r.Throughput) == 0 {
		return
	}
	b.w("## 1. Throughput: %s lines of %d bytes\n\n", thousands(r.Lines), r.LineSize)
	b.w("Time until the last byte is in the receiving file (polled every millisecond), from the first byte there for the bare pipes and pull --reliable, and from the writer's first write for push and pull --compat (connected beforehand): connection setup is not counted for any mode. ")
	b.w("*bare ssh* is `ssh [-C] loghost 'cat >> f' < file` for push and `ssh [-C] loghost 'cat file' > f` for pull. ")
	b.w("*push* reads a FIFO that a writer fills as fast as it can with blocking 64 KiB writes of whole lines. ")
	b.w("*pull --reliable* fetches the whole file through `sshlogfwd serve --from start`; *pull --compat* follows it with `tail -F` while a writer appends the lines to it. ")
	b.w("The lines are sshd log lines with varying numbers and key hashes (gzip -6 shrinks them 2.8-fold), so that `-C` costs what it costs on real auth logs. ")
	b.w("Every run is checked line by line: *exact* means every line arrived once, in order, byte for byte. CPU is per million lines over the transfer, from /proc: *ssh* is the ssh client, *far side* the sshd listener with everything below it (the session processes and `cat`, `tail`, `serve` or `receive`), from the first byte on for the bare pipes and pull --reliable; RSS is the sshlogfwd process's VmHWM.\n\n")
	b.w("Beside each figure its target from issue 14 and whether it is met.\n\n")
	b.w("| mode | compression | lines/s | MB/s | ratio to bare (same compression) | sshlogfwd CPU s / M lines | ssh CPU s / M lines | far side CPU s / M lines | sshlogfwd peak RSS | exact |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.Throughput {
		b.throughputRow(m)
	}
	b.w("\nPer round (lines/s, ratio):\n\n")
	for _, m := range r.Throughput {
		b.w("- %s, %s: %s\n", displayName(m), compressLabel(m.Compress), strings.Join(r.perRound(m), "; "))
	}
	b.w("\n")
}

// throughputRow is a mode's row: medians over the rounds, each beside its
// target.
func (b *markdown) throughputRow(m Mode) {
	rate, mbs, ratio, ok := b.r.summary(m)
	ratioS, cpuS, rssS := "1 (reference)", "-", "-"
	if !m.Bare {
		ratioS = fmt.Sprintf("**%.2f** (>= %.2f: %s)", ratio, m.Target, atLeast(ratio, m.Target))
		if v, have := cpuPerM(m); have {
			cpuS = fmt.Sprintf("%.2f (<= %.2f: %s)", v, targetCPUPerM, atMost(v, targetCPUPerM, 2, " s"))
		}
		peak := maxOf(m.Runs, func(x Run) int64 { return x.PeakRSS })
		rssS = fmt.Sprintf("%s (<= %s: %s)", mib(peak), mib(targetRSS), atMost(float64(peak)/(1<<20), float64(targetRSS)/(1<<20), 1, " MiB"))
	}
	exact := fmt.Sprintf("%d/%d runs", countOK(m.Runs), len(m.Runs))
	if !ok {
		exact = "**" + exact + "**"
	}
	b.w("| %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s |\n", displayName(m), compressLabel(m.Compress),
		thousands(int(math.Round(rate))), mbs, ratioS, cpuS,
		medianOf(m.Runs, func(x Run) float64 { return float64(x.SSHCPU) / float64(max(1, x.Lines)) * 1e6 }, "%.2f"),
		medianOf(m.Runs, func(x Run) float64 { return float64(x.FarCPU) / float64(max(1, x.Lines)) * 1e6 }, "%.2f"),
		rssS, exact)
}

// perRound is each round's lines/s of m, with its ratio to the bare pipe
// of the same round and what went wrong.
func (r *Results) perRound(m Mode) []string {
	var parts []string
	bare := r.bare(m)
	for i, run := range m.Runs {
		s := thousands(int(math.Round(run.LinesPerSec())))
		if !m.Bare && bare != nil && i < len(bare.Runs) && bare.Runs[i].LinesPerSec() > 0 {
			s += fmt.Sprintf(" (%.2f)", run.LinesPerSec()/bare.Runs[i].LinesPerSec())
		}
		if !run.OK() {
			s += fmt.Sprintf(" [lost %d, dup %d, disorder %d, torn %d, other %d%s]", run.Lost, run.Dup, run.OutOfOrd, run.Torn, run.Other, errNote(run.Err))
		}
		parts = append(parts, s)
	}
	return parts
}

// latency is section 2: one row per latency run.
func (b *markdown) latency() {
	r := b.r
	if len(r.Latency) == 0 {
		return
	}
	b.w("## 2. Latency\n\n")
	b.w("Lines of %d bytes, each stamped with `CLOCK_MONOTONIC` just before its own `write()` into the input (push: the FIFO; bare: ssh's standard input), at a fixed rate (a sleeping writer: bursts of about a millisecond's worth). ", r.LineSize)
	b.w("The remote file is watched with inotify on the same machine; latency is the time from the stamp to reading the line there.\n\n")
	b.w("Issue 14's targets beside p50 and p99: at most %.1f ms and %.0f ms above the bare pipe's at the same rate, measured in the same minute.\n\n", targetP50Over, targetP99Over)
	b.w("| mode | rate (lines/s) | lines | p50 | p99 | max | lost / dup | sshlogfwd CPU s / M lines | sshlogfwd peak RSS |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, lat := range r.Latency {
		b.latencyRow(lat)
	}
	b.w("\n")
}

// latencyRow is one latency run, p50 and p99 beside their targets.
func (b *markdown) latencyRow(lat Latency) {
	r := b.r
	cpu, rss := "-", "-"
	if lat.PeakRSS > 0 {
		cpu, rss = perM(lat.CPU, lat.Written), mib(lat.PeakRSS)
	}
	p50, p99 := fmt.Sprintf("%.2f ms", lat.MS.P50), fmt.Sprintf("%.2f ms", lat.MS.P99)
	if bare := r.bareLatency(lat.Rate); bare != nil && lat.Name != bare.Name {
		s50, s99 := r.latencyStatus(lat)
		p50 += fmt.Sprintf(" (<= %.2f: %s)", bare.MS.P50+targetP50Over, s50)
		p99 += fmt.Sprintf(" (<= %.2f: %s)", bare.MS.P99+targetP99Over, s99)
	}
	b.w("| %s | %s | %s | %s | %s | %.2f ms | %d / %d%s | %s | %s |\n", lat.Name, thousands(lat.Rate), thousands(lat.Written),
		p50, p99, lat.MS.Max, lat.Lost, lat.Dup, errNote(lat.Err), cpu, rss)
}

// outage is section 3: push while sshd is down.
func (b *markdown) outage() {
	o := b.r.Outage
	if o == nil {
		return
	}
	b.w("## 3. Cost during an outage\n\n")
	b.w("CPU per million lines and peak RSS in normal operation are in the tables above. Here push runs at %s lines/s (one write per line); sshd is stopped for %.0f s (its sessions killed, the listener gone), then started again. push runs with `--backoff-max %.0fs` so that it notices the return promptly.\n\n",
		thousands(o.Rate), float64(o.Outage), float64(o.BackoffMax))
	b.w("| | |\n|---|---|\n")
	b.w("| RSS before the outage (highest VmRSS) | %s |\n", mib(o.RSSBefore))
	b.w("| RSS during the outage (highest VmRSS) | %s |\n", mib(o.RSSDuring))
	b.w("| spool on disk at the end of the outage | %s |\n", mib(o.SpoolOnDisk))
	b.w("| sshd back → first byte delivered again | %.2f s |\n", float64(o.Reconnect))
	b.w("| sshd back → backlog delivered | %.2f s |\n", float64(o.Drain))
	b.w("| RSS 2 s after the backlog was delivered | %s |\n", mib(o.RSSAfterDrain))
	b.w("| peak RSS over the whole run (VmHWM) | %s |\n", mib(o.HWM))
	b.w("| sshlogfwd CPU per million lines, whole run | %.2f s |\n", float64(o.CPUPerMLines))
	b.w("| lines written / received once | %s / %s |\n", thousands(o.Written), thousands(o.Received))
	b.w("| lost / duplicated / out of order / torn | %d / %d / %d / %d |\n", o.Lost, o.Dup, o.OutOfOrder, o.Torn)
	if o.Err != "" {
		b.w("| error | %s |\n", oneLine(o.Err))
	}
	b.w("\nIn compatible mode (`cat >>`) lines that ssh had accepted when sshd killed the session are lost; nothing acknowledges them (README, \"What compatible mode can and cannot promise\").\n\n")
}

// scale is section 4: many pushes into one log host.
func (b *markdown) scale() {
	if len(b.r.Scale) == 0 {
		return
	}
	b.w("## 4. Scale: many pushes into one log host\n\n")
	b.w("One key, each push its own FIFO and remote file, all into the one sshd; a single writer paces every FIFO (one write per line) for the total rate. The window runs from the first line written to the last line delivered. The log host's side is the sshd listener and every process below it (the per-connection sshd processes and `cat`), their CPU summed from /proc over the window.\n\n")
	b.w("| pushes | target lines/s | delivered lines/s | lines (each once) | lost / dup | time until all connected | log host CPU | log host cores per 1,000 lines/s | push + ssh CPU | push alone | largest push peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range b.r.Scale {
		b.w("| %d | %s | %s | %s of %s | %d / %d%s | %.1f s | %.2f s over %.1f s (%d processes) | %.3f | %.2f s | %.2f s | %s |\n",
			s.Procs, thousands(s.Rate), thousands(int(math.Round(s.DeliveredRate()))), thousands(s.Delivered), thousands(s.Lines),
			s.Lost, s.Dup, errNote(s.Err), float64(s.Connect), float64(s.LogHostCPU), float64(s.Window), s.LogHostProc, s.CoresPer1k(),
			float64(s.ClientCPU), float64(s.PushCPU), mib(s.MaxPushRSS))
	}
	b.w("\n")
}

// recovery is section 5: connection setup, ssh killed, a silent cut.
func (b *markdown) recovery() {
	r, rc := b.r, b.r.Recovery
	if rc == nil {
		return
	}
	b.w("## 5. Recovery\n\n")
	b.w("- Connection setup (reference): a bare `ssh -C loghost 'cat >> f'` with one line on its input, from starting ssh to the line in the file: median %.0f ms (min %.0f, max %.0f, %d runs).\n", r.Setup.P50, r.Setup.Min, r.Setup.Max, r.Setup.N)
	b.w("- ssh killed (SIGKILL) under push at %s lines/s, %d times: from the kill to the first line written after it arriving in the remote file (it can only come through the new connection): median %.0f ms, min %.0f, max %.0f. push's reconnect backoff starts at %.2f s (±20 %% jitter). Lines lost over all kills: %d (what the killed ssh held; compatible mode).\n",
		thousands(rc.Rate), rc.Kills, rc.FirstByte.P50, rc.FirstByte.Min, rc.FirstByte.Max, float64(rc.BackoffMin), rc.Lost)
	if rc.CutMeasured {
		b.w("- Silent link cut: a second sshd in a network namespace behind a veth pair; the far end of the pair is taken down (packets vanish, nothing is refused or reset) while push sends 100 lines/s. push's ssh gave up after **%.1f s** (%s: at most 30 s after the last answer from the server, so 30-40 s after the cut). After the link came back, lines arrived again after %.1f s (a connection attempt started during the cut waits for `ConnectTimeout=10`).\n",
			float64(rc.CutDetect), rc.CutConfig, float64(rc.CutResume))
	} else {
		b.w("- Silent link cut: %s. Detection then rests on ssh's keepalive as configured (%s): 30-40 s.\n", rc.CutNote, rc.CutConfig)
	}
	b.w("\n")
}

// quiet is the section on what else ran during each part.
func (b *markdown) quiet() {
	qs := b.r.Quiet
	if len(qs) == 0 {
		return
	}
	b.w("## Quiet machine\n\n")
	b.w("The 1-minute, 5-minute and 15-minute load averages before and after each part (the harness's own work raises them), and the CPU that processes outside the harness's own process tree used meanwhile (from /proc/stat less the harness's tree): the work of others that the figures would include. A part where others took more than %.2f of a core is disturbed, and a run with one is thrown away.\n\n", qs[0].MaxShare)
	b.w("| part | load before | load after | duration | others' CPU | |\n|---|---|---|---|---|---|\n")
	for _, q := range qs {
		mark := "quiet"
		if q.Disturbed() {
			mark = "**disturbed**"
		}
		b.w("| %s | %s | %s | %.0f s | %.2f s (%.2f cores) | %s |\n", q.Label, q.LoadBefore, q.LoadAfter, float64(q.Seconds), float64(q.OtherCPU), q.Share(), mark)
	}
	b.w("\n")
}

// analysis is the hand-written part, if there is one.
func (b *markdown) analysis(text string) {
	if strings.TrimSpace(text) != "" {
		b.w("## Analysis\n\n*(Hand-written, from `bench/%s`; the figures above are generated.)*\n\n%s\n", AnalysisFile, strings.TrimSpace(text))
	}
}

func displayName(m Mode) string {
	if m.Bare {
		return fmt.Sprintf("bare ssh (%s)", m.Dir)
	}
	return m.Name
}

func errNote(e string) string {
	if e == "" {
		return ""
	}
	return ", error: " + oneLine(e)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

func countOK(runs []Run) int {
	n := 0
	for _, r := range runs {
		if r.OK() {
			n++
		}
	}
	return n
}

func medianOf(runs []Run, f func(Run) float64, format string) string {
	var v []float64
	for _, r := range runs {
		if r.Seconds > 0 {
			v = append(v, f(r))
		}
	}
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf(format, median(v))
}

func maxOf(runs []Run, f func(Run) int64) int64 {
	var m int64
	for _, r := range runs {
		m = max(m, f(r))
	}
	return m
}
