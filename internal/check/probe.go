package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
)

// The far side as the report names it.
const (
	roleLogHost     = "log host"     // push's destination
	roleWatchedHost = "watched host" // pull's source
)

// checkExtra are ssh options check puts before the user's: whatever the
// configuration says, the probes never prompt and never trust an unknown
// host key (so a probe never adds one to known_hosts either).
var checkExtra = []string{"BatchMode=yes", "StrictHostKeyChecking=yes"}

// connectBound bounds everything that can happen before ssh says it is in
// (ConnectTimeout bounds only the TCP connection), and the forwarding
// probe as a whole.
const connectBound = 30 * time.Second

// prober runs the far-side probes for one destination and reports each.
type prober struct {
	ctx  context.Context
	o    Options
	r    *report
	dest execssh.Dest
	role string  // roleLogHost or roleWatchedHost
	key  keyLine // the suggested authorized-key command repeats it

	config map[string][]string // ssh -G: the options ssh really uses

	probe    probeResult // the restriction probe, run by connect
	probeSum string      // what it prints if the key is a shell
}

func newProber(ctx context.Context, o Options, r *report, d execssh.Dest, role string, key keyLine) *prober {
	key.identity = o.SSH.Identity
	return &prober{ctx: ctx, o: o, r: r, dest: d, role: role, key: key}
}

// argv builds an ssh command line with extra and check's options first;
// ready asks ssh to announce its connection (Options.SSH.ReadyMarker).
func (p *prober) argv(extra []string, remote string, ready bool) ([]string, error) {
	opts := p.o.SSH
	opts.Extra = append(append(append([]string(nil), extra...), checkExtra...), opts.Extra...)
	if !ready {
		opts.ReadyMarker = ""
	}
	return execssh.Argv(p.o.SSHPath, opts, p.dest, remote)
}

// probeArgv is argv for a probe run by run: nil if it cannot be built
// (run reports that).
func (p *prober) probeArgv(remote string) []string {
	argv, err := p.argv(nil, remote, true)
	if err != nil {
		return nil
	}
	return argv
}

// effectiveConfig runs ssh -G: the options push would really use.
func (p *prober) effectiveConfig() (map[string][]string, error) {
	opts := p.o.SSH
	opts.ReadyMarker = ""
	argv, err := execssh.Argv(p.o.SSHPath, opts, p.dest, "")
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
		if k, v, ok := strings.Cut(line, " "); ok {
			cfg[k] = append(cfg[k], v)
		}
	}
	return cfg, nil
}

// first is the first value ssh -G gave for key.
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
func (p *prober) connect() bool {
	name := "ssh " + p.dest.Target()
	cfg, err := p.effectiveConfig()
	if err != nil {
		p.r.fail(name, err.Error(), "check --ssh, -F and -o")
		return false
	}
	p.config = cfg
	for _, k := range p.keyFiles() {
		checkKeyFile(p.r, k, p.o.SSHPath)
	}
	if v := p.first("stricthostkeychecking"); v == "false" || v == "no" || v == "off" {
		p.r.fail(name, "ssh is configured not to check the "+p.role+"'s host key (StrictHostKeyChecking=no): an impostor would receive the lines",
			"remove StrictHostKeyChecking=no from -o and the ssh configuration")
		return false
	}
	res := p.runRestrictionProbe()
	switch {
	case res.startErr != nil:
		p.r.fail(name, res.startErr.Error(), "check --ssh")
		return false
	case !res.connected:
		problem, fix := p.explainSSHFailure(res)
		p.r.fail(name, problem, fix)
		return false
	}
	policy := map[string]string{
		"true":       "StrictHostKeyChecking yes",
		"ask":        "in BatchMode an unknown key is refused",
		"accept-new": "StrictHostKeyChecking accept-new: a changed key is refused",
	}[p.first("stricthostkeychecking")]
	p.r.ok(name, "connected to %s port %s in BatchMode; host key known and pinned (%s); key accepted",
		p.first("hostname"), p.first("port"), policy)
	return true
}

