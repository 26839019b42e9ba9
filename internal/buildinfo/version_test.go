package buildinfo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}}
	clean := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "false"}}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/sshlogfwd/sshlogfwd", Version: "v1.2.0"}}
	for _, tt := range []struct {
		name              string
		stamped, stampedC string
		bi                *debug.BuildInfo
		want              Info
	}{
		{"go install @v1.2.0", "", "", installed, Info{Version: "v1.2.0", Go: "go1.26.8"}},
		{"checkout, uncommitted changes", "", "", checkout, Info{Version: "dev", Commit: "0123abc", Modified: true, Go: "go1.26.8"}},
		{"checkout, clean", "", "", clean, Info{Version: "dev", Commit: "0123abc", Go: "go1.26.8"}},
		{"stamped version wins", "1.3.0", "", installed, Info{Version: "1.3.0", Go: "go1.26.8"}},
		{"stamped commit wins, modified not guessed", "1.3.0", "fedcba9", checkout, Info{Version: "1.3.0", Commit: "fedcba9", Go: "go1.26.8"}},
		{"-buildvcs=false", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, Info{Version: "dev", Go: "go1.26.8"}},
	} {
		if got := Resolve(tt.stamped, tt.stampedC, tt.bi); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if got := Resolve("", "", nil); got.Version != "dev" || got.Go == "" {
		t.Errorf("no build information: %+v, want dev and this Go", got)
	}
}

func TestWriteVersion(t *testing.T) {
	var b bytes.Buffer
	Write(&b, Info{Version: "1.2.0", Commit: "0123abc", Modified: true, Go: "go1.26.8"}, "/usr/bin/ssh: OpenSSH_9.2p1")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{"sshlogfwd 1.2.0", "commit: 0123abc (modified)", "go: go1.26.8 ", "ssh: /usr/bin/ssh: OpenSSH_9.2p1"}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s\nwant %d lines", b.String(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, lines[i], w)
		}
	}
}

// TestSSHVersion: the line ssh -V prints on standard error is reported
// with the path of the client found in $PATH, and a missing client says so.
func TestSSHVersion(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "ssh")
	os.WriteFile(fake, []byte("#!/bin/sh\n[ \"$1\" = -V ] || exit 9\necho 'OpenSSH_9.9p1 Fake, OpenSSL 3' >&2\n"), 0o755)
	t.Setenv("PATH", dir)
	if got, want := SSH(context.Background(), "ssh"), fake+": OpenSSH_9.9p1 Fake, OpenSSL 3"; got != want {
		t.Errorf("sshVersion = %q, want %q", got, want)
	}
	if got := SSH(context.Background(), "no-such-ssh"); !strings.HasPrefix(got, "none (") {
		t.Errorf("sshVersion of a missing client = %q, want none (...)", got)
	}
}
