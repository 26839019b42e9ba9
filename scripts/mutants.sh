#!/bin/sh
# Proves that the test suite bites: puts each deliberate fault listed in
# internal/mutants (receive acknowledging before fsync, the sender not
# rewinding, ...) into a copy of the module in turn, runs every test meant
# to catch it, end-to-end tests against a real sshd included, and prints
# the table of mutants and the tests that killed them. Fails if a mutant
# survives or its code is no longer where the table says. Takes about ten
# minutes on 2 cores. Extra arguments go to the test, e.g.
#   ./scripts/mutants.sh -mutants.run 'pull|fifo'
# `go test ./internal/mutants`, part of scripts/test.sh, runs the fast
# subset: the mutants whose killing tests are unit tests.
# Installs what is missing (see scripts/prereqs.sh) when run as root.
set -eu
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
ensure_prereqs
exec go test -count=1 -v -timeout 120m -run '^TestMutants$' ./internal/mutants -args -mutants.all "$@"
