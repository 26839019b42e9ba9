package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestWalkthrough runs the setup of README.md and docs/setup.md as an
// administrator would, block by block (walkthroughSteps), changed only by
// the table of replacements (substitution): as root, and as the service
// user through the docs' own `runuser -u sshlogfwd --`, against a private
// sshd on 127.0.0.1 that reads each account's ~/.ssh/authorized_keys, with
// a private rsyslogd that loads the sshlogfwd.conf the docs installed.
// systemctl is not run: the docs' by-hand commands are, and
// TestWalkthroughByHandIsTheUnit proves them equal to the units. Push,
// reliable push and pull each deliver a line end to end; every check
// block exits 0. A doc that stops working fails here.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	testlab.RequireRoot(t, "creating users for the walkthrough")
	for _, p := range []string{"/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/sbin/runuser", "/usr/bin/logger", "/usr/sbin/rsyslogd", "/usr/bin/ssh-keyscan"} {
		testlab.RequireBinary(t, p)
	}
	w := newWalkthrough(t)
	start := time.Now()
	remote := w.path("/var/log/remote/web1.log")
	hello := "sshlogfwd: hello from web1"

	// Push (README, five-minute setup).
	w.run("push-watched-host", "push-log-host", "push-config", "push-check")
	p := w.start("push-by-hand")
	w.waitFor(p, func() bool { return exists(w.path("/run/sshlogfwd/push.fifo")) }, "push to create the FIFO")
	w.startRsyslog() // `systemctl restart rsyslog`, after push
	w.run("push-try")
	w.waitFor(p, func() bool { return bytes.Count(readFile(remote), []byte(hello)) == 1 }, "the line pushed with cat >> to arrive")
	w.stop(p)
	t.Logf("walkthrough: push delivered after %v", time.Since(start).Round(time.Millisecond))

	// Reliable push (setup.md §5): receive on the log host.
	w.run("reliable-watched-host", "reliable-log-host", "push-check")
	p = w.start("reliable-by-hand")
	w.run("push-try")
	w.waitFor(p, func() bool { return bytes.Count(readFile(remote), []byte(hello)) == 2 }, "the line pushed with --reliable to arrive")
	if !exists(w.path("/var/log/remote/.web1.log.sshlogfwd")) {
		t.Errorf("no receive state beside %s: the reliable line did not come through receive", remote)
	}
	w.stop(p)
	t.Logf("walkthrough: reliable push delivered after %v", time.Since(start).Round(time.Millisecond))

	// Pull (setup.md): the log host fetches /var/log/auth.log.
	w.run("pull-log-host", "pull-watched-host", "pull-config", "pull-check")
	p = w.start("pull-by-hand")
	pulled := w.path("/var/log/sshlogfwd/web1.log")
	// pull starts at the end of the file on its first run: write until a
	// line written after it connected arrives.
	n := 0
	w.waitFor(p, func() bool {
		n++
		appendLine(t, w.path("/var/log/auth.log"), "web1 sshd[1]: pull walkthrough line "+strconv.Itoa(n))
		return bytes.Contains(readFile(pulled), []byte("pull walkthrough line"))
	}, "a line of auth.log to be pulled")
	w.stop(p)
	if bytes.Contains(readFile(remote), []byte("pull walkthrough line")) || bytes.Contains(readFile(pulled), []byte(hello)) {
		t.Errorf("push's and pull's files share lines: %s, %s", remote, pulled)
	}
	t.Logf("walkthrough: pull delivered; whole walkthrough %v", time.Since(start).Round(time.Millisecond))
}

// walkthrough is the lab the docs run in: a base directory standing for
// the root of both hosts, the users the docs create, sshd and rsyslogd.
type walkthrough struct {
	t      *testing.T
	blocks map[string]docBlock
	subst  substitution
	work   string // where the blocks run: contrib/ is the repository's
	env    []string
	rs     *testlab.Rsyslog
}

