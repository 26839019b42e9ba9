#!/bin/sh
# Runs the fault-injection tests (compatible and reliable push, pull) with
# SSHLOGFWD_RESULTS set, so that each writes what it measured, and renders
# those results into the tables of docs/guarantees.md (scripts/faulttable)
# with the date and this command. Nothing is rendered when a test fails.
# Takes about three minutes on 2 cores. Extra arguments go to go test.
# Installs what is missing (see scripts/prereqs.sh) when run as root.
set -eu
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
ensure_prereqs
results=$(mktemp -d /tmp/sshlogfwd-faults.XXXXXX)
trap 'rm -rf "$results"' EXIT
tests='^(TestReliable(SSHKilled|ReceiveKilled|PushKilled|SSHDDown|NetworkCut|Rotated|Quota|FanOut|ReceiveFrozen|DiskFull|SpoolBound)|TestPush(SSHKilled|SSHDDown)|TestPull(ReliableSSHKilled|CompatSSHKilled|RestartedKill9|ServeKilled|Rotation))$'
SSHLOGFWD_RESULTS=$results go test -race -count=1 -parallel 8 -timeout 30m -run "$tests" "$@" ./e2e
go run ./scripts/faulttable -results "$results" -doc docs/guarantees.md \
	-command "./scripts/faulttable.sh${*:+ $*}: go test -race -count=1 -parallel 8 -run <the fault tests> ./e2e"
echo "docs/guarantees.md: fault tables rendered from $(ls "$results" | wc -l) results" >&2
