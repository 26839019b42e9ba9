#!/bin/sh
# Runs the benchmark harness (bench/) against a private loopback sshd and
# rewrites BENCHMARKS.md, bench/results.png and bench/results.json. It takes
# about 15 minutes on 2 cores. Extra arguments go to the harness, e.g.
#   ./scripts/bench.sh -outage 10s -scale-procs 50 -rounds 3
# and -render re-renders the report from bench/results.json without measuring.
# Installs what is missing (openssh-server, iproute2) when run as root.
set -eu
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
ensure_prereqs
root=$(pwd)
gotest="go test ./bench -run ^\$ -bench ^BenchmarkSuite\$ -benchtime 1x -count 1 -timeout 90m -v"
log=$(mktemp /tmp/sshlogfwd-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "benchmarking (about 15 minutes; the figures are printed at the end)..." >&2
status=0
# shellcheck disable=SC2086 # gotest is split on purpose
$gotest -args -out "$root/BENCHMARKS.md" -plot "$root/bench/results.png" -json "$root/bench/results.json" \
	-command "./scripts/bench.sh${*:+ $*}" "$@" >"$log" 2>&1 || status=$?
# sshd's own log lines are kept out of the summary.
grep -v 'logbuf.go:' "$log" || true
exit $status
