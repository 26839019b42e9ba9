#!/bin/sh
# Runs the benchmark harness (bench/) against a private loopback sshd and
# rewrites BENCHMARKS.md, bench/results.png and bench/results.json. It takes
# about 12 minutes on 2 cores, on a quiet machine only: the harness waits
# (up to -quiet-wait, 30 minutes) until the 1-minute load average is at most
# -max-load (1.0), and before each throughput round until no other process
# uses the CPU; it records the load around every round, and a run that other
# work disturbed anyway is thrown away (its figures go to
# bench/results.disturbed.json; the report is left alone). The report gives
# medians of at least 5 rounds (-rounds) beside the targets of issue 14.
#
# Extra arguments go to the harness, e.g.
#   ./scripts/bench.sh -outage 10s -scale-procs 50 -rounds 7
# -render re-renders the report from bench/results.json without measuring.
# -dry-run tries the harness on a busy machine, with fewer rounds if asked
# (e.g. -dry-run -rounds 1 -parts throughput-pull -lines 20000): it waits for
# nothing, and its report goes to a temporary directory, never over
# BENCHMARKS.md.
# Installs what is missing (openssh-server, iproute2) when run as root.
set -eu
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
ensure_prereqs
root=$(pwd)
out="$root/BENCHMARKS.md" plot="$root/bench/results.png" json="$root/bench/results.json"
for arg in "$@"; do
	case $arg in
	-dry-run | --dry-run | -dry-run=true | --dry-run=true)
		dry=$(mktemp -d /tmp/sshlogfwd-bench-dry.XXXXXX)
		out="$dry/BENCHMARKS.md" plot="$dry/results.png" json="$dry/results.json"
		;;
	esac
done
gotest="go test ./bench -run ^\$ -bench ^BenchmarkSuite\$ -benchtime 1x -count 1 -timeout 150m -v"
log=$(mktemp /tmp/sshlogfwd-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "benchmarking (about 12 minutes once the machine is quiet; the figures are printed at the end)..." >&2
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
status=0
# shellcheck disable=SC2086 # gotest is split on purpose
$gotest -args -out "$out" -plot "$plot" -json "$json" \
	-command "./scripts/bench.sh${*:+ $*}" "$@" >"$log" 2>&1 || status=$?
# sshd's own log lines are kept out of the summary.
grep -v 'logbuf.go:' "$log" || true
if [ -n "${dry:-}" ]; then
	echo "dry run: the report is in $dry" >&2
fi
exit $status
