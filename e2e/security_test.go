package e2e

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/receiver"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// hostileNames are remote file names that must stay data: spaces, both
// quotes, ';', '&&', $(...), backticks, backslashes (sshd's one escape
// \", and a trailing one), a leading '-', glob, tilde and '%' characters
// (ssh and sshd expand % tokens in their own settings), and Unicode.
var hostileNames = []string{
	"a b.log",
	"it's.log",
	`say "hi".log`,
	`back\slash\.log`,
	`q\"uote.log`,
	"semi;touch INJECTED;.log",
	"and && touch INJECTED4 && .log",
	"$(touch INJECTED2).log",
	"`touch INJECTED3`.log",
	"-n",
	"--help",
	"*",
	"~root",
	`ends-in-backslash\`,
	"100% %h %u %%.log",
	"ünïcödé 日本語 ½.log",
}

// hostileTestName names a subtest after a hostile name without its '%':
// the test's temporary directories are named after it and end up in
// ssh's configuration, which expands % (only the lab's paths, not the
// remote file name, which ssh never expands).
func hostileTestName(name string) string { return strings.ReplaceAll(name, "%", "pct") }

// noInjection fails the test if any of the INJECTED files exist in dir or
// the usual working directories.
func noInjection(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range append(dirs, "/", "/root") {
		for _, f := range []string{"INJECTED", "INJECTED2", "INJECTED3", "INJECTED4"} {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				t.Errorf("injected command ran: %s exists", filepath.Join(d, f))
			}
		}
	}
}

// TestAuthorizedKeyRefusals: the command refuses what would give a wrong
// or unsafe line, with exit 2 and the flag named; a private key is never
// echoed.
func TestAuthorizedKeyRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv, pub := testlab.KeyPair(t, dir, "k")
	privBytes, _ := os.ReadFile(priv)
	secret := strings.Split(string(privBytes), "\n")[1]
	optLine := filepath.Join(dir, "opt.pub")
	os.WriteFile(optLine, []byte(`restrict,command="cat >> /x" `+pub+"\n"), 0o644)
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{args: []string{"push", "--key", priv, "--from", "192.0.2.10", "/var/log/x.log"}, want: "private key"},
		{args: []string{"push", "--from", "192.0.2.10", "/var/log/x.log"}, stdin: string(privBytes), want: "private key"},
		{args: []string{"push", "--key", priv + ".pub", "/var/log/x.log"}, want: "--from"},
		{args: []string{"push", "--key", priv + ".pub", "--from", "192.0.2.10", "--any-source", "/x"}, want: "--any-source"},
		{args: []string{"push", "--key", priv + ".pub", "--from", "*", "/x"}, want: "--any-source"},
		{args: []string{"push", "--key", priv + ".pub", "--from", "192.0.2.10/24", "/x"}, want: "host bits"},
		{args: []string{"push", "--key", priv + ".pub", "--from", `1.2.3.4"`, "/x"}, want: "--from"},
		{args: []string{"push", "--key", priv + ".pub", "--from", "192.0.2.10", "x.log"}, want: "not absolute"},
		{args: []string{"push", "--key", priv + ".pub", "--from", "192.0.2.10", "/a\nb.log"}, want: "control character"},
		{args: []string{"push", "--key", optLine, "--from", "192.0.2.10", "/x"}, want: "options"},
		{args: []string{"pull", "--key", priv + ".pub", "--from", "192.0.2.10", "--max-size", "1G", "/x"}, want: "--max-size"},
		{args: []string{"pull", "--key", priv + ".pub", "--from", "192.0.2.10", "--sshlogfwd-path", "sshlogfwd", "/x"}, want: "--sshlogfwd-path"},
		{args: []string{"push", "--key", filepath.Join(dir, "missing.pub"), "--from", "192.0.2.10", "/x"}, want: "--key"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, runOpts{stdin: strings.NewReader(tt.stdin)}, append([]string{"authorized-key"}, tt.args...)...)
			if res.Code != 2 || !strings.Contains(res.Stderr, tt.want) || res.Stdout != "" {
				t.Errorf("authorized-key %q: want exit 2 naming %q and no line\n%s", tt.args, tt.want, res)
			}
			if strings.Contains(res.Stderr, secret) {
				t.Errorf("authorized-key %q repeated the private key", tt.args)
			}
		})
	}

	// A host name works but is warned about (sshd matches names only
	// with UseDNS yes); the legacy form spells restrict out.
	res := runBinary(t, runOpts{}, "authorized-key", "--key", priv+".pub", "--from", "web1.example.org", "--legacy-sshd", "pull", "--compat", "/var/log/auth.log")
	want := `no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc,from="web1.example.org",command="tail -F -n 0 -- /var/log/auth.log" ` + pub + "\n"
	if res.Code != 0 || res.Stdout != want || !strings.Contains(res.Stderr, "UseDNS") {
		t.Errorf("legacy pull line: %s\nwant %s", res, want)
	}
}

