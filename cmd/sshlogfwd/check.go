package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
)

// CheckCmd runs a push or pull setup end to end and says, one line per
// check, what is right and what is wrong and how to fix it.
type CheckCmd struct {
	Push CheckPushCmd `cmd:"" help:"Check a push setup: give exactly the flags and DESTs you give push (SSHLOGFWD_* variables apply too)."`
	Pull CheckPullCmd `cmd:"" help:"Check a pull setup: give exactly the flags and SRC you give pull."`
}

// CheckOptions are the flags check adds to those of push or pull.
type CheckOptions struct {
	SyslogUser string        `name:"syslog-user" help:"The user the syslog daemon writes the FIFO as (Debian's rsyslog: root; Ubuntu's: syslog)." default:"root" placeholder:"USER"`
	ProbeWait  time.Duration `name:"probe-wait" help:"How long a probe waits for the far side once ssh has connected (twice that where a far side that keeps running is the expected answer, as tail -F)." default:"3s"`
}

// CheckPushCmd checks what push would use: the input, the spool, the key,
// and every destination.
type CheckPushCmd struct {
	PushCmd
	CheckOptions
}

// CheckPullCmd checks what pull would use: the key, the output, the cursor
// and the source.
type CheckPullCmd struct {
	PullCmd
	CheckOptions
}

// errChecksFailed makes check exit 1; the report already said why.
var errChecksFailed = errors.New("some checks failed; see the FAIL lines")

// report prints one line per check.
type report struct {
	w      io.Writer
	failed int
}

func (r *report) ok(name, format string, a ...any) {
	fmt.Fprintf(r.w, "OK    %s: %s\n", name, fmt.Sprintf(format, a...))
}

// fail prints what is wrong and, in plain words, how to fix it.
func (r *report) fail(name, problem, fix string) {
	r.failed++
	line := "FAIL  " + name + ": " + problem
	if fix != "" {
		line += ". Fix: " + fix
	}
	fmt.Fprintln(r.w, oneLine(line))
}

func (r *report) result() error {
	if r.failed > 0 {
		return errChecksFailed
	}
	return nil
}

// oneLine keeps a report line on one line whatever ssh printed.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// Run checks the push setup.
func (c *CheckPushCmd) Run(ctx context.Context, log *slog.Logger) error {
	r := &report{w: os.Stdout}
	var dests []execssh.Dest
	for _, d := range c.Dests {
		dest, _ := execssh.ParseDest(d) // Validate checked them
		dests = append(dests, dest)
	}
	switch {
	case c.FIFO != "":
		mode, _ := c.fifoMode()
		checkFIFO(r, c.FIFO, mode, c.SyslogUser)
	case c.File != "":
		checkReadable(r, "--file "+c.File, c.File)
	}
	spool := c.Spool
	if spool == "" {
		dir, err := defaultSpoolDir(dests)
		if err != nil {
			r.fail("--spool", err.Error(), "give --spool DIR")
		} else {
			spool = dir
		}
	}
	if spool != "" {
		checkPrivateDir(r, "--spool "+spool, spool)
	}
	for _, dest := range dests {
		p := newProber(ctx, &c.SSHFlags, c.CheckOptions, dest)
		if !p.connect(r, "log host") {
			continue
		}
		p.restricted(r, "log host", "push", dest.Path)
		p.forwarding(r)
		cmd := c.RemoteCommand
		switch {
		case cmd != "":
		case c.Reliable:
			cmd = c.receiveCommand(dest.Path)
		default:
			cmd = request.Append(dest.Path)
		}
		if c.Reliable {
			p.receive(r, cmd)
		} else {
			p.append(r, cmd)
		}
	}
	return r.result()
}

// Run checks the pull setup.
func (c *CheckPullCmd) Run(ctx context.Context, log *slog.Logger) error {
	r := &report{w: os.Stdout}
	dest, _ := execssh.ParseDest(c.Src)
	if c.Output != "" {
		checkOutput(r, "--output "+c.Output, c.Output)
	}
	if !c.Compat {
		switch {
		case c.CursorFile != "":
			checkOutput(r, "--cursor-file "+c.CursorFile, c.CursorFile)
		case c.Output == "":
			if base, err := stateDir(); err != nil {
				r.fail("cursor", err.Error(), "give --cursor-file FILE")
			} else {
				checkPrivateDir(r, "state directory "+base, base)
			}
		}
	}
	p := newProber(ctx, &c.SSHFlags, c.CheckOptions, dest)
	if !p.connect(r, "watched host") {
		return r.result()
	}
	p.restricted(r, "watched host", "pull", dest.Path)
	p.forwarding(r)
	cmd := c.remoteCommand(dest, &pullState{})
	if c.Compat {
		p.tail(r, cmd, dest.Path)
	} else {
		p.serve(r, cmd, dest.Path)
	}
	return r.result()
}

