package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
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
	writeVersion(os.Stdout, buildVersion(version, commit, bi), sshVersion(ctx, "ssh"))
	return nil
}

// versionInfo is what `sshlogfwd version` says about the build.
type versionInfo struct {
	Version  string // "dev" when nothing knows it
	Commit   string // "" when unknown
	Modified bool   // built from a checkout with uncommitted changes
	Go       string
}

// buildVersion resolves the version and the commit: the -X stamps where
// given, else the build information: the module version for `go install
// ...@v1.2.0`, the VCS revision for a build in a checkout (`go build`
// stamps it unless -buildvcs=false).
func buildVersion(stampedVersion, stampedCommit string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: stampedVersion, Commit: stampedCommit, Go: runtime.Version()}
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit, v.Modified = setting(bi, "vcs.revision"), setting(bi, "vcs.modified") == "true"
	}
	return v
}

// setting is the value of the build setting key, or "".
func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// sshVersionTimeout bounds `ssh -V`, which answers at once: a client that
// does not is reported, not waited for.
const sshVersionTimeout = 5 * time.Second

// sshVersion is the first line `ssh -V` prints (on standard error) for the
// ssh client found in $PATH under name, with its path, or why there is none.
func sshVersion(ctx context.Context, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Sprintf("none (%v)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sshVersionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-V").CombinedOutput()
	line, _, _ := strings.Cut(string(bytes.TrimSpace(out)), "\n")
	if err != nil {
		return fmt.Sprintf("%s: -V failed: %v %s", path, err, line)
	}
	return path + ": " + line
}

// writeVersion prints v and the ssh line: "sshlogfwd VERSION" first (as
// before), then one "key: value" line each.
func writeVersion(w io.Writer, v versionInfo, ssh string) {
	fmt.Fprintln(w, "sshlogfwd", v.Version)
	c := v.Commit
	switch {
	case c == "":
		c = "unknown"
	case v.Modified:
		c += " (modified)"
	}
	fmt.Fprintln(w, "commit:", c)
	fmt.Fprintln(w, "go:", v.Go, runtime.GOOS+"/"+runtime.GOARCH)
	fmt.Fprintln(w, "ssh:", ssh)
}