// TestAuthorizedKeyPushThroughSSHD: for every hostile file name, the line
// authorized-key prints is accepted by the real sshd and a push through it
// appends to exactly that file; nothing injected runs. The legacy form
// works too, and from= really locks the key to its address.
func TestAuthorizedKeyPushThroughSSHD(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, name := range hostileNames {
		t.Run(hostileTestName(name), func(t *testing.T) {
			t.Parallel()
			sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
			path := filepath.Join(dir, name)
			args := []string{"push", "--from", "127.0.0.1", path}
			if i == 0 {
				args = append(args, "--legacy-sshd")
			}
			sshd.SetAuthorizedKeys(t, authorizedKey(t, sshd, args...))
			res := runBinary(t, runOpts{stdin: strings.NewReader("line one\n")},
				"push", "-F", sshd.SSHConfig, "--spool", t.TempDir(), "loghost:/ignored/by/the/forced/command")
			if res.Code != 0 {
				t.Fatalf("push through the line for %q: %s", name, res)
			}
			if got := string(readFile(path)); got != "line one\n" {
				t.Errorf("%q holds %q", path, got)
			}
		})
	}
	t.Run("from", func(t *testing.T) {
		t.Parallel()
		// from= for another address: sshd refuses the key.
		sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
		sshd.SetAuthorizedKeys(t, authorizedKey(t, sshd, "push", "--from", "192.0.2.1", filepath.Join(t.TempDir(), "x.log")))
		out, err := sshd.SSH(t, "true")
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("key with from=192.0.2.1 used from 127.0.0.1: %v %s", err, out)
		}
	})
	t.Cleanup(func() {
		// After the subtests: exactly the named files, nothing injected.
		entries, _ := os.ReadDir(dir)
		if len(entries) != len(hostileNames) {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("files in the directory: %q; want exactly the %d named ones", names, len(hostileNames))
		}
		noInjection(t, dir)
	})
}

// TestAuthorizedKeyReliableRoundTrip: for every hostile file name, the
// lines `sshlogfwd authorized-key` prints for reliable push (receive) and
// pull (serve) go into the real sshd's authorized_keys, and the real push
// and pull through them reach exactly that file: push appends to it and
// creates nothing beside it but receive's own hidden state and lock, pull
// gets what it holds and serve creates nothing. A push or pull that asks
// for another file in the same directory is refused by the forced command
// ("not the path this key serves"), and that file is neither written nor
// read. A name with a newline gets no line at all. What sshd makes of the
// quoting is what counts here, not our own reading of it (Dequote).
func TestAuthorizedKeyReliableRoundTrip(t *testing.T) {
	t.Parallel()
	bin := testlab.Binary(t)
	for _, name := range hostileNames {
		t.Run(hostileTestName(name), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			other := filepath.Join(dir, "other.log")
			if err := os.WriteFile(other, []byte("OTHER FILE, NOT FOR THIS KEY\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			sshd := testlab.StartSSHD(t, testlab.SSHDOptions{
				KeepHome: true,
				Extra:    []string{"SetEnv HOME=" + t.TempDir() + " " + plGORACE},
			})
			local := t.TempDir()
			t.Cleanup(func() { noInjection(t, dir, local, sshd.Home) })

			// Reliable push: receive appends to path, and nothing else.
			sshd.SetAuthorizedKeys(t, authorizedKey(t, sshd, "push", "--reliable", "--sshlogfwd-path", bin, "--from", "127.0.0.1", path))
			p, log := rtPush(t, sshd, local, "push", path, "line one\nline two\n")
			if !testlab.Poll(30*time.Second, func() bool { return p.exited() || rtIsRefused(log()) }) || rtIsRefused(log()) || p.err != nil {
				t.Fatalf("push --reliable through the line for %q did not deliver and end (exit: %v)\n%s", name, p.err, log())
			}
			if got := string(readFile(path)); got != "line one\nline two\n" {
				t.Errorf("%q holds %q", path, got)
			}
			want := []string{filepath.Base(other), name, filepath.Base(receiver.StatePath(path)), filepath.Base(receiver.LockPath(path))}
			rtSameFiles(t, dir, want, "after the push")
			_, log = rtPush(t, sshd, local, "push-other", other, "MUST NOT ARRIVE\n")
			rtRefused(t, "push", log, "the log host refused the request")
			rtSameFiles(t, dir, want, "after the refused push")

			// Pull: serve reads path, and nothing else.
			sshd.SetAuthorizedKeys(t, authorizedKey(t, sshd, "pull", "--sshlogfwd-path", bin, "--from", "127.0.0.1", path))
			l := &plLab{t: t, sshd: sshd, bin: bin, dir: dir, log: path, out: filepath.Join(local, "pulled.log")}
			pl := l.startPull("--from", "start", "--log-level", "debug")
			if !testlab.Poll(30*time.Second, func() bool { return len(readFile(l.out)) >= len("line one\nline two\n") || rtIsRefused(pl.log()) }) || rtIsRefused(pl.log()) {
				t.Fatalf("pull through the line for %q did not get the file's lines: %q\n%s", name, readFile(l.out), pl.log())
			}
			if err := pl.stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
				t.Errorf("pull after SIGTERM: %v", err)
			}
			if got := string(readFile(l.out)); got != "line one\nline two\n" {
				t.Errorf("pull of %q got %q", path, got)
			}
			rtSameFiles(t, dir, want, "after the pull")
			l.log, l.out = other, filepath.Join(local, "other-pulled.log")
			rtRefused(t, "pull", l.startPull("--from", "start", "--log-level", "debug").log, "")
			if got := readFile(l.out); len(got) != 0 {
				t.Errorf("a pull of %s through the key for %q got %q", other, path, got)
			}
		})
	}
	t.Run("newline", func(t *testing.T) {
		t.Parallel()
		sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
		for _, role := range []string{"push", "pull"} {
			path := filepath.Join(t.TempDir(), "new\nline.log")
			res := runBinary(t, runOpts{}, "authorized-key", "--key", sshd.ClientKey+".pub", role, "--reliable", "--sshlogfwd-path", bin, "--from", "127.0.0.1", path)
			if res.Code != 2 || res.Stdout != "" || !strings.Contains(res.Stderr, "control character") {
				t.Errorf("authorized-key %s for a name with a newline: want exit 2, no line, naming the control character\n%s", role, res)
			}
		}
	})
}