// keyFiles are the private keys ssh would offer: -i, or the existing
// IdentityFile entries of the configuration.
func (p *prober) keyFiles() []string {
	if p.o.SSH.Identity != "" {
		return []string{p.o.SSH.Identity}
	}
	var keys []string
	for _, k := range p.config["identityfile"] {
		if k = expandHome(k); fileExists(k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// runRestrictionProbe asks the far side to add two random numbers with
// expr and keeps the result for restricted.
func (p *prober) runRestrictionProbe() probeResult {
	a, b := 100000000+rand.Int64N(800000000), 100000000+rand.Int64N(800000000)
	p.probeSum = strconv.FormatInt(a+b, 10)
	// A far side still running after the wait counts as restricted, so
	// the wait is doubled: a shell that is merely slow must not pass.
	p.probe = p.run(p.probeArgv(fmt.Sprintf("expr %d + %d", a, b)), runOptions{wait: p.o.ProbeWait})
	return p.probe
}

// probeResult is what one ssh run gave.
type probeResult struct {
	startErr  error
	connected bool // ssh reported it was in (or could not tell and did not fail)
	exited    bool // the far side ended within the wait
	err       error
	stdout    []byte // first 64 KiB, unless runOptions.onStdout read it
	stderr    []string
}

// exitCode is the far side's exit status, or -1 if it did not exit on
// its own with one.
func (res probeResult) exitCode() int {
	var ee *execssh.ExitError
	switch {
	case !res.exited:
		return -1
	case errors.As(res.err, &ee):
		return ee.Code()
	case res.err == nil:
		return 0
	}
	return -1
}

// lastStderr is ssh's last complaint, or "".
func (res probeResult) lastStderr() string {
	if n := len(res.stderr); n > 0 {
		return res.stderr[n-1]
	}
	return ""
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
	p.o.Logger.Debug("probe", "argv", argv)
	marker := ""
	if p.o.SSH.ReadyGated() {
		marker = p.o.SSH.ReadyMarker
	}
	c, err := execssh.Start(execssh.StartOptions{
		Argv: argv, Name: "ssh[" + p.dest.Target() + "]", WantStdout: true,
		// ssh's complaints end up in the report, not in our log.
		ReadyMarker: marker, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		res.startErr = err
		return res
	}
	// The child's input stays open after it ended (execssh keeps what it
	// never read countable); a probe that never got to close it does here.
	defer c.CloseStdin()
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
	res.connected, res.exited = p.await(c, o)
	if !res.exited {
		c.Kill()
	}
	<-readDone
	res.err = c.Err()
	res.stderr = c.StderrTail()
	if !p.o.SSH.ReadyGated() {
		// No marker (or the user's LocalCommand replaced ours): judge
		// by the exit.
		var ee *execssh.ExitError
		res.connected = !(errors.As(res.err, &ee) && ee.SSHFailed())
	}
	return res
}

// await waits for the child to connect, then feeds it o.stdin and waits
// for it to end. The connection bound stays armed until await returns, so
// that a test's fake clock sees two timers once the probe waits for the
// far side.
func (p *prober) await(c *execssh.Child, o runOptions) (connected, exited bool) {
	connectWait := p.o.Clock.NewTimer(connectBound)
	defer connectWait.Stop()
	select {
	case <-c.Ready():
		connected = true
	case <-c.Done():
		// It may have got in before it ended (AwaitReady tells, at once).
		connected = c.AwaitReady()
	case <-connectWait.C():
	case <-p.ctx.Done():
	}
	if !connected {
		return false, false
	}
	if o.stdin != "" {
		io.WriteString(c.Stdin, o.stdin)
	}
	if o.onStdout == nil {
		c.CloseStdin()
	}
	t := p.o.Clock.NewTimer(p.o.ProbeWait + o.wait)
	defer t.Stop()
	select {
	case <-c.Done():
		return true, true
	case <-t.C():
	case <-p.ctx.Done():
	}
	return true, false
}
