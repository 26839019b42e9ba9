package main

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/sshlogfwd/sshlogfwd/internal/buildinfo"
)

// Set at build time by whoever knows better than the build information:
// scripts/package.sh, a distribution's build from a source tarball.
//
//	go build -ldflags "-X main.version=1.2.0 -X main.commit=0123abc" ./cmd/sshlogfwd
var (
	version string
	commit  string
)

// VersionCmd prints what a bug report needs: our version and commit, the
// Go that built us and the ssh client we would run.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(ctx context.Context) error {
	bi, _ := debug.ReadBuildInfo()
	buildinfo.Write(os.Stdout, buildinfo.Resolve(version, commit, bi), buildinfo.SSH(ctx, "ssh"))
	return nil
}