// rtPush starts a reliable push of input (standard input) to path
// through sshd, with its spool and log in local named after name; the
// test's end kills it if it still runs.
func rtPush(t *testing.T, sshd *testlab.SSHD, local, name, path, input string) (*pushProc, func() string) {
	t.Helper()
	log := filepath.Join(local, name+".log")
	cmd := exec.Command(testlab.Binary(t), pushArgsConfig(sshd.SSHConfig, log, "--reliable", "--spool", filepath.Join(local, name+".spool"), "loghost:"+path)...)
	cmd.Env = append(os.Environ(), plGORACE)
	cmd.Stdin = strings.NewReader(input)
	return runPush(t, cmd, log), func() string { return string(readFile(log)) }
}

func (p *pushProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// rtIsRefused reports whether a log shows a forced command's refusal of a
// request for another path.
func rtIsRefused(log string) bool { return strings.Contains(log, "is not the path this key serves") }

// rtRefused waits until log() shows that the forced command refused the
// request as one for another path, and, if also is not empty, that line.
func rtRefused(t *testing.T, what string, log func() string, also string) {
	t.Helper()
	if !testlab.Poll(30*time.Second, func() bool { return rtIsRefused(log()) && strings.Contains(log(), also) }) {
		t.Fatalf("after 30 s, %s of another file is not refused by the forced command; log:\n%s", what, log())
	}
}

// rtSameFiles fails the test unless dir holds exactly the names want.
func rtSameFiles(t *testing.T, dir string, want []string, when string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s the directory holds %q, want %q", when, got, want)
	}
}

// TestAuthorizedKeyPullCompatThroughSSHD: the tail line with a hostile name
// follows that file through the real sshd.
func TestAuthorizedKeyPullCompatThroughSSHD(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
	path := filepath.Join(dir, "-n $(touch INJECTED) it's `x`.log")
	os.WriteFile(path, []byte("old line\n"), 0o644)
	sshd.SetAuthorizedKeys(t, authorizedKey(t, sshd, "pull", "--compat", "--from", "127.0.0.1", path))
	cmd := sshd.Command("ignored")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	defer f.Close()
	// tail -n 0 starts at the end once it runs: append until it shows.
	var got string
	testlab.WaitFor(t, 15*time.Second, func() bool {
		f.WriteString("new line\n")
		select {
		case got = <-lines:
			return true
		default:
			return false
		}
	}, "a line appended to %q to come through tail", path)
	if got != "new line" {
		t.Errorf("tail sent %q, want only new lines", got)
	}
	noInjection(t, dir)
}

// checkLab is a push lab with the FIFO and spool check expects.
func checkLab(t *testing.T) *pushLab {
	t.Helper()
	l := newPushLab(t, "remote.log")
	if err := syscall.Mkfifo(l.FIFO, 0o620); err != nil {
		t.Fatal(err)
	}
	os.Chmod(l.FIFO, 0o620)
	return l
}

func (l *pushLab) check(t *testing.T, extra ...string) cmdResult {
	t.Helper()
	args := append([]string{"check", "push", "-F", l.SSHD.SSHConfig, "--fifo", l.FIFO, "--spool", l.Spool, "--probe-wait", "2s"}, extra...)
	return runBinary(t, runOpts{}, append(args, "loghost:"+l.Remote)...)
}

// TestCheckPushGood: a setup done right passes every check, and the only
// trace on the log host is one marked line.
func TestCheckPushGood(t *testing.T) {
	t.Parallel()
	l := checkLab(t)
	l.SSHD.SetAuthorizedKeys(t, authorizedKey(t, l.SSHD, "push", "--from", "127.0.0.1", l.Remote))
	res := l.check(t)
	ok, fail := reportLines(res.Stdout)
	t.Logf("check:\n%s", res.Stdout)
	if res.Code != 0 || len(fail) != 0 {
		t.Fatalf("check of a good setup: %s", res)
	}
	for _, want := range []string{"--fifo", "--spool", "key ", "ssh loghost", "restricted key", "forwarding", "append"} {
		if !hasLine(ok, "OK", want) {
			t.Errorf("no OK line for %q", want)
		}
	}
	got := string(readFile(l.Remote))
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, "sshlogfwd: check: test line") {
		t.Errorf("the log host received %q; want exactly one marked line", got)
	}
}

