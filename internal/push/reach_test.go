package push

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Reach.Dests builds each destination's ssh command line with push's
// remote command for its mode, and refuses a DEST it cannot parse.
func TestReachDests(t *testing.T) {
	r := Reach{SSH: "/usr/bin/ssh", Identity: "/k", Port: 2222, SSHOptions: []string{"UserKnownHostsFile=/kh"}, NoCompress: true, RemoteSSHLogfwd: "/opt/sshlogfwd"}
	for _, tt := range []struct {
		reach    Reach
		reliable bool
		remote   string
	}{
		{r, false, "cat >> /var/log/a.log"},
		{r, true, "/opt/sshlogfwd receive -- /var/log/a.log"},
		{Reach{RemoteCommand: "logger -t web1"}, true, "logger -t web1"},
	} {
		dests, err := tt.reach.Dests([]string{"log@loghost:/var/log/a.log"}, tt.reliable, "M")
		if err != nil {
			t.Fatal(err)
		}
		argv := dests[0].Argv
		if len(dests) != 1 || dests[0].String() != "log@loghost:/var/log/a.log" || argv[len(argv)-1] != tt.remote {
			t.Errorf("%+v reliable=%v: %q", tt.reach, tt.reliable, argv)
		}
	}
	dests, _ := r.Dests([]string{"h:/x"}, false, "M")
	for _, want := range [][]string{{"-i", "/k"}, {"-p", "2222"}, {"-o", "UserKnownHostsFile=/kh"}} {
		if !containsRun(dests[0].Argv, want) {
			t.Errorf("argv %q lacks %q", dests[0].Argv, want)
		}
	}
	if dests[0].Argv[0] != "/usr/bin/ssh" || slices.Contains(dests[0].Argv, "-C") {
		t.Errorf("argv %q: want /usr/bin/ssh without -C", dests[0].Argv)
	}
	if _, err := r.Dests([]string{"no-path"}, false, "M"); err == nil {
		t.Error("a DEST without a path: no error")
	}
	if _, err := ParseDests([]string{"h:/x", "h:/y", "h:/x"}); err == nil || err.Error() != "h:/x given twice" {
		t.Errorf("a DEST given twice: %v", err)
	}
}

func containsRun(s, run []string) bool {
	for i := range s {
		if len(s)-i >= len(run) && slices.Equal(s[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// Our "connected" marker counts only when the user's options leave ssh's
// LocalCommand to us.
func TestReachReadyMarker(t *testing.T) {
	if got := (Reach{}).ReadyMarker("M"); got != "M" {
		t.Errorf("plain: %q", got)
	}
	if got := (Reach{SSHOptions: []string{"LocalCommand=echo hi"}}).ReadyMarker("M"); got != "" {
		t.Errorf("the user's LocalCommand: %q, want none", got)
	}
}

// Abs makes the key, the config and a path to ssh absolute (what a
// spool's record keeps); ssh found in $PATH stays as it is.
func TestReachAbs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	got := Reach{SSH: "bin/ssh", Identity: "key", SSHConfig: "cfg"}.Abs()
	if got.SSH != filepath.Join(dir, "bin/ssh") || got.Identity != filepath.Join(dir, "key") || got.SSHConfig != filepath.Join(dir, "cfg") {
		t.Errorf("Abs = %+v", got)
	}
	if got := (Reach{SSH: "ssh"}).Abs(); got.SSH != "ssh" || got.Identity != "" || got.SSHConfig != "" || strings.Contains(got.SSH, "/") {
		t.Errorf("Abs of defaults = %+v", got)
	}
}
