#!/bin/sh
# Runs the whole test suite: unit tests, the end-to-end tests against a real
# sshd and rsyslogd on loopback, and the fault-injection runs.
# Installs what is missing (see scripts/prereqs.sh) when run as root.
set -eu
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
ensure_prereqs
go vet ./...
# -race also builds the sshlogfwd binary the end-to-end tests run with the
# race detector. Packages run in parallel; the e2e tests run their real
# sshd instances in parallel where they share nothing.
exec go test -race -count=1 -timeout 14m -parallel 8 "$@" ./...
