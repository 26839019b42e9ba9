package check

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
)

// explainSSHFailure sorts ssh's complaints (real stderr samples of
// OpenSSH 9.2) into a problem and the step that fixes it.
func TestExplainSSHFailure(t *testing.T) {
	viaConfig := map[string][]string{"hostname": {"192.0.2.1"}, "port": {"2222"}}
	for _, tt := range []struct {
		name    string
		config  map[string][]string
		stderr  []string
		err     error
		problem []string
		fix     []string
	}{
		{name: "host key changed", stderr: []string{"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @", "Host key verification failed."},
			problem: []string{"log host's host key has CHANGED", "intercepting"}, fix: []string{"fingerprint", "ssh-keygen -R loghost"}},
		{name: "host key unknown", config: viaConfig, stderr: []string{"No ED25519 host key is known for [192.0.2.1]:2222 and you have requested strict checking.", "Host key verification failed."},
			problem: []string{"host key is not known"}, fix: []string{"ssh-keyscan -p 2222 192.0.2.1", "never StrictHostKeyChecking=no"}},
		{name: "host key unknown, port 22", config: map[string][]string{"hostname": {"192.0.2.1"}, "port": {"22"}}, stderr: []string{"Host key verification failed."},
			problem: []string{"not known"}, fix: []string{"fetch it with ssh-keyscan 192.0.2.1,"}},
		{name: "host key unknown, port 22, no ssh -G", stderr: []string{"Host key verification failed."},
			problem: []string{"not known"}, fix: []string{"fetch it with ssh-keyscan loghost,"}},
		{name: "key too open", stderr: []string{"Permissions 0644 for 'k' are too open.", `Load key "k": bad permissions`, "root@x: Permission denied (publickey)."},
			problem: []string{"others can read"}, fix: []string{"chmod 600"}},
		{name: "permission denied", stderr: []string{"root@x: Permission denied (publickey)."},
			problem: []string{"log host refused the key (root@x: Permission denied (publickey).)"}, fix: []string{"sshlogfwd authorized-key", "from="}},
		{name: "connection refused", stderr: []string{"ssh: connect to host 192.0.2.1 port 2222: Connection refused"},
			problem: []string{"cannot reach the log host (ssh: connect to host 192.0.2.1 port 2222: Connection refused)"}, fix: []string{"address", "port", "firewall"}},
		{name: "connect timeout", stderr: []string{"ssh: connect to host 192.0.2.1 port 22: Connection timed out"},
			problem: []string{"cannot reach the log host", "timed out"}, fix: []string{"firewall"}},
		{name: "no route", stderr: []string{"ssh: connect to host 192.0.2.1 port 22: No route to host"},
			problem: []string{"cannot reach"}, fix: []string{"firewall"}},
		{name: "unknown name", stderr: []string{"ssh: Could not resolve hostname nosuch: Name or service not known"},
			problem: []string{"unknown host name (ssh: Could not resolve"}, fix: []string{"~/.ssh/config alias"}},
		{name: "passphrase", stderr: []string{`Load key "/root/.ssh/id": incorrect passphrase supplied to decrypt private key`},
			problem: []string{"the key has a passphrase"}, fix: []string{"without passphrase"}},
		{name: "anything else", stderr: []string{"kex_exchange_identification: read: Connection reset by peer", "something else"},
			problem: []string{"ssh did not connect (something else)"}, fix: []string{"by hand with -v"}},
		{name: "silent", err: errors.New("ssh exited with status 255"),
			problem: []string{"ssh did not connect (ssh exited with status 255)"}, fix: []string{"-v"}},
	} {
		p := &prober{dest: execssh.Dest{Host: "loghost"}, role: roleLogHost, config: tt.config}
		problem, fix := p.explainSSHFailure(probeResult{stderr: tt.stderr, err: tt.err})
		for _, w := range tt.problem {
			if !strings.Contains(problem, w) {
				t.Errorf("%s: problem %q lacks %q", tt.name, problem, w)
			}
		}
		for _, w := range tt.fix {
			if !strings.Contains(fix, w) {
				t.Errorf("%s: fix %q lacks %q", tt.name, fix, w)
			}
		}
	}
}

// The far side is named by its role: pull's source is the watched host.
func TestExplainSSHFailureRole(t *testing.T) {
	p := &prober{dest: execssh.Dest{Host: "web1"}, role: roleWatchedHost}
	problem, fix := p.explainSSHFailure(probeResult{stderr: []string{"Host key verification failed."}})
	if !strings.Contains(problem, "the watched host's host key") || !strings.Contains(fix, "the watched host's console") {
		t.Errorf("problem %q, fix %q: want the watched host named", problem, fix)
	}
}