// TestCheckUnrestrictedKey: a key without forced command is a shell on
// the log host; check says so and fails.
func TestCheckUnrestrictedKey(t *testing.T) {
	t.Parallel()
	l := checkLab(t)
	l.SSHD.SetAuthorizedKeys(t, l.SSHD.ClientPub)
	res := l.check(t)
	_, fail := reportLines(res.Stdout)
	if res.Code != 1 || !hasLine(fail, "FAIL  restricted key", "this key gives a shell on the log host", "sshlogfwd authorized-key push") {
		t.Fatalf("unrestricted key: %s", res)
	}
	if !hasLine(fail, "FAIL  forwarding", "tunnels") {
		t.Errorf("forwarding not reported: %s", res.Stdout)
	}
	// The fix for a reliable push keeps what decides the forced command:
	// following advice that dropped --reliable broke reliable push.
	res = l.check(t, "--reliable", "-i", l.SSHD.ClientKey, "--remote-sshlogfwd", "/opt/sshlogfwd/bin/sshlogfwd")
	_, fail = reportLines(res.Stdout)
	want := "sshlogfwd authorized-key push --reliable --sshlogfwd-path /opt/sshlogfwd/bin/sshlogfwd --from <this host's address> --key " + l.SSHD.ClientKey + ".pub " + l.Remote
	if res.Code != 1 || !hasLine(fail, "FAIL  restricted key", want) {
		t.Errorf("unrestricted key, reliable push: want the fix %q: %s", want, res)
	}
}

// TestCheckForcedCommandWithoutRestrict: command= alone stops the shell
// but still allows tunnels.
func TestCheckForcedCommandWithoutRestrict(t *testing.T) {
	t.Parallel()
	l := checkLab(t)
	l.SSHD.SetAuthorizedKeys(t, `command="cat >> `+shellQuote(l.Remote)+`" `+l.SSHD.ClientPub)
	res := l.check(t)
	ok, fail := reportLines(res.Stdout)
	if res.Code != 1 || !hasLine(ok, "OK    restricted key", "forced command") || !hasLine(fail, "FAIL  forwarding", "restrict") || len(fail) != 1 {
		t.Fatalf("command= without restrict: %s", res)
	}
}

// TestCheckWorldReadableKey: a private key every user can read fails the
// key check, through -i and through the ssh configuration alike.
func TestCheckWorldReadableKey(t *testing.T) {
	t.Parallel()
	l := checkLab(t)
	l.SSHD.SetAuthorizedKeys(t, authorizedKey(t, l.SSHD, "push", "--from", "127.0.0.1", l.Remote))
	if err := os.Chmod(l.SSHD.ClientKey, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"-i", l.SSHD.ClientKey}} {
		res := l.check(t, extra...)
		_, fail := reportLines(res.Stdout)
		if res.Code != 1 || !hasLine(fail, "FAIL  key "+l.SSHD.ClientKey, "readable by every user", "chmod 600") {
			t.Errorf("world-readable key (%q): %s", extra, res)
		}
	}
	if _, err := os.Stat(l.Remote); err == nil {
		t.Errorf("something was appended with the exposed key")
	}
}

// TestCheckHostKeys: an unknown and a changed host key fail, with the
// reason; check never adds a host key, not even with accept-new.
func TestCheckHostKeys(t *testing.T) {
	t.Parallel()
	l := checkLab(t)
	l.SSHD.SetAuthorizedKeys(t, authorizedKey(t, l.SSHD, "push", "--from", "127.0.0.1", l.Remote))
	empty := filepath.Join(l.Dir, "known_hosts.empty")
	os.WriteFile(empty, nil, 0o600)
	_, otherPub := testlab.KeyPair(t, l.Dir, "other_host_key")
	wrong := filepath.Join(l.Dir, "known_hosts.wrong")
	kh := string(readFile(l.SSHD.KnownHosts))
	host, _, _ := strings.Cut(kh, " ")
	typ, rest, _ := strings.Cut(otherPub, " ")
	data, _, _ := strings.Cut(rest, " ")
	os.WriteFile(wrong, []byte(host+" "+typ+" "+data+"\n"), 0o600)
	wrongBefore := string(readFile(wrong))

	for _, tt := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"unknown", []string{"-o", "UserKnownHostsFile=" + empty}, "not known"},
		{"unknown with accept-new", []string{"-o", "UserKnownHostsFile=" + empty, "-o", "StrictHostKeyChecking=accept-new"}, "not known"},
		{"changed", []string{"-o", "UserKnownHostsFile=" + wrong}, "CHANGED"},
		{"checking off", []string{"-o", "StrictHostKeyChecking=no"}, "StrictHostKeyChecking=no"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := l.check(t, tt.extra...)
			_, fail := reportLines(res.Stdout)
			if res.Code != 1 || !hasLine(fail, "FAIL  ssh loghost", tt.want) {
				t.Errorf("%s: %s", tt.name, res)
			}
		})
	}
	t.Cleanup(func() {
		if got := readFile(empty); len(got) != 0 {
			t.Errorf("check added a host key: %q", got)
		}
		if got := string(readFile(wrong)); got != wrongBefore {
			t.Errorf("check changed known_hosts: %q", got)
		}
		if _, err := os.Stat(l.Remote); err == nil {
			t.Errorf("something was appended through an unverified connection")
		}
	})
}