// ---- local files ----

// checkKeyFile checks a private key as ssh would use it unattended.
func checkKeyFile(r *report, path, sshPath string) {
	name := "key " + path
	fi, err := os.Stat(path)
	if err != nil {
		r.fail(name, err.Error(), "give the private key with -i FILE")
		return
	}
	if !fi.Mode().IsRegular() {
		r.fail(name, "not a regular file", "give the private key file with -i FILE")
		return
	}
	mode := fi.Mode().Perm()
	owner := fileOwner(fi)
	switch {
	case mode&0o004 != 0:
		r.fail(name, fmt.Sprintf("readable by every user on this host (mode %04o): anyone here can copy it and write to the far side as you", mode),
			"chmod 600 "+path+", then consider the key stolen: make a new one and replace its line in authorized_keys")
		return
	case mode&0o022 != 0:
		r.fail(name, fmt.Sprintf("writable by others (mode %04o): they could swap in their own key", mode), "chmod 600 "+path)
		return
	case mode&0o077 != 0 && owner == os.Getuid():
		r.fail(name, fmt.Sprintf("group can read it (mode %04o), and ssh ignores a private key of yours that others can access", mode), "chmod 600 "+path)
		return
	}
	if err := unix.Access(path, unix.R_OK); err != nil {
		r.fail(name, fmt.Sprintf("cannot be read by user %s: %v", currentUser(), err), "give the user that runs sshlogfwd read access (chown it, mode 0600)")
		return
	}
	if pass, err := hasPassphrase(path, sshPath); err == nil && pass {
		r.fail(name, "has a passphrase, which nobody is there to type when sshlogfwd runs unattended",
			"make a dedicated key without passphrase: ssh-keygen -t ed25519 -N '' -f "+path)
		return
	}
	r.ok(name, "mode %04o, owner %s, no passphrase", mode, userName(owner))
}

// hasPassphrase asks ssh-keygen to derive the public key with an empty
// passphrase.
func hasPassphrase(path, sshPath string) (bool, error) {
	keygen := "ssh-keygen"
	if strings.Contains(sshPath, "/") {
		if p := filepath.Join(filepath.Dir(sshPath), "ssh-keygen"); fileExists(p) {
			keygen = p
		}
	}
	var out bytes.Buffer
	cmd := exec.Command(keygen, "-y", "-P", "", "-f", path)
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	err := cmd.Run()
	if err == nil {
		return false, nil
	}
	if strings.Contains(out.String(), "passphrase") {
		return true, nil
	}
	return false, err
}

// checkFIFO checks the FIFO syslog writes into: a FIFO, readable by us,
// writable by the syslog daemon, readable by nobody else, writable by no
// stranger.
func checkFIFO(r *report, path string, createMode fs.FileMode, syslogUser string) {
	name := "--fifo " + path
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			r.fail(name, fmt.Sprintf("does not exist, and push cannot create it in %s: %v", dir, err),
				fmt.Sprintf("create %s writable by user %s, or give another --fifo", dir, currentUser()))
			return
		}
		if createMode&0o044 != 0 || createMode&0o002 != 0 {
			r.fail(name, fmt.Sprintf("does not exist yet, and --fifo-mode %04o would let others read or write it", createMode), "--fifo-mode 0620")
			return
		}
		r.ok(name, "does not exist yet; push creates it with mode %04o (start push before the syslog daemon)", createMode)
		return
	}
	if err != nil {
		r.fail(name, err.Error(), "")
		return
	}
	if fi.Mode().Type() != fs.ModeNamedPipe {
		r.fail(name, fmt.Sprintf("is not a FIFO but %s; push refuses it", pipe.DescribeMode(fi.Mode())),
			"give the FIFO's path, or remove what is there and let push create the FIFO")
		return
	}
	mode := fi.Mode().Perm()
	switch {
	case mode&0o044 != 0:
		r.fail(name, fmt.Sprintf("others can read it (mode %04o) and take lines out of it before push sees them", mode), "chmod go-r "+path)
		return
	case mode&0o002 != 0:
		r.fail(name, fmt.Sprintf("every user can write it (mode %04o) and slip forged lines past the syslog daemon", mode), "chmod o-w "+path)
		return
	}
	if err := unix.Access(path, unix.R_OK); err != nil {
		r.fail(name, fmt.Sprintf("user %s (who runs push) cannot read it: %v", currentUser(), err), "chown it to the user that runs push")
		return
	}
	ok, why := canWrite(fi, syslogUser)
	if !ok {
		r.fail(name, fmt.Sprintf("the syslog daemon (user %s) cannot write it: %s", syslogUser, why),
			fmt.Sprintf("chgrp a group of %s and chmod g+w %s, or give --syslog-user", syslogUser, path))
		return
	}
	r.ok(name, "a FIFO, mode %04o, owner %s, writable by %s, readable only by its owner", mode, userName(fileOwner(fi)), syslogUser)
}

