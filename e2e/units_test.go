package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

const systemdAnalyze = "/usr/bin/systemd-analyze"

// unitFile is a parsed systemd unit: section → key → values in order.
type unitFile map[string]map[string][]string

// parseUnit reads systemd's unit syntax (the subset our units use: sections,
// Key=Value, comments, no line continuations) and refuses anything else.
func parseUnit(data string) (unitFile, error) {
	u := unitFile{}
	section := ""
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case strings.HasSuffix(line, `\`):
			return nil, fmt.Errorf("line %d: continuation lines are not expected", i+1)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || k == "" || strings.ContainsAny(k, " \t") {
				return nil, fmt.Errorf("line %d: not Key=Value in a section: %q", i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u, nil
}

func (u unitFile) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// TestContribUnits verifies the systemd units: with systemd-analyze verify
// (the real unit parser, with the ExecStart binary pointed at the test
// build and the units beside each other, as installed), systemd-analyze
// security --offline (exposure score of the services), and by parsing
// them for the hardening the README promises and for the socket unit
// that holds push's FIFO. Running them under systemd is not possible here
// (no systemd as PID 1).
func TestContribUnits(t *testing.T) {
	t.Parallel()
	bin := testlab.Binary(t)
	units, _ := filepath.Glob("../contrib/systemd/*.service")
	sockets, _ := filepath.Glob("../contrib/systemd/*.socket")
	if len(units) != 3 || len(sockets) != 1 {
		t.Fatalf("contrib units: %q %q, want push, journal and pull, and push's socket", units, sockets)
	}
	haveAnalyze := true
	if _, err := os.Stat(systemdAnalyze); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v (CI=true, not skipping)", systemdAnalyze, err)
		}
		haveAnalyze = false
		t.Logf("%s not installed: units checked by parsing only", systemdAnalyze)
	}
	for _, path := range append(units, sockets...) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			u, err := parseUnit(string(b))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if strings.HasSuffix(name, ".socket") {
				checkPushSocket(t, name, u)
			} else {
				checkServiceUnit(t, name, string(b), u)
			}
			if haveAnalyze {
				analyzeUnit(t, bin, name)
			}
		})
	}
}

// checkServiceUnit checks a service's settings, and that every
// SSHLOGFWD_ variable it mentions is a real flag of its command.
func checkServiceUnit(t *testing.T, name, text string, u unitFile) {
	t.Helper()
	want := map[string]string{
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "read-only",
		"PrivateTmp":            "yes",
		"PrivateDevices":        "yes",
		"Restart":               "always",
		"StateDirectory":        "sshlogfwd",
		"StateDirectoryMode":    "0700",
		"User":                  "sshlogfwd",
		"CapabilityBoundingSet": "",
		"RestrictSUIDSGID":      "yes",
		"SystemCallFilter":      "@system-service",
		"KillMode":              "mixed",
		"Type":                  "notify",
		"NotifyAccess":          "main",
		"WatchdogSec":           "60",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
	}
	cmd := "push"
	switch {
	case strings.HasPrefix(name, "sshlogfwd-push@"):
		want["Environment"] = "SSHLOGFWD_FIFO=/run/sshlogfwd/%i.fifo"
		want["ExecStart"] = "/usr/local/bin/sshlogfwd push $SSHLOGFWD_DEST"
		// The FIFO comes from the socket unit, which must be up first.
		for k, v := range map[string]string{"Requires": "sshlogfwd-push@%i.socket", "After": "sshlogfwd-push@%i.socket"} {
			if got := strings.Join(u["Unit"][k], " "); !slices.Contains(strings.Fields(got), v) {
				t.Errorf("%s: [Unit] %s=%q, want it to name %s", name, k, got, v)
			}
		}
	case strings.HasPrefix(name, "sshlogfwd-journal@"):
		want["Environment"] = "SSHLOGFWD_JOURNAL=true"
		want["SupplementaryGroups"] = "systemd-journal"
		want["ExecStart"] = "/usr/local/bin/sshlogfwd push $SSHLOGFWD_DEST"
	case strings.HasPrefix(name, "sshlogfwd-pull@"):
		cmd = "pull"
		want["LogsDirectory"] = "sshlogfwd"
		want["Environment"] = "SSHLOGFWD_OUTPUT=/var/log/sshlogfwd/%i.log"
		want["ExecStart"] = "/usr/local/bin/sshlogfwd pull $SSHLOGFWD_SRC"
	}
	for k, v := range want {
		if got, ok := u.last("Service", k); !ok || got != v {
			t.Errorf("%s: [Service] %s=%q, want %q", name, k, got, v)
		}
	}
	if _, ok := u.last("Install", "WantedBy"); !ok {
		t.Errorf("%s: no [Install] WantedBy", name)
	}
	// DEST and SRC are our own, for ExecStart.
	help := runBinary(t, runOpts{}, cmd, "--help").Stdout
	for _, v := range regexp.MustCompile(`SSHLOGFWD_[A-Z_]+`).FindAllString(text, -1) {
		if v != "SSHLOGFWD_DEST" && v != "SSHLOGFWD_SRC" && !strings.Contains(help, "$"+v+")") {
			t.Errorf("%s mentions %s, which %s does not read", name, v, cmd)
		}
	}
}

// checkPushSocket checks the socket unit that makes and holds push's FIFO:
// the path the push service reads, owned by the push service's user, a
// mode push accepts, kept when the socket stops, paired with the service.
func checkPushSocket(t *testing.T, name string, u unitFile) {
	t.Helper()
	svc, err := os.ReadFile("../contrib/systemd/sshlogfwd-push@.service")
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseUnit(string(svc))
	if err != nil {
		t.Fatal(err)
	}
	user, _ := s.last("Service", "User")
	env, _ := s.last("Service", "Environment")
	fifo, _ := strings.CutPrefix(env, "SSHLOGFWD_FIFO=")
	want := map[string]string{
		"ListenFIFO":    fifo,
		"SocketUser":    user,
		"SocketGroup":   "sshlogfwd",
		"SocketMode":    "0620",
		"DirectoryMode": "0755",
		"RemoveOnStop":  "no",
		"Service":       "sshlogfwd-push@%i.service",
	}
	for k, v := range want {
		if got, ok := u.last("Socket", k); !ok || got != v {
			t.Errorf("%s: [Socket] %s=%q, want %q", name, k, got, v)
		}
	}
	// systemd reuses a FIFO left from before only if it is root's, and
	// chowns it by name: the FIFO and its directory are made root's first.
	pre := []string{"-/bin/chown -h root:root /run/sshlogfwd " + fifo, "-/bin/chmod 0755 /run/sshlogfwd"}
	if got := u["Socket"]["ExecStartPre"]; !slices.Equal(got, pre) {
		t.Errorf("%s: [Socket] ExecStartPre=%q, want %q", name, got, pre)
	}
	mode, err := strconv.ParseUint(want["SocketMode"], 8, 32)
	if err == nil {
		err = pipe.CheckMode(fs.FileMode(mode))
	}
	if err != nil {
		t.Errorf("%s: SocketMode: %v", name, err)
	}
	if got, _ := u.last("Install", "WantedBy"); got != "sockets.target" {
		t.Errorf("%s: [Install] WantedBy=%q, want sockets.target", name, got)
	}
}

// analyzeUnit runs systemd-analyze verify on an instance of the unit, with
// all of contrib/systemd beside it (the push service requires its socket,
// the socket names its service), and security --offline on a service.
// verify needs the ExecStart binary to exist and a concrete instance name.
func analyzeUnit(t *testing.T, bin, name string) {
	t.Helper()
	dir := t.TempDir()
	all, _ := filepath.Glob("../contrib/systemd/*@.*")
	for _, src := range all {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(src)), []byte(strings.ReplaceAll(string(b), "/usr/local/bin/sshlogfwd", bin)), 0o644)
		os.Symlink(filepath.Base(src), filepath.Join(dir, strings.Replace(filepath.Base(src), "@", "@test", 1)))
	}
	inst := filepath.Join(dir, strings.Replace(name, "@", "@test", 1))
	out, err := exec.Command(systemdAnalyze, "verify", "--man=no", inst).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
	}
	if !strings.HasSuffix(name, ".service") {
		t.Logf("%s: systemd-analyze verify clean", name)
		return
	}
	out, err = exec.Command(systemdAnalyze, "security", "--offline=true", "--man=no", inst).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Errorf("systemd-analyze security %s: %v\n%s", name, err, out)
		return
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("%s: systemd-analyze verify clean; exposure level %.1f", name, score)
	if score > 2.5 {
		t.Errorf("%s: exposure level %.1f, want at most 2.5\n%s", name, score, out)
	}
}

const logrotateBin = "/usr/sbin/logrotate"

// logrotateStanza returns the stanza of contrib/logrotate/sshlogfwd for
// glob, with the glob replaced by newGlob, the accounts by root and the
// postrotate script by post (if not empty).
func logrotateStanza(t *testing.T, glob, newGlob, post string) string {
	t.Helper()
	b, err := os.ReadFile("../contrib/logrotate/sshlogfwd")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+glob+" {")
	if i < 0 {
		t.Fatalf("contrib/logrotate/sshlogfwd has no stanza for %s", glob)
	}
	stanza := text[i+1:]
	stanza = stanza[:strings.Index(stanza, "\n}")+2]
	stanza = strings.Replace(stanza, glob, newGlob, 1)
	stanza = regexp.MustCompile(`create (\d+) \S+ \S+`).ReplaceAllString(stanza, "create $1 root root")
	if post != "" {
		stanza = regexp.MustCompile(`(?s)postrotate\n.*?\n(\s*)endscript`).ReplaceAllString(stanza, "postrotate\n        "+post+"\n${1}endscript")
	}
	return stanza + "\n"
}

// runLogrotate forces one rotation with config.
func runLogrotate(t *testing.T, dir, config string) {
	t.Helper()
	cfg := filepath.Join(dir, "logrotate.conf")
	os.WriteFile(cfg, []byte(config), 0o644)
	out, err := exec.Command(logrotateBin, "-f", "-v", "-s", filepath.Join(dir, "logrotate.state"), cfg).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error:")) {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
}

// rotatedPlusCurrent is the rotated file (dateext, not compressed thanks to
// delaycompress) followed by the current one.
func rotatedPlusCurrent(t *testing.T, path string) []byte {
	t.Helper()
	old, _ := filepath.Glob(path + "-*")
	if len(old) != 1 {
		t.Fatalf("rotated files of %s: %q, want one", path, old)
	}
	return append(readFile(old[0]), readFile(path)...)
}

// TestContribLogrotate: the file parses, and each stanza really rotates
// without losing or repeating a line — receive's file by rename alone,
// pull's output with SIGHUP, cat's file by ending cat.
func TestContribLogrotate(t *testing.T) {
	t.Parallel()
	testlab.RequireBinary(t, logrotateBin)
	t.Run("parse", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		b, _ := os.ReadFile("../contrib/logrotate/sshlogfwd")
		cfg := strings.ReplaceAll(string(b), "/var/log/", dir+"/")
		cfg = regexp.MustCompile(`create (\d+) \S+ \S+`).ReplaceAllString(cfg, "create $1 root root")
		for _, d := range []string{"remote/compat", "sshlogfwd"} {
			os.MkdirAll(filepath.Join(dir, d), 0o755)
		}
		os.WriteFile(filepath.Join(dir, "logrotate.conf"), []byte(cfg), 0o644)
		out, err := exec.Command(logrotateBin, "-d", "-s", filepath.Join(dir, "state"), filepath.Join(dir, "logrotate.conf")).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("error:")) {
			t.Errorf("logrotate -d: %v\n%s", err, out)
		}
	})
	const n, size = 1000, 100
	ln := testlab.Numbered(size)
	lines := ln.Range
	exact := func(t *testing.T, got []byte) {
		t.Helper()
		if r := ln.Check(got, n); r.Received != n || r.Lost+r.Duplicated+r.OutOfOrder+r.Torn != 0 || len(r.Other) != 0 {
			t.Errorf("rotated + current file: %s", r)
		}
	}

	t.Run("receive", func(t *testing.T) {
		t.Parallel()
		l := newPushLab(t, "unused.log")
		remote := filepath.Join(l.Dir, "remote", "host.log")
		os.Mkdir(filepath.Dir(remote), 0o755)
		l.SSHD.SetAuthorizedKeys(t, authorizedKey(t, l.SSHD, "push", "--reliable", "--sshlogfwd-path", testlab.Binary(t), "--from", "127.0.0.1", remote))
		startPush(t, l.SSHD, l.Log, "--reliable", "--fifo", l.FIFO, "--spool", l.Spool, "--mark", "0", "loghost:"+remote)
		writeFIFO(t, l.FIFO, lines(0, n/2))
		waitFileSize(t, remote, n/2*size, 30*time.Second)
		runLogrotate(t, l.Dir, logrotateStanza(t, "/var/log/remote/*.log", filepath.Dir(remote)+"/*.log", ""))
		writeFIFO(t, l.FIFO, lines(n/2, n))
		waitLines(t, ln, func() []byte { return readFile(remote) }, n, 30*time.Second)
		exact(t, rotatedPlusCurrent(t, remote))
	})

	t.Run("pull", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		sshd := testlab.StartSSHD(t, testlab.SSHDOptions{})
		watched := filepath.Join(dir, "watched.log")
		os.WriteFile(watched, nil, 0o644)
		sshd.SetAuthorizedKeys(t, authorizedKey(t, sshd, "pull", "--sshlogfwd-path", testlab.Binary(t), "--from", "127.0.0.1", watched))
		out := filepath.Join(dir, "pulled", "web1.log")
		os.Mkdir(filepath.Dir(out), 0o755)
		cmd := exec.Command(testlab.Binary(t), "pull", "-F", sshd.SSHConfig, "--output", out, "--from", "start", "--log", filepath.Join(dir, "pull.log"), "loghost:"+watched)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("pull log:\n%s", tail(readFile(filepath.Join(dir, "pull.log")), 30))
			}
		})
		appendFile(t, watched, lines(0, n/2))
		waitFileSize(t, out, n/2*size, 30*time.Second)
		runLogrotate(t, dir, logrotateStanza(t, "/var/log/sshlogfwd/*.log", filepath.Dir(out)+"/*.log", fmt.Sprintf("kill -HUP %d", cmd.Process.Pid)))
		appendFile(t, watched, lines(n/2, n))
		waitLines(t, ln, func() []byte { return readFile(out) }, n, 30*time.Second)
		exact(t, rotatedPlusCurrent(t, out))
		if ln.Contains(readFile(out), 0) {
			t.Errorf("the new output repeats the first line")
		}
	})

	t.Run("cat", func(t *testing.T) {
		t.Parallel()
		l := newPushLab(t, "unused.log")
		remote := filepath.Join(l.Dir, "remote", "compat", "host.log")
		os.MkdirAll(filepath.Dir(remote), 0o755)
		l.SSHD.SetAuthorizedKeys(t, authorizedKey(t, l.SSHD, "push", "--from", "127.0.0.1", remote))
		startPush(t, l.SSHD, l.Log, "--fifo", l.FIFO, "--spool", l.Spool, "--mark", "0", "--stats", "100ms", "loghost:"+remote)
		writeFIFO(t, l.FIFO, lines(0, n/2))
		waitFileSize(t, remote, n/2*size, 30*time.Second)
		// push counts what it wrote as delivered once the remote command
		// has kept running for a second after it (a cat that fails at once
		// gets it again); a rotation within that second repeats those
		// lines in the new file, as the contrib comment says. Delivered
		// lines leave the spool: a status line says when.
		testlab.WaitFor(t, 30*time.Second, func() bool {
			return strings.Contains(string(readFile(l.Log)), fmt.Sprintf("read_lines=%d read_bytes=%d spooled_bytes=0 ", n/2, n/2*size))
		}, "push to count the lines as delivered")
		// The contrib script ends every cat of the receiving account;
		// here only this sshd's cat may be ended (other tests run cats
		// as the same user).
		cats := descendantsNamed(l.SSHD.PID(), "cat")
		if len(cats) != 1 {
			t.Fatalf("cat processes under sshd: %v, want one", cats)
		}
		runLogrotate(t, l.Dir, logrotateStanza(t, "/var/log/remote/compat/*.log", filepath.Dir(remote)+"/*.log", fmt.Sprintf("kill %d", cats[0])))
		writeFIFO(t, l.FIFO, lines(n/2, n))
		waitLines(t, ln, func() []byte { return readFile(remote) }, n, 30*time.Second)
		exact(t, rotatedPlusCurrent(t, remote))
	})
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

// descendantsNamed returns the pids of the processes below pid whose
// command name is comm.
func descendantsNamed(pid int, comm string) []int {
	parent := map[int]int{}
	name := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(string(b[closing+1:]))
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p], name[p] = pp, string(b[open+1:closing])
	}
	var out []int
	for p, c := range name {
		if c != comm {
			continue
		}
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