// The suggested authorized-key command repeats what decides the forced
// command: --reliable for a reliable push (without it, following the
// advice would break reliable push), --compat for a compatible pull, an
// absolute far-side sshlogfwd, and the key given with -i. The path is
// quoted for the shell it is pasted into.
func TestKeyLineCommand(t *testing.T) {
	const addr = " --from <this host's address> --key "
	for _, tt := range []struct {
		name string
		key  keyLine
		path string
		want string
	}{
		{"push", keyLine{mode: "push", remoteBinary: "sshlogfwd"}, "/var/log/it's here.log",
			`sshlogfwd authorized-key push` + addr + `<key>.pub '/var/log/it'\''s here.log'`},
		{"push --reliable", keyLine{mode: "push", reliable: true, remoteBinary: "sshlogfwd", identity: "/etc/sshlogfwd/id_ed25519"}, "/var/log/remote/web1.log",
			`sshlogfwd authorized-key push --reliable` + addr + `/etc/sshlogfwd/id_ed25519.pub /var/log/remote/web1.log`},
		{"push --reliable --remote-sshlogfwd", keyLine{mode: "push", reliable: true, remoteBinary: "/opt/bin/sshlogfwd"}, "/r.log",
			`sshlogfwd authorized-key push --reliable --sshlogfwd-path /opt/bin/sshlogfwd` + addr + `<key>.pub /r.log`},
		{"push, far-side binary irrelevant", keyLine{mode: "push", remoteBinary: "/opt/bin/sshlogfwd"}, "/r.log",
			`sshlogfwd authorized-key push` + addr + `<key>.pub /r.log`},
		{"pull", keyLine{mode: "pull", remoteBinary: "/opt/bin/sshlogfwd", identity: "/k y"}, "/var/log/auth.log",
			`sshlogfwd authorized-key pull --sshlogfwd-path /opt/bin/sshlogfwd` + addr + `'/k y.pub' /var/log/auth.log`},
		{"pull --compat", keyLine{mode: "pull", compat: true, remoteBinary: "/opt/bin/sshlogfwd"}, "/var/log/auth.log",
			`sshlogfwd authorized-key pull --compat` + addr + `<key>.pub /var/log/auth.log`},
	} {
		if got := tt.key.command(tt.path); got != tt.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// The syslog daemon gets the group and the group the permission; a
// member of the group is not told to join it.
func TestFixSyslogAccess(t *testing.T) {
	for _, tt := range []struct {
		name          string
		mode          os.FileMode
		isDir, member bool
		want, not     []string
	}{
		{"fifo, group may write", 0o620, false, false, []string{"usermod -aG sshlogfwd syslog, then restart the syslog daemon", "SocketGroup=sshlogfwd"}, []string{"chmod"}},
		{"fifo, group may not write", 0o600, false, true, []string{"chmod g+w /run/sshlogfwd/push.fifo"}, []string{"usermod"}},
		{"dir, group may enter", 0o750, true, false, []string{"usermod -aG sshlogfwd syslog", "RuntimeDirectoryMode=0750"}, []string{"chmod"}},
		{"dir, group may not enter", 0o700, true, false, []string{"chmod g+x /run/sshlogfwd/push.fifo and usermod -aG sshlogfwd syslog"}, nil},
	} {
		got := fixSyslogAccess("syslog", "/run/sshlogfwd/push.fifo", "sshlogfwd", tt.mode, tt.isDir, tt.member)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q has %q", tt.name, got, w)
			}
		}
	}
}

// FixDir names the user and group we run as.
func TestFixDir(t *testing.T) {
	want := "install -d -o " + currentUser() + " -g " + currentGroup() + " -m 0750 '/run/a dir'"
	if got := FixDir("/run/a dir", 0o750); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFixAppendRefused(t *testing.T) {
	p := &prober{dest: execssh.Dest{Path: "/r.log"}, key: keyLine{mode: "push"}}
	for _, tt := range []struct {
		code    int
		receive bool
		want    string
	}{
		{2, true, "give --reliable"},
		{2, false, "directory exists"},
		{1, false, "sshlogfwd authorized-key push --from"},
		{127, false, "not installed"},
		{5, false, "check the forced command"},
	} {
		if got := p.fixAppendRefused(tt.code, tt.receive); !strings.Contains(got, tt.want) {
			t.Errorf("status %d, receive %v: %q lacks %q", tt.code, tt.receive, got, tt.want)
		}
	}
}
