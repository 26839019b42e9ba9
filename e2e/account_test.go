package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestCheckPullAccount: the watched host's account cannot run serve —
// nologin is its shell (sshd runs the forced command through it), or the
// forced command's program is not installed. check pull and pull itself
// say so with the fix, instead of suggesting --compat.
func TestCheckPullAccount(t *testing.T) {
	t.Parallel()
	testlab.RequireRoot(t, "running as another user")
	bin := testlab.Binary(t)
	nologin := newUser(t, "wtnl", "--shell", "/usr/sbin/nologin", "--password", "*")
	for _, tt := range []struct {
		name     string
		user     string
		farBin   string
		check    []string // in check's FAIL serve line
		pullSays string
	}{
		{"nologin shell", nologin, bin, []string{"nologin as its shell", "usermod -s /bin/sh " + nologin}, "usermod -s /bin/sh"},
		{"forced command not installed", "root", "/nonexistent/sshlogfwd", []string{"did not find the program", "/nonexistent/sshlogfwd"}, "install its program there"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := publicDir(t)
			watched := filepath.Join(dir, "auth.log")
			os.WriteFile(watched, []byte("a line\n"), 0o644)
			// sshd reads authorized_keys as the account: the lab's own
			// file is private to root.
			keys := filepath.Join(dir, "authorized_keys")
			sshd := testlab.StartSSHD(t, testlab.SSHDOptions{Extra: []string{"AuthorizedKeysFile " + keys}})
			line := authorizedKey(t, sshd, "pull", "--sshlogfwd-path", tt.farBin, "--from", "127.0.0.1", watched)
			os.WriteFile(keys, []byte(line+"\n"), 0o644)
			src := tt.user + "@" + sshd.Alias + ":" + watched
			out := filepath.Join(dir, "pulled.log")
			res := runBinary(t, runOpts{}, "check", "pull", "-F", sshd.SSHConfig, "--probe-wait", "2s", "--output", out, src)
			t.Logf("check pull:\n%s", res.Stdout)
			_, fail := reportLines(res.Stdout)
			if res.Code != 1 || !hasLine(fail, "FAIL  serve", tt.check...) {
				t.Errorf("check pull: want a FAIL serve line with %q: %s", tt.check, res)
			}
			if hasLine(fail, "FAIL  serve", "--compat") {
				t.Errorf("check pull points at --compat: %s", res)
			}
			log := filepath.Join(dir, "pull.log")
			cmd := exec.Command(bin, "pull", "--log", log, "-F", sshd.SSHConfig, "--output", out, src)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			testlab.WaitFor(t, 20*time.Second, func() bool { return strings.Contains(string(readFile(log)), tt.pullSays) },
				"pull to say %q; its log:\n%s", tt.pullSays, func() []byte { return readFile(log) }())
		})
	}
}

// newUser adds a user for the test (useradd with args, a unique name
// starting with prefix) and removes it, with its home if it has one, when
// the test ends.
func newUser(t *testing.T, prefix string, args ...string) string {
	t.Helper()
	name := uniqueName(prefix)
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { removeUser(t, name) })
	return name
}

// uniqueName is prefix and 8 random hex digits: a user name no other test
// (or run) uses.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// removeUser deletes a user the test made, with its home directory and
// group; one that does not exist (its creation failed) is no error.
func removeUser(t *testing.T, name string) {
	t.Helper()
	if exec.Command("id", "-u", name).Run() != nil {
		return
	}
	if out, err := exec.Command("userdel", "--remove", name).CombinedOutput(); err != nil {
		// userdel --remove complains about a missing home or mail spool.
		if exec.Command("id", "-u", name).Run() == nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	}
}
