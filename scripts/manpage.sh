#!/bin/sh
# Regenerates docs/sshlogfwd.1, the manual page, from the command line model
# (the hidden command `sshlogfwd man`). go test ./cmd/sshlogfwd fails while
# the committed page differs from what the model generates; the packages
# install the page their own binary prints.
set -eu
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
go run ./cmd/sshlogfwd man > docs/sshlogfwd.1.tmp
mv docs/sshlogfwd.1.tmp docs/sshlogfwd.1
echo "docs/sshlogfwd.1 regenerated; view it with: man -l docs/sshlogfwd.1" >&2
