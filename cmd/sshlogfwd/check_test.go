package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
)

func TestExplainSSHFailure(t *testing.T) {
	p := &prober{dest: execssh.Dest{Host: "loghost"}, config: map[string][]string{"hostname": {"192.0.2.1"}, "port": {"2222"}}}
	tests := []struct {
		stderr []string
		want   []string
	}{
		{[]string{"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @", "Host key verification failed."}, []string{"CHANGED", "ssh-keygen -R loghost"}},
		{[]string{"No ED25519 host key is known for [192.0.2.1]:2222 and you have requested strict checking.", "Host key verification failed."}, []string{"not known", "ssh-keyscan -p 2222 192.0.2.1"}},
		{[]string{"Permissions 0644 for 'k' are too open.", `Load key "k": bad permissions`, "root@x: Permission denied (publickey)."}, []string{"others can read", "chmod 600"}},
		{[]string{"root@x: Permission denied (publickey)."}, []string{"refused the key", "authorized-key"}},
		{[]string{"ssh: connect to host 192.0.2.1 port 2222: Connection refused"}, []string{"cannot reach"}},
		{[]string{"ssh: Could not resolve hostname nosuch: Name or service not known"}, []string{"unknown host name"}},
		{[]string{"something else"}, []string{"did not connect (something else)", "-v"}},
	}
	for _, tt := range tests {
		problem, fix := p.explainSSHFailure(probeResult{stderr: tt.stderr}, "log host")
		for _, w := range tt.want {
			if !strings.Contains(problem+" "+fix, w) {
				t.Errorf("%q: %q / %q lacks %q", tt.stderr, problem, fix, w)
			}
		}
	}
}

// reportOf runs f against a report and returns its text and failures.
func reportOf(f func(r *report)) (string, int) {
	var b bytes.Buffer
	r := &report{w: &b}
	f(r)
	return b.String(), r.failed
}

func TestCheckKeyFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	os.WriteFile(key, []byte("not parsed for modes"), 0o600)
	for _, tt := range []struct {
		mode os.FileMode
		want string
	}{
		{0o644, "readable by every user"},
		{0o604, "readable by every user"},
		{0o620, "writable by others"},
		{0o640, "ssh ignores"},
	} {
		os.Chmod(key, tt.mode)
		out, failed := reportOf(func(r *report) { checkKeyFile(r, key, "ssh") })
		if failed != 1 || !strings.Contains(out, tt.want) || !strings.HasPrefix(out, "FAIL  key "+key) || strings.Count(out, "\n") != 1 {
			t.Errorf("mode %04o: %q, want one FAIL line with %q", tt.mode, out, tt.want)
		}
	}
	out, failed := reportOf(func(r *report) { checkKeyFile(r, filepath.Join(dir, "missing"), "ssh") })
	if failed != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("missing key: %q", out)
	}
}

func TestCheckFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "f")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "r")
	os.WriteFile(regular, nil, 0o600)
	for _, tt := range []struct {
		path   string
		mode   os.FileMode
		create os.FileMode
		user   string
		ok     bool
		want   string
	}{
		{path: fifo, mode: 0o620, user: "root", ok: true, want: "readable only by its owner"},
		{path: fifo, mode: 0o640, user: "root", want: "others can read"},
		{path: fifo, mode: 0o604, user: "root", want: "others can read"},
		{path: fifo, mode: 0o622, user: "root", want: "every user can write"},
		{path: fifo, mode: 0o600, user: "nobody", want: "cannot write"},
		{path: fifo, mode: 0o600, user: "no-such-user-here", want: "cannot write"},
		{path: regular, user: "root", want: "not a FIFO but a regular file"},
		{path: filepath.Join(dir, "new.fifo"), create: 0o620, user: "root", ok: true, want: "does not exist yet"},
		{path: filepath.Join(dir, "new.fifo"), create: 0o644, user: "root", want: "would let others"},
		{path: filepath.Join(dir, "no", "dir", "f"), create: 0o620, user: "root", want: "cannot create it"},
	} {
		if tt.path == fifo {
			os.Chmod(fifo, tt.mode)
		}
		out, failed := reportOf(func(r *report) { checkFIFO(r, tt.path, tt.create, tt.user) })
		if (failed == 0) != tt.ok || !strings.Contains(out, tt.want) {
			t.Errorf("%s mode %04o user %s: %q, want ok=%v with %q", tt.path, tt.mode, tt.user, out, tt.ok, tt.want)
		}
	}
}

func TestCheckPrivateDir(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o755)
	closed := filepath.Join(dir, "closed")
	os.Mkdir(closed, 0o700)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	for _, tt := range []struct {
		path string
		ok   bool
		want string
	}{
		{closed, true, "writable, mode 0700"},
		{filepath.Join(closed, "a", "b"), true, "will be created"},
		{open, false, "every user can read"},
		{file, false, "not a directory"},
		{filepath.Join(file, "sub"), false, ""},
	} {
		out, failed := reportOf(func(r *report) { checkPrivateDir(r, "--spool "+tt.path, tt.path) })
		if (failed == 0) != tt.ok || !strings.Contains(out, tt.want) {
			t.Errorf("%s: %q, want ok=%v with %q", tt.path, out, tt.ok, tt.want)
		}
	}
}
