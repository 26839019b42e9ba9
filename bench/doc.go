// Package bench is sshlogfwd's benchmark harness and its report.
//
// The harness lives in this package's _test.go files, because it runs real
// daemons through internal/testlab, which only test code may import. It
// starts one private loopback sshd and measures, in one run and side by
// side, the bare `ssh [-C] host 'cat >> f'` pipe against push and pull in
// every mode they have: throughput, latency, the cost of the sshlogfwd
// process, many pushes into one log host, and recovery after breaks.
// Side by side matters: these machines have 2 cores shared with other
// work, so absolute figures wander and the ratios are what hold.
//
// The long run is a benchmark (BenchmarkSuite), so `go test ./...` never
// starts it; scripts/bench.sh runs it and (re)writes BENCHMARKS.md and the
// plot. A short smoke test of the harness does run with the test suite.
//
// The non-test code here is the part that needs no daemons: the result
// types, the Markdown report with its targets, and a small PNG plot drawn
// with the standard library and a built-in bitmap font.
package bench