// TestCheckLocalPaths: the FIFO's modes and type, and the spool directory.
func TestCheckLocalPaths(t *testing.T) {
	t.Parallel()
	l := checkLab(t)
	l.SSHD.SetAuthorizedKeys(t, authorizedKey(t, l.SSHD, "push", "--from", "127.0.0.1", l.Remote))
	regular := filepath.Join(l.Dir, "regular")
	os.WriteFile(regular, []byte("keep\n"), 0o600)
	spoolOpen := filepath.Join(l.Dir, "spool-open")
	os.Mkdir(spoolOpen, 0o755)
	for _, tt := range []struct {
		name, mode string
		args       []string
		want       string
	}{
		{name: "others read the fifo", mode: "0624", want: "FAIL  --fifo"},
		{name: "everyone writes the fifo", mode: "0622", want: "FAIL  --fifo"},
		{name: "syslog user cannot write", mode: "0600", args: []string{"--syslog-user", "nobody"}, want: "FAIL  --fifo"},
		{name: "regular file as fifo", args: []string{"--fifo", regular}, want: "FAIL  --fifo " + regular},
		{name: "spool readable by all", args: []string{"--spool", spoolOpen}, want: "FAIL  --spool"},
		{name: "spool is a file", args: []string{"--spool", regular}, want: "FAIL  --spool"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fifo := filepath.Join(t.TempDir(), "own.fifo")
			syscall.Mkfifo(fifo, 0)
			mode := os.FileMode(0o620)
			if tt.mode != "" {
				m, _ := strconv.ParseUint(tt.mode, 8, 32)
				mode = os.FileMode(m)
			}
			os.Chmod(fifo, mode)
			res := l.check(t, append([]string{"--fifo", fifo}, tt.args...)...)
			_, fail := reportLines(res.Stdout)
			if res.Code != 1 || !hasLine(fail, tt.want) {
				t.Errorf("%s: %s", tt.name, res)
			}
		})
	}
	t.Cleanup(func() {
		if string(readFile(regular)) != "keep\n" {
			t.Errorf("check modified a file")
		}
	})
}

// TestCheckPull: pull's two modes against the lines authorized-key prints,
// and a push key by mistake.
func TestCheckPull(t *testing.T) {
	t.Parallel()
	bin := testlab.Binary(t)
	for _, tt := range []struct {
		name    string
		keyArgs []string // authorized-key arguments before PATH
		compat  bool
		code    int
		want    string
	}{
		{name: "reliable", keyArgs: []string{"pull", "--sshlogfwd-path", bin}, code: 0, want: "OK    serve"},
		{name: "compat against serve key", keyArgs: []string{"pull", "--sshlogfwd-path", bin}, compat: true, code: 1, want: "FAIL  tail"},
		{name: "compat", keyArgs: []string{"pull", "--compat"}, compat: true, code: 0, want: "OK    tail"},
		{name: "push key", keyArgs: []string{"push"}, code: 1, want: "FAIL  serve"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
			watched := filepath.Join(dir, "auth log's.log")
			os.WriteFile(watched, []byte("a line\n"), 0o640)
			sshd.SetAuthorizedKeys(t, authorizedKey(t, sshd, append(tt.keyArgs, "--from", "127.0.0.1", watched)...))
			args := []string{"check", "pull", "-F", sshd.SSHConfig, "--probe-wait", "2s", "--output", filepath.Join(dir, "out.log")}
			if tt.compat {
				args = append(args, "--compat")
			}
			res := runBinary(t, runOpts{}, append(args, "loghost:"+watched)...)
			ok, fail := reportLines(res.Stdout)
			if res.Code != tt.code || !hasLine(append(ok, fail...), tt.want) {
				t.Errorf("want exit %d and a line %q: %s", tt.code, tt.want, res)
			}
			if tt.code == 0 && len(fail) > 0 {
				t.Errorf("FAIL lines: %q", fail)
			}
			if string(readFile(watched)) != "a line\n" {
				t.Errorf("the check changed the watched file: %q", readFile(watched))
			}
		})
	}
}

