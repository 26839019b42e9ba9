package authkeys

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// acceptedTargets are files a key may be for; each must work with push and
// pull (see requireRequestable).
var acceptedTargets = []string{
	"/var/log/remote/web1.log",
	"/srv/log/x",
	"/-x",
	"/etcetera/x.log",
	"/rootless/x.log",
	"/usrlocal.log",
	"/home/log/logs/web1.log",
	"/var/log/ünïcödé.log",
	"/var/log/a b'c\".log",
	`/var/log/back\slash.log`,
	"/var/log/$(touch INJECTED).log",
	"/var/log/./x.log",
	"//var/log/x.log",
	"/var/log/" + strings.Repeat("x", 255),
	"/var/log/U+00A0\u00a0nbsp.log",
}

func TestCheckTargetRefuses(t *testing.T) {
	keyFiles := []string{".ssh/authorized_keys", "/srv/keys/%u", "%h/my_keys", "/var/lib/ssh/%U/principals"}
	for _, tt := range []struct {
		path string
		kind error
		want string
	}{
		{"", ErrPathForm, "empty"},
		{"relative.log", ErrPathForm, "not absolute"},
		{"/var/log/", ErrPathForm, "directory"},
		{"/var/log/../../etc/cron.d/x", ErrPathForm, "'..'"},
		{"/var/log/x/..", ErrPathForm, "'..'"},
		{"/var/log/a\nb.log", ErrPathForm, "control character"},
		{"/var/log/a\tb.log", ErrPathForm, "control character"},
		{"/var/log/a\x7fb.log", ErrPathForm, "control character"},
		{"/var/log/a\u0085b.log", ErrPathForm, "control character"}, // NEL: receive refuses it in a request
		{"/var/log/a\u009bb.log", ErrPathForm, "control character"}, // CSI
		{"/var/log/a\ufffdb.log", ErrPathForm, "control character"},
		{"/var/log/a\xffb.log", ErrPathForm, "UTF-8"},
		{"/var/log/" + strings.Repeat("x", 9000), ErrPathForm, "longer than"},
		{"/etc", ErrProtectedPath, "/etc"},
		{"/etc/cron.d/loguser", ErrProtectedPath, "/etc"},
		{"/etc/ssh/authorized_keys/loguser", ErrProtectedPath, "/etc"},
		{"/etc/sudoers.d/log", ErrProtectedPath, "/etc"},
		{"/var/spool/cron/crontabs/loguser", ErrProtectedPath, "/var/spool/cron"},
		{"/var/spool/at/a0001", ErrProtectedPath, "/var/spool/at"},
		{"/root/x.log", ErrProtectedPath, "/root"},
		{"/usr/local/bin/rotate.sh", ErrProtectedPath, "/usr"},
		{"/lib/systemd/system/x.service", ErrProtectedPath, "/lib"},
		{"/proc/sys/kernel/core_pattern", ErrProtectedPath, "/proc"},
		{"/dev/sda", ErrProtectedPath, "/dev"},
		{"/boot/grub/grub.cfg", ErrProtectedPath, "/boot"},
		{"/home/log/.ssh/authorized_keys", ErrProtectedPath, "hidden"},
		{"/home/log/.bashrc", ErrProtectedPath, "hidden"},
		{"/home/log/.config/systemd/user/x.service", ErrProtectedPath, "hidden"},
		{"/var/log/.hidden/x.log", ErrProtectedPath, "hidden"},
		{"//etc/cron.d/x", ErrProtectedPath, "/etc"},
		{"/etc/./cron.d/x", ErrProtectedPath, "/etc"},
		{"/srv/keys/loguser", ErrProtectedPath, "/srv/keys/%u"},
		{"/home/log/my_keys", ErrProtectedPath, "%h/my_keys"},
		{"/my_keys", ErrProtectedPath, "%h/my_keys"}, // a home of /
		{"/var/lib/ssh/1001/principals", ErrProtectedPath, "principals"},
	} {
		err := CheckTarget(tt.path, keyFiles)
		var pe *PathError
		if !errors.Is(err, tt.kind) || !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckTarget(%q) = %v; want a %v naming %q", tt.path, err, tt.kind, tt.want)
		}
	}
}

func TestCheckTargetAccepts(t *testing.T) {
	keyFiles := []string{".ssh/authorized_keys", "/srv/keys/%u", "/var/lib/ssh/%U/principals"}
	for _, p := range append(acceptedTargets, "/srv/keys/a/b", "/var/lib/ssh/x1/principals") {
		if err := CheckTarget(p, keyFiles); err != nil {
			t.Errorf("CheckTarget(%q): %v", p, err)
		}
	}
}

// requireRequestable fails the test unless the requests push and pull send
// for p are accepted by receive and serve for the forced command made
// for p, whatever program path they name.
func requireRequestable(t *testing.T, p string) {
	t.Helper()
	far := tailer.Cursor{Dev: math.MaxUint64, Ino: math.MaxUint64, Offset: math.MaxInt64}
	for _, bin := range []string{"sshlogfwd", "/usr/local/bin/sshlogfwd"} {
		if err := request.ParseReceive(p, request.Receive(bin, p)); err != nil {
			t.Errorf("accepted path %q: push's request refused by receive: %v", p, err)
		}
		for _, r := range []request.ServeRequest{{}, {From: "start"}, {Cursor: &far}} {
			if _, err := request.ParseServe(p, request.Serve(bin, p, r)); err != nil {
				t.Errorf("accepted path %q: pull's request %+v refused by serve: %v", p, r, err)
			}
		}
	}
}

