#!/bin/sh
# Runs the fault-injection tests (compatible and reliable push, pull, push
# --journal, logrotate) with SSHLOGFWD_RESULTS set, so that each writes
# what it measured, and renders those results into the tables of
# docs/guarantees.md (scripts/faulttable) with the date and this command.
# Nothing is rendered when a test fails. Takes about four minutes on 2
# cores. Extra arguments go to go test.
# FAULTTABLES=logrotate (a comma-separated list of push, pull, journal, logrotate)
# runs only the tests of those tables and leaves the others as they are.
# Installs what is missing (see scripts/prereqs.sh) when run as root.
set -eu
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
ensure_prereqs
results=$(mktemp -d /tmp/sshlogfwd-faults.XXXXXX)
trap 'rm -rf "$results"' EXIT
tables=${FAULTTABLES:-push,pull,journal,logrotate}
tests=
for table in $(echo "$tables" | tr , ' '); do
	case $table in
	push) re='TestReliable(SSHKilled|ReceiveKilled|PushKilled|SSHDDown|NetworkCut|Rotated|Quota|FanOut|ReceiveFrozen|DiskFull|SpoolBound)|TestPush(SSHKilled|SSHDDown)' ;;
	pull) re='TestPull(ReliableSSHKilled|CompatSSHKilled|RestartedKill9|ServeKilled|Rotation)' ;;
	journal) re='TestJournal(SSHKilled|PushKilled|ctlKilled|Gap)' ;;
	logrotate) re='Test(Receive|Serve)Logrotate' ;;
	*) echo "FAULTTABLES: unknown table $table (push, pull, journal, logrotate)" >&2; exit 2 ;;
	esac
	tests="${tests:+$tests|}$re"
done
SSHLOGFWD_RESULTS=$results go test -race -count=1 -parallel 8 -timeout 30m -run "^($tests)\$" "$@" ./e2e
stamp="./scripts/faulttable.sh${*:+ $*}"
[ -z "${FAULTTABLES:-}" ] || stamp="FAULTTABLES=$tables $stamp"
go run ./scripts/faulttable -results "$results" -doc docs/guarantees.md -tables "$tables" \
	-command "$stamp: go test -race -count=1 -parallel 8 -run <the fault tests> ./e2e"
echo "docs/guarantees.md: fault tables rendered from $(ls "$results" | wc -l) results" >&2