// TestCheckPushReliable: the receive line passes; the compatible check
// against it says what is wrong; receive's file holds nothing.
func TestCheckPushReliable(t *testing.T) {
	t.Parallel()
	l := checkLab(t)
	l.SSHD.SetAuthorizedKeys(t, authorizedKey(t, l.SSHD, "push", "--reliable", "--max-size", "1GiB", "--sshlogfwd-path", testlab.Binary(t), "--from", "127.0.0.1", l.Remote))
	res := l.check(t, "--reliable")
	ok, _ := reportLines(res.Stdout)
	if res.Code != 0 || !hasLine(ok, "OK    receive", "receive answered") {
		t.Errorf("reliable push: %s", res)
	}
	res = l.check(t)
	_, fail := reportLines(res.Stdout)
	if res.Code != 1 || !hasLine(fail, "FAIL  append", "--reliable") {
		t.Errorf("compatible check against a receive key: %s", res)
	}
	if b := readFile(l.Remote); len(b) != 0 {
		t.Errorf("the check wrote %q", b)
	}
}

// randomLine returns n bytes of anything but '\n' (NUL, CR, invalid
// UTF-8 included) followed by '\n'.
func randomLine(r *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	r.Read(b[:n-1])
	noNewlines(b[:n-1])
	b[n-1] = '\n'
	return b
}

// noNewlines replaces every '\n' in b by NUL (with IndexByte: a byte loop
// is slow under the race detector).
func noNewlines(b []byte) {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return
		}
		i += j
		b[i] = 0
	}
}

// randomLines returns about size bytes of lines of 1 to maxLen random
// bytes each, newline included.
func randomLines(r *rand.ChaCha8, size, maxLen int) []byte {
	b := make([]byte, size)
	r.Read(b)
	noNewlines(b)
	for i := 0; ; {
		i += 1 + int(r.Uint64()%uint64(maxLen))
		if i >= size {
			b[size-1] = '\n'
			return b
		}
		b[i-1] = '\n'
	}
}

// writeFIFO writes data into the FIFO (blocking, as a syslog daemon that
// waits would) once push has created it.
func writeFIFO(t *testing.T, path string, data []byte) {
	t.Helper()
	var f *os.File
	testlab.WaitFor(t, 10*time.Second, func() bool {
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY, 0)
		return err == nil
	}, "open fifo %s", path)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatalf("write fifo: %v", err)
	}
}

// TestPushHostileLines: lines of 1 B to 4 MiB, NUL bytes, invalid UTF-8,
// CR and CRLF arrive byte for byte, and memory stays bounded.
func TestPushHostileLines(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "--mark", "0", "loghost:"+l.Remote)
	r := rand.NewChaCha8([32]byte{1})
	var in bytes.Buffer
	in.WriteString("\n")                          // 1 byte
	in.WriteString("\x00\n")                      // NUL
	in.WriteString("\xff\xfe\xc0\xaf bad utf8\n") // invalid UTF-8
	in.WriteString("cr\rin the middle\n")
	in.WriteString("crlf\r\n")
	in.WriteString("\r\n")
	for _, n := range []int{2, 4095, 4096, 4097, 65535, 65536, 65537, 1 << 20, 4 << 20} {
		in.Write(randomLine(r, n))
	}
	in.Write(randomLines(r, 300000, 300))
	in.WriteString("last line\n")
	writeFIFO(t, l.FIFO, in.Bytes())
	waitFileSize(t, l.Remote, int64(in.Len()), 60*time.Second)
	if got := readFile(l.Remote); !bytes.Equal(got, in.Bytes()) {
		i := 0
		for i < len(got) && i < in.Len() && got[i] == in.Bytes()[i] {
			i++
		}
		t.Fatalf("remote file differs from the input at byte %d (got %d bytes, sent %d)", i, len(got), in.Len())
	}
	_, hwm, err := testlab.ProcessRSS(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes with a 4 MiB line: byte-exact; peak RSS %d MiB", in.Len(), hwm>>20)
	if hwm > 200<<20 {
		t.Errorf("peak RSS %d MiB for a 4 MiB line", hwm>>20)
	}
	if err := p.Stop(t, 15*time.Second); err != nil {
		t.Errorf("push exit: %v", err)
	}
}

// TestPushFlood: an intruder writes random bytes into the FIFO as fast as
// it can; every byte arrives unchanged, memory stays bounded.
func TestPushFlood(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	p := startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "--mark", "0", "loghost:"+l.Remote)
	in := bytes.NewBuffer(randomLines(rand.NewChaCha8([32]byte{2}), 32<<20, 1000))
	start := time.Now()
	writeFIFO(t, l.FIFO, in.Bytes())
	waitFileSize(t, l.Remote, int64(in.Len()), 60*time.Second)
	took := time.Since(start)
	if !bytes.Equal(readFile(l.Remote), in.Bytes()) {
		t.Fatalf("flood: remote file differs from the input")
	}
	_, hwm, err := testlab.ProcessRSS(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flood: %d MiB in %v (%.1f MiB/s), byte-exact, peak RSS %d MiB", in.Len()>>20, took.Round(time.Millisecond), float64(in.Len()>>20)/took.Seconds(), hwm>>20)
	// Less than the flood itself on top of the (race-instrumented)
	// runtime: nothing holds the stream in memory.
	if hwm > 64<<20 {
		t.Errorf("peak RSS %d MiB during a 32 MiB flood", hwm>>20)
	}
}

