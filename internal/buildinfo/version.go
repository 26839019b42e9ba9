// Package buildinfo says what a bug report needs: our version and commit
// (stamped at build time, or from the build information), the Go that
// built us and the ssh client we would run.
package buildinfo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Info is what `sshlogfwd version` says about the build.
type Info struct {
	Version  string // "dev" when nothing knows it
	Commit   string // "" when unknown
	Modified bool   // built from a checkout with uncommitted changes
	Go       string
}

// Resolve resolves the version and the commit: the -X stamps where
// given, else the build information: the module version for `go install
// ...@v1.2.0`, the VCS revision for a build in a checkout (`go build`
// stamps it unless -buildvcs=false).
func Resolve(stampedVersion, stampedCommit string, bi *debug.BuildInfo) Info {
	v := Info{Version: stampedVersion, Commit: stampedCommit, Go: runtime.Version()}
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

// sshTimeout bounds `ssh -V`, which answers at once: a client that
// does not is reported, not waited for.
const sshTimeout = 5 * time.Second

// SSH is the first line `ssh -V` prints (on standard error) for the
// ssh client found in $PATH under name, with its path, or why there is none.
func SSH(ctx context.Context, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Sprintf("none (%v)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sshTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-V").CombinedOutput()
	line, _, _ := strings.Cut(string(bytes.TrimSpace(out)), "\n")
	if err != nil {
		return fmt.Sprintf("%s: -V failed: %v %s", path, err, line)
	}
	return path + ": " + line
}

// Write prints v and the ssh line: "sshlogfwd VERSION" first (as
// before), then one "key: value" line each.
func Write(w io.Writer, v Info, ssh string) {
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