// TestAcceptedPathsWorkWithPushAndPull: every path authorized-key accepts
// for any role gives a line whose key works: push's and pull's requests for
// it pass receive's and serve's grammar.
func TestAcceptedPathsWorkWithPushAndPull(t *testing.T) {
	paths := slices.Clone(acceptedTargets)
	for _, name := range hostilePaths {
		paths = append(paths, filepath.Join("/var/log/remote", name))
	}
	for _, p := range paths {
		for _, role := range []Role{PushCompat, PushReliable, PullCompat, PullReliable} {
			if _, err := Command(role, p, CommandOptions{}); err != nil {
				t.Errorf("Command(%v, %q): %v", role, p, err)
			}
		}
		requireRequestable(t, p)
	}
}

// FuzzCheckPath: whatever CheckPath accepts is absolute, has no "..", and
// works with push and pull.
func FuzzCheckPath(f *testing.F) {
	for _, p := range append(slices.Clone(acceptedTargets), "/a\u0085b", "/a/../b", "x", "/a\x00b", "/'\\'") {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
			t.Fatalf("CheckPath accepted %q", p)
		}
		requireRequestable(t, p)
	})
}

func TestCheckPathForTheProgram(t *testing.T) {
	// The program is not written to: a home directory's hidden bin is
	// fine, only the form counts.
	for _, p := range []string{"/usr/local/bin/sshlogfwd", "/root/go/bin/sshlogfwd", "/home/log/.local/bin/sshlogfwd", "/opt/my dir/sshlogfwd"} {
		if _, err := Command(PullReliable, "/var/log/x.log", CommandOptions{SSHLogFwd: p}); err != nil {
			t.Errorf("--sshlogfwd-path %q: %v", p, err)
		}
	}
	for _, p := range []string{"sshlogfwd", "/opt/a\u0085/sshlogfwd", "/usr/local/bin/"} {
		_, err := Command(PushReliable, "/var/log/x.log", CommandOptions{SSHLogFwd: p})
		if !errors.Is(err, ErrSSHLogFwdPath) || !errors.Is(err, ErrPathForm) {
			t.Errorf("--sshlogfwd-path %q: %v, want ErrSSHLogFwdPath and ErrPathForm", p, err)
		}
	}
	// The target's refusal is not the program's.
	if _, err := Command(PushReliable, "relative.log", CommandOptions{}); err == nil || errors.Is(err, ErrSSHLogFwdPath) {
		t.Errorf("a relative target: %v, want a refusal that is not ErrSSHLogFwdPath", err)
	}
}

func TestKeyFileRE(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		match   []string
		not     []string
	}{
		{".ssh/authorized_keys", []string{"/home/a/.ssh/authorized_keys", "/.ssh/authorized_keys", "/var/lib/x/y/.ssh/authorized_keys"}, []string{"/home/a/.ssh/authorized_keys2", "/home/a/ssh/authorized_keys"}},
		{"%h/.ssh/keys", []string{"/home/a/.ssh/keys"}, []string{"/home/a/.ssh/keysx"}},
		{"/etc/ssh/keys/%u", []string{"/etc/ssh/keys/log"}, []string{"/etc/ssh/keys/a/b", "/etc/ssh/keys/"}},
		{"/k/%U.pub", []string{"/k/1001.pub"}, []string{"/k/log.pub"}},
		{"/k/100%%", []string{"/k/100%"}, []string{"/k/100%%", "/k/1000"}},
		{"/k/a.b", []string{"/k/a.b"}, []string{"/k/axb"}},
	} {
		re := keyFileRE(tt.pattern)
		for _, p := range tt.match {
			if !re.MatchString(p) {
				t.Errorf("%q does not match %q", tt.pattern, p)
			}
		}
		for _, p := range tt.not {
			if re.MatchString(p) {
				t.Errorf("%q matches %q", tt.pattern, p)
			}
		}
	}
}

func TestParseKeyFiles(t *testing.T) {
	sshdT := "port 22\nauthorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\nauthorizedprincipalsfile none\ntrustedusercakeys /etc/ssh/ca.pub\n"
	got, _ := ParseKeyFiles(sshdT)
	if want := []string{".ssh/authorized_keys", ".ssh/authorized_keys2", "/etc/ssh/ca.pub"}; !slices.Equal(got, want) {
		t.Errorf("sshd -T: %q, want %q", got, want)
	}
	config := `# AuthorizedKeysFile /commented/out
Include /etc/ssh/sshd_config.d/*.conf
AuthorizedKeysFile=/srv/keys/%u
Match User log
	AuthorizedKeysFile "/srv/log keys/%u" none
	AuthorizedPrincipalsFile /srv/principals/%u
`
	got, inc := ParseKeyFiles(config)
	if want := []string{"/srv/keys/%u", "/srv/log keys/%u", "/srv/principals/%u"}; !slices.Equal(got, want) {
		t.Errorf("sshd_config: %q, want %q", got, want)
	}
	if want := []string{"/etc/ssh/sshd_config.d/*.conf"}; !slices.Equal(inc, want) {
		t.Errorf("includes: %q, want %q", inc, want)
	}
}

// TestSSHDKeyFiles reads this host's sshd: OpenSSH's defaults always come
// back, and with a readable configuration what it names.
func TestSSHDKeyFiles(t *testing.T) {
	got := SSHDKeyFiles()
	if !slices.Contains(got, ".ssh/authorized_keys") {
		t.Errorf("SSHDKeyFiles() = %q, want OpenSSH's default among them", got)
	}
	if _, err := os.Stat("/etc/ssh/sshd_config"); err != nil {
		t.Logf("no sshd_config here: %v", err)
	}
}