// TestPushBadPaths: missing, unwritable and wrong-type paths for --fifo,
// --file, --spool, --log and --identity: exit 2 with the flag and the path
// named, at once (no hang), and nothing deleted, truncated or replaced.
func TestPushBadPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular.log")
	os.WriteFile(regular, []byte("keep me\n"), 0o600)
	fifo := filepath.Join(dir, "reader-less.fifo")
	syscall.Mkfifo(fifo, 0o600)
	sub := filepath.Join(dir, "a-directory")
	os.Mkdir(sub, 0o700)
	link := filepath.Join(dir, "link-to-fifo")
	os.Symlink(fifo, link)
	key, _ := testlab.KeyPair(t, dir, "exposed_key")
	os.Chmod(key, 0o644)
	missing := filepath.Join(dir, "no", "such", "dir")
	spool := filepath.Join(dir, "spool")

	// As nobody: a directory owned by root that nobody may write, and a
	// file nobody may read.
	pub := publicDir(t)
	rootOnly := filepath.Join(pub, "root-only")
	os.Mkdir(rootOnly, 0o755)
	nobodySpool := filepath.Join(pub, "nobody-spool")
	os.Mkdir(nobodySpool, 0o777)
	os.Chmod(nobodySpool, 0o777)
	secret := filepath.Join(pub, "secret.log")
	os.WriteFile(secret, []byte("root only\n"), 0o600)
	nobodyBin := binaryForNobody(t)

	for _, tt := range []struct {
		args       []string
		flag, path string
		uid        int
	}{
		{args: []string{"--fifo", regular}, flag: "--fifo", path: regular},
		{args: []string{"--fifo", sub}, flag: "--fifo", path: sub},
		{args: []string{"--fifo", link}, flag: "--fifo", path: link},
		{args: []string{"--fifo", filepath.Join(missing, "x.fifo")}, flag: "--fifo", path: missing},
		{args: []string{"--fifo", filepath.Join(rootOnly, "x.fifo"), "--spool", spool}, flag: "--fifo", path: rootOnly, uid: nobody},
		{args: []string{"--file", sub}, flag: "--file", path: sub},
		{args: []string{"--file", fifo}, flag: "--file", path: fifo},
		{args: []string{"--file", secret, "--spool", nobodySpool}, flag: "--file", path: secret, uid: nobody},
		{args: []string{"--spool", regular}, flag: "--spool", path: regular},
		{args: []string{"--spool", filepath.Join(regular, "sub")}, flag: "--spool", path: regular},
		{args: []string{"--spool", fifo}, flag: "--spool", path: fifo},
		{args: []string{"--spool", filepath.Join(rootOnly, "spool")}, flag: "--spool", path: rootOnly, uid: nobody},
		{args: []string{"--log", sub}, flag: "--log", path: sub},
		{args: []string{"--log", fifo}, flag: "--log", path: fifo},
		{args: []string{"--log", filepath.Join(missing, "x.log")}, flag: "--log", path: missing},
		{args: []string{"--log", filepath.Join(rootOnly, "x.log")}, flag: "--log", path: rootOnly, uid: nobody},
		{args: []string{"-i", key}, flag: "--identity", path: key},
		{args: []string{"-i", filepath.Join(dir, "no-key")}, flag: "--identity", path: "no-key"},
	} {
		t.Run(strings.Join(tt.args[:2], "="), func(t *testing.T) {
			t.Parallel()
			args := append([]string{"push"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--spool") {
				args = append(args, "--spool", spool)
			}
			o := runOpts{stdin: strings.NewReader(""), timeout: 20 * time.Second, uid: tt.uid, env: []string{"HOME=/nonexistent"}}
			if tt.uid != 0 {
				o.bin = nobodyBin
			}
			res := runBinary(t, o, append(args, "loghost:/x.log")...)
			if res.Code != 2 || !strings.Contains(res.Stderr, tt.flag) || !strings.Contains(res.Stderr, tt.path) {
				t.Errorf("push %q (uid %d): want exit 2 naming %s and %s\n%s", tt.args, tt.uid, tt.flag, tt.path, res)
			}
		})
	}
	// Every refused path is as it was.
	before := map[string]fileState{}
	for _, p := range []string{regular, fifo, sub, link, key, secret, rootOnly} {
		before[p] = stateOf(p)
	}
	t.Cleanup(func() {
		for p, st := range before {
			if now := stateOf(p); now != st {
				t.Errorf("a refused push changed %s: %+v -> %+v", p, st, now)
			}
		}
		if _, err := os.Stat(spool); err == nil {
			t.Errorf("a refused push created the spool %s", spool)
		}
	})
}