// canWrite reports whether the named user may write the file, judging by
// owner, group and mode (not ACLs).
func canWrite(fi fs.FileInfo, name string) (bool, string) {
	u, err := user.Lookup(name)
	if err != nil {
		return false, err.Error()
	}
	if u.Uid == "0" {
		return true, ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false, "cannot read the owner"
	}
	mode := fi.Mode().Perm()
	if u.Uid == strconv.Itoa(int(st.Uid)) {
		return mode&0o200 != 0, "it is the owner but the mode lacks u+w"
	}
	groups, _ := u.GroupIds()
	for _, g := range groups {
		if g == strconv.Itoa(int(st.Gid)) {
			return mode&0o020 != 0, "it is in the group but the mode lacks g+w"
		}
	}
	return mode&0o002 != 0, "neither the owner nor in the group"
}

// checkReadable checks a file push follows (--file).
func checkReadable(r *report, name, path string) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.fail(name, "does not exist (push would wait for it)", "check the path")
	case err != nil:
		r.fail(name, err.Error(), "")
	case !fi.Mode().IsRegular():
		r.fail(name, "not a regular file but "+pipe.DescribeMode(fi.Mode()), "give the log file itself")
	default:
		if err := unix.Access(path, unix.R_OK); err != nil {
			r.fail(name, fmt.Sprintf("user %s cannot read it: %v", currentUser(), err), "add that user to the file's group (e.g. adm)")
			return
		}
		r.ok(name, "a regular file, readable")
	}
}

// checkPrivateDir checks a directory that holds log lines (spool, state):
// writable by us, or creatable, and not readable by others.
func checkPrivateDir(r *report, name, dir string) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		parent := existingParent(dir)
		if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
			r.fail(name, fmt.Sprintf("does not exist, and cannot be created under %s: %v", parent, err),
				fmt.Sprintf("create it for user %s (mode 0700)", currentUser()))
			return
		}
		r.ok(name, "does not exist yet; it will be created with mode 0700")
		return
	}
	if err != nil {
		r.fail(name, err.Error(), "")
		return
	}
	if !fi.IsDir() {
		r.fail(name, "not a directory but "+pipe.DescribeMode(fi.Mode()), "give a directory")
		return
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		r.fail(name, fmt.Sprintf("user %s cannot write it: %v", currentUser(), err), "chown it to the user that runs sshlogfwd")
		return
	}
	if fi.Mode().Perm()&0o005 != 0 {
		r.fail(name, fmt.Sprintf("every user can read it (mode %04o): it holds log lines waiting to be sent", fi.Mode().Perm()), "chmod 700 "+dir)
		return
	}
	r.ok(name, "a directory, writable, mode %04o", fi.Mode().Perm())
}

// checkOutput checks a file pull appends to (or a cursor file).
func checkOutput(r *report, name, path string) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			r.fail(name, fmt.Sprintf("does not exist, and cannot be created in %s: %v", dir, err),
				fmt.Sprintf("create %s writable by user %s", dir, currentUser()))
			return
		}
		r.ok(name, "does not exist yet; it will be created")
		return
	}
	switch {
	case err != nil:
		r.fail(name, err.Error(), "")
	case !fi.Mode().IsRegular():
		r.fail(name, "not a regular file but "+pipe.DescribeMode(fi.Mode()), "give a file")
	case unix.Access(path, unix.W_OK) != nil:
		r.fail(name, fmt.Sprintf("user %s cannot write it", currentUser()), "chown it to the user that runs pull")
	case fi.Mode().Perm()&0o004 != 0:
		r.fail(name, fmt.Sprintf("every user can read it (mode %04o)", fi.Mode().Perm()), "chmod o-r "+path)
	default:
		r.ok(name, "a regular file, writable, mode %04o", fi.Mode().Perm())
	}
}

