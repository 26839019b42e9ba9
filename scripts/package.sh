#!/bin/sh
# Builds the static sshlogfwd binary, its manual page, and the .deb and .rpm
# (with nfpm, through the Go program in scripts/package/) into dist/:
#
#   scripts/package.sh                  # dist/sshlogfwd_<version>_amd64.deb, ...rpm
#   VERSION=1.2.0 scripts/package.sh    # a release
#   DIST=/tmp/out scripts/package.sh    # elsewhere
#
# The version is $VERSION, else the latest tag vX.Y.Z when HEAD is that tag,
# else X.Y.Z (0.0.0 before the first tag) + git<commit time>.<commit>, which
# sorts after X.Y.Z and before the next release for dpkg and rpm alike.
# File times in the packages are the commit's (SOURCE_DATE_EPOCH), so two
# builds of one commit give the same packages.
set -eu
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
dist=${DIST:-dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi
if [ -z "${VERSION:-}" ]; then
	tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null || true)
	if [ -n "$tag" ] && [ "$(git rev-list -n 1 "$tag")" = "$(git rev-parse HEAD)" ] && [ "${commit%-dirty}" = "$commit" ]; then
		VERSION=${tag#v}
	else
		when=$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd 2>/dev/null || date -u +%Y%m%d%H%M%S)
		VERSION="${tag:-v0.0.0}+git$when.$(echo "$commit" | cut -c1-12)"
		VERSION=${VERSION#v}
		[ "${commit%-dirty}" = "$commit" ] || VERSION="$VERSION.dirty"
	fi
fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

# Static (no cgo: nothing of ours needs libc, and the binary then runs on
# any Linux of its architecture), without build paths, symbols or DWARF,
# with the version and commit that `sshlogfwd version` prints.
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$commit" \
	-o "$dist/sshlogfwd" ./cmd/sshlogfwd
# The page the binary itself prints: always the flags it has.
"$dist/sshlogfwd" man > "$dist/sshlogfwd.1"

go -C scripts/package run . -root "$PWD" -bin "$dist/sshlogfwd" -man "$dist/sshlogfwd.1" \
	-version "$VERSION" -out "$dist"