// TestPushExposedKeyInConfig: a key from the ssh configuration that others
// can read is refused by ssh; push says why in its log, delivers nothing.
func TestPushExposedKeyInConfig(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	os.Chmod(l.SSHD.ClientKey, 0o644)
	startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)
	writeFIFO(t, l.FIFO, []byte("secret line\n"))
	testlab.WaitFor(t, 20*time.Second, func() bool {
		log := string(readFile(l.Log))
		return strings.Contains(log, "bad permissions") && strings.Contains(log, "Permission denied")
	}, "the refusal and its reason in the log")
	if _, err := os.Stat(l.Remote); err == nil {
		t.Errorf("delivered with an exposed key")
	}
}

// TestPushHostKeyRefused: an unknown and a changed host key are refused
// with the reason in the log, and nothing is sent; known_hosts is not
// touched. Only an explicit accept-new trusts a new host, as asked.
func TestPushHostKeyRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []string{"unknown", "changed", "accept-new"} {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			l := newPushLab(t, "remote.log")
			kh := filepath.Join(l.Dir, "known_hosts")
			switch tc {
			case "unknown", "accept-new":
				os.WriteFile(kh, nil, 0o600)
			case "changed":
				_, otherPub := testlab.KeyPair(t, l.Dir, "other_host_key")
				host, _, _ := strings.Cut(string(readFile(l.SSHD.KnownHosts)), " ")
				typ, rest, _ := strings.Cut(otherPub, " ")
				data, _, _ := strings.Cut(rest, " ")
				os.WriteFile(kh, []byte(host+" "+typ+" "+data+"\n"), 0o600)
			}
			before := string(readFile(kh))
			args := []string{"-o", "UserKnownHostsFile=" + kh}
			if tc == "accept-new" {
				args = append(args, "-o", "StrictHostKeyChecking=accept-new")
			}
			startPush(t, l.SSHD, l.Log, append(args, "--fifo", l.FIFO, "--spool", l.Spool, "loghost:"+l.Remote)...)
			writeFIFO(t, l.FIFO, []byte("line for the log host\n"))
			if tc == "accept-new" {
				waitFileSize(t, l.Remote, 1, 20*time.Second)
				if len(readFile(kh)) == 0 {
					t.Errorf("accept-new did not record the host key")
				}
				return
			}
			want := map[string]string{"unknown": "No ED25519 host key is known", "changed": "REMOTE HOST IDENTIFICATION HAS CHANGED"}[tc]
			testlab.WaitFor(t, 20*time.Second, func() bool {
				log := string(readFile(l.Log))
				return strings.Count(log, "Host key verification failed") >= 2 && strings.Contains(log, want)
			}, "two refusals with the reason %q in the log", want)
			// After a few attempts push says what to do, as check does.
			fix := map[string]string{"unknown": "ssh-keyscan loghost", "changed": "ssh-keygen -R loghost"}[tc]
			testlab.WaitFor(t, 20*time.Second, func() bool {
				log := string(readFile(l.Log))
				return strings.Contains(log, "cannot connect to loghost") && strings.Contains(log, fix)
			}, "push to explain the refusal with %q", fix)
			if _, err := os.Stat(l.Remote); err == nil {
				t.Errorf("lines were delivered to a host with an %s key", tc)
			}
			if got := string(readFile(kh)); got != before {
				t.Errorf("known_hosts changed: %q", got)
			}
		})
	}
}

// TestPushHostileDests: hosts and users with shell syntax, whitespace or a
// leading '-' are usage errors, never handed to ssh; remote paths with
// newlines, a leading '-' and backslashes stay one file name.
func TestPushHostileDests(t *testing.T) {
	t.Parallel()
	for _, d := range []string{
		"-oProxyCommand=touch${IFS}INJECTED:/x",
		"host;touch${IFS}INJECTED:/x",
		"$(touch${IFS}INJECTED):/x",
		"`touch${IFS}INJECTED`@host:/x",
		"us'er@host:/x",
		"host|x:/x",
		"ho st:/x",
		"host\n:/x",
		"-l@host:/x",
	} {
		t.Run("dest", func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, runOpts{stdin: strings.NewReader("x\n"), timeout: 20 * time.Second}, "push", "--", d)
			if res.Code != 2 || !strings.Contains(res.Stderr, "DEST") {
				t.Errorf("push %q: want exit 2 naming DEST\n%s", d, res)
			}
		})
	}

	// Remote paths through a key without forced command: the client's
	// own command line is what runs, so quoting is all that protects.
	dir := t.TempDir()
	sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
	sshd.SetAuthorizedKeys(t, `restrict,from="127.0.0.1" `+sshd.ClientPub)
	for _, name := range []string{"new\nline.log", `ends\`, "tab\there", "$HOME", "-rf"} {
		t.Run("path", func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, name)
			res := runBinary(t, runOpts{stdin: strings.NewReader("data\n")}, "push", "-F", sshd.SSHConfig, "--spool", t.TempDir(), "loghost:"+path)
			if res.Code != 0 {
				t.Fatalf("push to %q: %s", name, res)
			}
			if got := string(readFile(path)); got != "data\n" {
				t.Errorf("%q holds %q", path, got)
			}
		})
	}
	t.Cleanup(func() { noInjection(t, dir) })
}