// ---- the far side ----

// checkExtra are ssh options check puts before the user's: whatever the
// configuration says, the probes never prompt and never trust an unknown
// host key (so a probe never adds one to known_hosts either).
var checkExtra = []string{"BatchMode=yes", "StrictHostKeyChecking=yes"}

// prober runs the far-side probes for one destination.
type prober struct {
	ctx    context.Context
	flags  *SSHFlags
	opts   CheckOptions
	dest   execssh.Dest
	config map[string][]string // ssh -G

	probe    probeResult // the restriction probe, run by connect
	probeSum string      // what it prints if the key is a shell
}

func newProber(ctx context.Context, f *SSHFlags, o CheckOptions, d execssh.Dest) *prober {
	return &prober{ctx: ctx, flags: f, opts: o, dest: d}
}

// argv builds an ssh command line with check's options first.
func (p *prober) argv(extra []string, remote string, ready bool) ([]string, error) {
	opts := p.flags.options()
	opts.Extra = append(append(append([]string(nil), extra...), checkExtra...), opts.Extra...)
	if ready {
		opts.ReadyMarker = readyMarker
	}
	return execssh.Argv(p.flags.SSH, opts, p.dest, remote)
}

// effectiveConfig runs ssh -G: the options push would really use.
func (p *prober) effectiveConfig() (map[string][]string, error) {
	opts := p.flags.options()
	argv, err := execssh.Argv(p.flags.SSH, opts, p.dest, "")
	if err != nil {
		return nil, err
	}
	argv = append([]string{argv[0], "-G"}, argv[1:]...)
	cmd := exec.CommandContext(p.ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ssh -G: %v %s", err, strings.TrimSpace(stderr.String()))
	}
	cfg := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok {
			cfg[k] = append(cfg[k], v)
		}
	}
	return cfg, nil
}