func newWalkthrough(t *testing.T) *walkthrough {
	t.Helper()
	w := &walkthrough{t: t, blocks: docBlocks(t)}
	base, err := os.MkdirTemp("", "sshlogfwd-walkthrough-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	w.subst = substitution{base: base, service: uniqueName("wts"), logUser: uniqueName("wtl"), reader: uniqueName("wtr")}
	// Registered first, run last: after sshd, rsyslogd and every process
	// of theirs are gone.
	for _, u := range []string{w.subst.service, w.subst.logUser, w.subst.reader} {
		t.Cleanup(func() { removeUser(t, u) })
	}
	w.world(base)
	sshd := testlab.StartSSHD(t, testlab.SSHDOptions{KeepHome: true, Extra: []string{"AuthorizedKeysFile .ssh/authorized_keys", "SetEnv " + plGORACE}})
	w.subst.port = strconv.Itoa(sshd.Port)
	bin := w.path("/usr/local/bin/sshlogfwd")
	w.env = append(cleanEnv(),
		"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
		"SSHLOGFWD_PORT="+w.subst.port,
		"SSHLOGFWD_SSH_OPTION=GlobalKnownHostsFile="+w.path("/etc/ssh/ssh_known_hosts"),
		"SSHLOGFWD_SSHLOGFWD_PATH="+bin,
		plGORACE,
	)
	return w
}

// world makes what a Debian host with openssh-server and rsyslog has
// before the docs begin, below base: the system's directories, the binary
// where the README's install puts it, and /var/log/auth.log (root:adm
// 0640) for pull to follow.
func (w *walkthrough) world(base string) {
	t := w.t
	os.Chmod(base, 0o755)
	for _, d := range []string{"/etc/ssh", "/etc/systemd/system", "/etc/rsyslog.d", "/var/log", "/var/lib", "/run", "/usr/local/bin"} {
		if err := os.MkdirAll(w.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(testlab.Binary(t))
	if err == nil {
		err = os.WriteFile(w.path("/usr/local/bin/sshlogfwd"), b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	auth := w.path("/var/log/auth.log")
	os.WriteFile(auth, []byte("web1 sshd[1]: before the walkthrough\n"), 0o640)
	if out, err := exec.Command("chgrp", "adm", auth).CombinedOutput(); err != nil {
		t.Fatalf("chgrp adm %s: %v %s", auth, err, out)
	}
	w.work = filepath.Join(base, "work")
	os.Mkdir(w.work, 0o700)
	root, _ := filepath.Abs("..")
	if err := os.Symlink(filepath.Join(root, "contrib"), filepath.Join(w.work, "contrib")); err != nil {
		t.Fatal(err)
	}
}

// path is where the docs' absolute path is in the lab.
func (w *walkthrough) path(p string) string { return filepath.Join(w.subst.base, p) }

// cleanEnv is the test's environment without anything of ours that could
// change what the docs' commands do.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSHLOGFWD_") && !strings.HasPrefix(kv, "STATE_DIRECTORY=") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

// command is the shell that runs a block: bash, failing on the first
// failed command, a pipeline's included.
func (w *walkthrough) command(ctx context.Context, name string) *exec.Cmd {
	text := w.subst.apply(w.blocks[name].text)
	w.t.Logf("walkthrough: %s (%s:%d):\n%s", name, w.blocks[name].file, w.blocks[name].line, text)
	cmd := exec.CommandContext(ctx, "/bin/bash", "-e", "-o", "pipefail", "-c", text)
	cmd.Dir, cmd.Env = w.work, w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs the blocks to their end; each must succeed.
func (w *walkthrough) run(names ...string) {
	w.t.Helper()
	for _, name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		began := time.Now()
		out, err := w.command(ctx, name).CombinedOutput()
		cancel()
		w.t.Logf("walkthrough: %s took %v; output:\n%s", name, time.Since(began).Round(time.Millisecond), out)
		if err != nil {
			w.t.Fatalf("walkthrough: block %s (%s:%d) failed: %v\n%s", name, w.blocks[name].file, w.blocks[name].line, err, out)
		}
	}
}

// bgProc is a block that runs until stopped (push, pull by hand).
type bgProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *bgProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start starts a block that keeps running; its output goes to the test
// log. The test's end stops it if the test did not.
func (w *walkthrough) start(name string) *bgProc {
	t := w.t
	t.Helper()
	p := &bgProc{name: name, cmd: w.command(context.Background(), name), done: make(chan struct{})}
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = wr, wr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			t.Log(name + ": " + sc.Text())
		}
	}()
	go func() {
		<-read
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p
}

// stop ends a started block as systemctl stop would: SIGTERM to all of it,
// and it must end in order, within the drain timeout.
func (w *walkthrough) stop(p *bgProc) {
	w.t.Helper()
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		w.t.Errorf("walkthrough: %s did not stop within 20 s of SIGTERM", p.name)
	}
}

// waitFor waits for cond while p runs: a block that ended fails at once,
// with its output.
func (w *walkthrough) waitFor(p *bgProc, cond func() bool, what string) {
	w.t.Helper()
	ended := false
	ok := testlab.Poll(30*time.Second, func() bool {
		select {
		case <-p.done:
			ended = true
			return true
		default:
		}
		return cond()
	})
	switch {
	case ended && !cond():
		w.t.Fatalf("walkthrough: %s ended (%v) before %s:\n%s", p.name, p.err, what, p.output())
	case !ok:
		w.t.Fatalf("walkthrough: after 30 s, still waiting for %s; %s said:\n%s", what, p.name, p.output())
	}
}

// startRsyslog starts the lab's rsyslogd with the rules the docs installed
// in /etc/rsyslog.d, read through the table of replacements.
func (w *walkthrough) startRsyslog() {
	b, err := os.ReadFile(w.path("/etc/rsyslog.d/sshlogfwd.conf"))
	if err != nil {
		w.t.Fatalf("walkthrough: the docs installed no rsyslog rules: %v", err)
	}
	w.rs = testlab.StartRsyslog(w.t, w.subst.apply(string(b)))
	w.subst.socket = w.rs.Socket
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// appendLine appends one line to a file, as a syslog daemon would.
func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}