func (p *prober) first(key string) string {
	if v := p.config[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// connect checks the key files, the host key policy, and that ssh gets in
// in BatchMode with a pinned host key. The same connection carries the
// restriction probe (see restricted), whose result it keeps. It reports
// whether the other far-side probes can go on.
func (p *prober) connect(r *report, role string) bool {
	name := "ssh " + p.dest.Target()
	cfg, err := p.effectiveConfig()
	if err != nil {
		r.fail(name, err.Error(), "check --ssh, -F and -o")
		return false
	}
	p.config = cfg
	keys := []string{}
	if p.flags.Identity != "" {
		keys = append(keys, p.flags.Identity)
	} else {
		for _, k := range cfg["identityfile"] {
			k = expandHome(k)
			if fileExists(k) {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range keys {
		checkKeyFile(r, k, p.flags.SSH)
	}
	if v := p.first("stricthostkeychecking"); v == "false" || v == "no" || v == "off" {
		r.fail(name, "ssh is configured not to check the "+role+"'s host key (StrictHostKeyChecking=no): an impostor would receive the lines",
			"remove StrictHostKeyChecking=no from -o and the ssh configuration")
		return false
	}
	a, b := 100000000+rand.Int64N(800000000), 100000000+rand.Int64N(800000000)
	p.probeSum = strconv.FormatInt(a+b, 10)
	// A far side still running after the wait counts as restricted, so
	// the wait is doubled: a shell that is merely slow must not pass.
	p.probe = p.run(p.probeArgv(nil, fmt.Sprintf("expr %d + %d", a, b)), runOptions{wait: p.opts.ProbeWait})
	res := p.probe
	switch {
	case res.startErr != nil:
		r.fail(name, res.startErr.Error(), "check --ssh")
		return false
	case !res.connected:
		problem, fix := p.explainSSHFailure(res, role)
		r.fail(name, problem, fix)
		return false
	}
	policy := map[string]string{
		"true":       "StrictHostKeyChecking yes",
		"ask":        "in BatchMode an unknown key is refused",
		"accept-new": "StrictHostKeyChecking accept-new: a changed key is refused",
	}[p.first("stricthostkeychecking")]
	r.ok(name, "connected to %s port %s in BatchMode; host key known and pinned (%s); key accepted",
		p.first("hostname"), p.first("port"), policy)
	return true
}

func (p *prober) probeArgv(extra []string, remote string) []string {
	argv, err := p.argv(extra, remote, true)
	if err != nil {
		return nil
	}
	return argv
}

// probeResult is what one ssh run gave.
type probeResult struct {
	startErr  error
	connected bool // ssh reported it was in (or could not tell and did not fail)
	exited    bool // the far side ended within the wait
	err       error
	stdout    []byte // first 64 KiB
	stderr    []string
}

// runOptions say what a probe sends and how long it waits.
type runOptions struct {
	stdin string // written once connected; then stdin is closed
	// onStdout, if set, reads standard output instead of collecting it;
	// stdin is closed only when it returns (serve ends when its input
	// does, and must first answer).
	onStdout func(io.Reader)
	wait     time.Duration // added to ProbeWait
}

// run runs ssh with argv and waits for it: until it connects or fails,
// then at most ProbeWait (plus o.wait) for it to end; a child still
// running then is stopped.
func (p *prober) run(argv []string, o runOptions) probeResult {
	var res probeResult
	if argv == nil {
		res.startErr = errors.New("invalid ssh command line")
		return res
	}
	c, err := execssh.Start(execssh.StartOptions{
		Argv: argv, Name: "ssh[" + p.dest.Target() + "]", WantStdout: true,
		ReadyMarker: readyMarker, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		res.startErr = err
		return res
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		if o.onStdout != nil {
			o.onStdout(c.Stdout)
			c.CloseStdin()
		} else {
			res.stdout, _ = io.ReadAll(io.LimitReader(c.Stdout, 64<<10))
		}
		io.Copy(io.Discard, c.Stdout)
	}()
	// ConnectTimeout bounds the connection; this bounds everything else
	// that can happen before ssh says it is in.
	connectWait := time.NewTimer(30 * time.Second)
	defer connectWait.Stop()
	select {
	case <-c.Ready():
		res.connected = true
	case <-c.Done():
	case <-connectWait.C:
	case <-p.ctx.Done():
	}
	if res.connected {
		if o.stdin != "" {
			io.WriteString(c.Stdin, o.stdin)
		}
		if o.onStdout == nil {
			c.CloseStdin()
		}
		t := time.NewTimer(p.opts.ProbeWait + o.wait)
		select {
		case <-c.Done():
			res.exited = true
		case <-t.C:
		case <-p.ctx.Done():
		}
		t.Stop()
	}
	if !res.exited {
		c.Kill()
	}
	<-readDone
	res.err = c.Err()
	res.stderr = c.StderrTail()
	if !(execssh.Options{ReadyMarker: readyMarker, Extra: p.flags.SSHOption}).ReadyGated() {
		// The user's LocalCommand replaced our marker: judge by the exit.
		var ee *execssh.ExitError
		res.connected = !(errors.As(res.err, &ee) && ee.SSHFailed())
	}
	return res
}

// explainSSHFailure turns ssh's complaint into a problem and a fix.
func (p *prober) explainSSHFailure(res probeResult, role string) (problem, fix string) {
	d := p.dest
	keyscan := "ssh-keyscan "
	if port := p.first("port"); port != "" && port != "22" {
		keyscan += "-p " + port + " "
	}
	if h := p.first("hostname"); h != "" {
		keyscan += h
	} else {
		keyscan += d.Host
	}
	all := strings.Join(res.stderr, " ")
	last := ""
	if n := len(res.stderr); n > 0 {
		last = res.stderr[n-1]
	}
	has := func(s string) bool { return strings.Contains(all, s) }
	switch {
	case has("IDENTIFICATION HAS CHANGED") || has("has changed and you have requested strict checking"):
		return "the " + role + "'s host key has CHANGED since it was pinned: it was reinstalled, or someone is intercepting the connection",
			"ask the " + role + "'s administrator for its key fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub, on its console); only if it matches, remove the old key (ssh-keygen -R " + d.Host + ") and add the new one"
	case has("host key is known") || has("Host key verification failed"):
		return "the " + role + "'s host key is not known, and the forwarder never accepts an unknown one",
			"get its fingerprint from the " + role + "'s console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), fetch it with " + keyscan + ", compare, and add it to known_hosts (never StrictHostKeyChecking=no)"
	case has("UNPROTECTED PRIVATE KEY") || has("bad permissions"):
		return "ssh ignored the private key because others can read it", "chmod 600 the key file"
	case has("Permission denied"):
		return "the " + role + " refused the key (" + last + ")",
			"install the line printed by 'sshlogfwd authorized-key' in the receiving account's authorized_keys, and make sure its from= matches this host's address"
	case has("Could not resolve hostname"):
		return "unknown host name (" + last + ")", "check the host name or the ~/.ssh/config alias"
	case has("Connection refused") || has("timed out") || has("No route to host") || has("Network is unreachable"):
		return "cannot reach the " + role + " (" + last + ")", "check the address, the port and the firewall"
	case has("passphrase"):
		return "the key has a passphrase (" + last + ")", "use a dedicated key without passphrase"
	}
	if last == "" {
		last = fmt.Sprint(res.err)
	}
	return "ssh did not connect (" + last + ")", "run the same ssh by hand with -v to see why"
}

// restricted reports the restriction probe that connect ran: it asked
// the far side to run a harmless command that prints a number appearing
// nowhere in the request, the sum of two random numbers computed by expr (a
// program, so it works from any login shell). If the sum comes back, the
// key runs whatever the client asks: it is a shell.
//
// Standard input was empty, so whatever the far side ran instead read
// nothing: a forced cat >> FILE appends nothing and exits 0; receive and
// serve refuse the request (it is not theirs) and exit non-zero; tail -F
// sends nothing new within the wait and is stopped. None of them leaves a
// trace in the log file.
func (p *prober) restricted(r *report, role, mode, path string) {
	name := "restricted key"
	res := p.probe
	for _, line := range strings.Split(string(res.stdout), "\n") {
		if strings.TrimSpace(line) == p.probeSum {
			r.fail(name, "this key gives a shell on the "+role+": the far side ran a command of our choosing, so anyone who steals the key can run anything there",
				fmt.Sprintf("on the %s, replace the key's line in authorized_keys with the one printed by: sshlogfwd authorized-key %s --from <this host's address> --key <key>.pub %s",
					role, mode, forcedcmd.ShellQuote(path)))
			return
		}
	}
	// An unrestricted key whose far side lacks expr, or whose shell
	// cannot run it, says so: that is no proof of a forced command.
	stderr := strings.Join(res.stderr, " ")
	if strings.Contains(stderr, "expr") && !strings.Contains(stderr, "refusing request") {
		r.fail(name, "the far side seems to run commands of the client's choosing: it tried to run our probe command and failed ("+res.stderr[len(res.stderr)-1]+")",
			fmt.Sprintf("on the %s, make sure the key's line has a forced command: sshlogfwd authorized-key %s --from <this host's address> --key <key>.pub %s",
				role, mode, forcedcmd.ShellQuote(path)))
		return
	}
	how := "it ended with status 0 without running it"
	var ee *execssh.ExitError
	switch {
	case !res.exited:
		how = "it kept running something else and was stopped"
	case errors.As(res.err, &ee):
		how = fmt.Sprintf("it refused with status %d", ee.Code())
		if n := len(res.stderr); n > 0 {
			how += ": " + res.stderr[n-1]
		}
	}
	r.ok(name, "the far side did not run our probe command; a forced command is in effect (%s)", how)
}

// forwarding asks for a TCP forwarding to port 1 of the far side's
// loopback (nothing listens there, and if the key allows forwarding the
// far sshd's connect is merely refused). sshd says "administratively
// prohibited" when the key or its configuration forbids forwarding.
func (p *prober) forwarding(r *report) {
	name := "forwarding"
	argv, err := p.argv([]string{"LogLevel=INFO"}, "", false)
	if err != nil {
		r.fail(name, err.Error(), "")
		return
	}
	// -W instead of a remote command: ssh forwards its stdio to the port.
	argv = append(argv[:len(argv)-2:len(argv)-2], "-W", "127.0.0.1:1", "--", argv[len(argv)-1])
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stdin = strings.NewReader("")
	cmd.Stderr = &stderr
	err = cmd.Run()
	out := stderr.String()
	switch {
	case strings.Contains(out, "administratively prohibited"):
		r.ok(name, "the far side refuses port forwarding with this key")
	case err == nil || strings.Contains(out, "connect failed") || strings.Contains(out, "open failed"):
		r.fail(name, "this key may open tunnels through the far side (port forwarding is allowed): a thief could reach services on its network",
			"add restrict at the start of the key's line in authorized_keys (the line printed by sshlogfwd authorized-key has it)")
	default:
		r.fail(name, "could not tell whether port forwarding is refused: "+strings.TrimSpace(out), "")
	}
}

// append sends one clearly marked line with push's own remote command and
// expects the far side to take it and exit 0 when its input ends.
func (p *prober) append(r *report, remote string) {
	name := "append"
	line := fmt.Sprintf("%s %s sshlogfwd: check: test line from 'sshlogfwd check' (probe %x); not a log message\n",
		time.Now().Format(time.RFC3339), hostname(), rand.Uint32())
	res := p.run(p.probeArgv(nil, remote), runOptions{stdin: line, wait: 5 * time.Second})
	var ee *execssh.ExitError
	switch {
	case !res.connected:
		problem, _ := p.explainSSHFailure(res, "log host")
		r.fail(name, "not checked: "+problem, "see the ssh line above")
	case !res.exited:
		r.fail(name, "the far side did not finish when its input ended: the key's forced command is not cat >> FILE (a tail or serve key for pull?)",
			"use the line printed by 'sshlogfwd authorized-key push' for this key")
	case errors.As(res.err, &ee):
		problem := fmt.Sprintf("the far side refused the line: status %d, %s", ee.Code(), execssh.ExitReason(ee.Err))
		if n := len(res.stderr); n > 0 {
			problem += " (" + res.stderr[n-1] + ")"
		}
		fix := "check the forced command in authorized_keys"
		switch stderr := strings.Join(res.stderr, " "); {
		case strings.Contains(stderr, "accepts only: sshlogfwd receive"):
			fix = "the key's forced command is sshlogfwd receive: give --reliable"
		case strings.Contains(stderr, "accepts only: sshlogfwd serve"):
			fix = "this key is for pull (sshlogfwd serve), not push: use the line printed by 'sshlogfwd authorized-key push'"
		case ee.Code() == 1, ee.Code() == 2:
			fix = "make sure the file's directory exists on the log host and the receiving account may write the file"
		case ee.Code() == 127:
			fix = "the forced command's program is not installed on the log host"
		}
		r.fail(name, problem, fix)
	case res.err != nil:
		r.fail(name, res.err.Error(), "")
	default:
		r.ok(name, "the far side accepted one line marked 'sshlogfwd: check: test line' (it is in the file the forced command names)")
	}
}

// receive opens a reliable push session the way push does, with a fresh
// random stream id, and reads the receiver's hello (where the stream it
// holds stands). It sends no data: bytes of a stream that is not push's
// own would start a new stream in the file. A receiver that is serving
// push's stream right now refuses another one as busy, which also proves
// it is there. Then the input ends and receive exits; nothing is written.
func (p *prober) receive(r *report, remote string) {
	name := "receive"
	type answer struct {
		h   ackproto.ReceiverHello
		err error
	}
	got := make(chan answer, 1)
	hello := ackproto.AppendHello(nil, ackproto.Hello{Version: ackproto.Version, Stream: ackproto.NewStreamID()})
	res := p.run(p.probeArgv(nil, remote), runOptions{stdin: string(hello), wait: 2 * time.Second, onStdout: func(out io.Reader) {
		h, err := ackproto.NewReplyDecoder(out).Hello()
		got <- answer{h, err}
	}})
	if !res.connected {
		problem, _ := p.explainSSHFailure(res, "log host")
		r.fail(name, "not checked: "+problem, "see the ssh line above")
		return
	}
	var a answer
	select {
	case a = <-got:
	default:
		a.err = errors.New("no answer")
	}
	var re *ackproto.RemoteError
	switch {
	case a.err == nil && a.h.Stream == "":
		r.ok(name, "receive answered (protocol version %d); the file holds no stream yet", a.h.Version)
	case a.err == nil:
		r.ok(name, "receive answered (protocol version %d); the file holds stream %s up to offset %d", a.h.Version, a.h.Stream, a.h.Offset)
	case errors.As(a.err, &re) && re.Code == ackproto.CodeBusy:
		r.ok(name, "receive answered: busy with push's own stream (push is connected now)")
	case errors.As(a.err, &re):
		r.fail(name, "receive refused: "+re.Error(), "see the log host's side; the file's directory must exist and be writable by the receiving account")
	case errors.Is(a.err, ackproto.ErrProtocol):
		r.fail(name, "the far side does not speak the reliable protocol: "+a.err.Error(),
			"make the key's forced command sshlogfwd receive PATH (sshlogfwd authorized-key push --reliable prints it), or drop --reliable")
	default:
		stderr := ""
		if n := len(res.stderr); n > 0 {
			stderr = " (" + res.stderr[n-1] + ")"
		}
		r.fail(name, "receive did not answer: "+a.err.Error()+stderr,
			"check that sshlogfwd is installed on the log host at the path in the forced command, and that the forced command is sshlogfwd receive PATH")
	}
}

// serve asks the far side for the file as pull would on its first run and
// reads the stream's first frame: serve says where it starts. It reads
// nothing of the file (the start is its end) and is stopped right after.
func (p *prober) serve(r *report, remote, path string) {
	name := "serve"
	type first struct {
		f   stream.Frame
		err error
	}
	got := make(chan first, 1)
	res := p.run(p.probeArgv(nil, remote), runOptions{wait: 2 * time.Second, onStdout: func(out io.Reader) {
		f, err := stream.NewDecoder(out).Next()
		got <- first{f, err}
	}})
	if !res.connected {
		problem, _ := p.explainSSHFailure(res, "watched host")
		r.fail(name, "not checked: "+problem, "see the ssh line above")
		return
	}
	var fr first
	select {
	case fr = <-got:
	default:
		fr.err = errors.New("no answer")
	}
	stderr := ""
	if n := len(res.stderr); n > 0 {
		stderr = " (" + res.stderr[n-1] + ")"
	}
	switch {
	case errors.Is(fr.err, stream.ErrNotStream):
		r.fail(name, "the far side did not answer with the sshlogfwd stream: its forced command is something else (tail -f?)",
			"give --compat to pull with tail, or install sshlogfwd there and use the line printed by 'sshlogfwd authorized-key pull'")
	case fr.err != nil:
		r.fail(name, "serve did not answer: "+fr.err.Error()+stderr,
			"check that sshlogfwd is installed on the watched host at the path in the forced command, and that the account may read "+path)
	case fr.f.Type != stream.Start:
		r.fail(name, "serve's first frame was "+fr.f.Type.String()+", not start", "")
	case fr.f.How == stream.HowWait:
		r.fail(name, path+" does not exist on the watched host (serve waits for it)", "check the path; if the file appears later, ignore this")
	default:
		r.ok(name, "serve answered: %s would be followed from %s (%s)", path, fr.f.Cursor.String(), fr.f.How)
	}
}

// tail runs pull's compatible command for a moment: tail -F prints nothing
// new (-n 0) and keeps running; its complaints arrive on stderr.
func (p *prober) tail(r *report, remote, path string) {
	name := "tail"
	// Still running after the wait counts as following: wait twice as
	// long, so that a far side that is merely slow to refuse is not taken
	// for tail.
	res := p.run(p.probeArgv(nil, remote), runOptions{wait: p.opts.ProbeWait})
	if !res.connected {
		problem, _ := p.explainSSHFailure(res, "watched host")
		r.fail(name, "not checked: "+problem, "see the ssh line above")
		return
	}
	if bytes.HasPrefix(res.stdout, []byte("sshlogfwd-stream ")) {
		r.fail(name, "the far side answered with sshlogfwd serve's stream, not tail's output", "drop --compat")
		return
	}
	complaint := ""
	for _, l := range res.stderr {
		if strings.Contains(l, "cannot open") || strings.Contains(l, "No such file") || strings.Contains(l, "ermission denied") || strings.Contains(l, "inaccessible") {
			complaint = l
		}
	}
	switch {
	case complaint != "":
		r.fail(name, "the far side cannot read the file: "+complaint, "check the path and that the account may read "+path)
	case res.exited:
		msg := "status 0"
		var ee *execssh.ExitError
		if errors.As(res.err, &ee) {
			msg = fmt.Sprintf("status %d", ee.Code())
		}
		if n := len(res.stderr); n > 0 {
			msg += " (" + res.stderr[n-1] + ")"
		}
		r.fail(name, "the far side ended at once instead of following the file: "+msg,
			"the key's forced command should be tail -F "+path+" (or drop --compat if it is sshlogfwd serve)")
	default:
		r.ok(name, "the far side is following a file (stopped after %s; which file, its forced command decides)", 2*p.opts.ProbeWait)
	}
}

// ---- small helpers ----

func fileOwner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func currentUser() string { return userName(os.Getuid()) }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

func existingParent(p string) string {
	for {
		parent := filepath.Dir(p)
		if fileExists(parent) || parent == p {
			return parent
		}
		p = parent
	}
}
