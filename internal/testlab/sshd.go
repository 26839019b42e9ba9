package testlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	sshdPath = "/usr/sbin/sshd"
	sshPath  = "/usr/bin/ssh"

	// sshdStartTimeout bounds the wait for "Server listening on".
	sshdStartTimeout = 10 * time.Second
	// stopGrace is how long a daemon gets after SIGTERM before SIGKILL.
	stopGrace = 3 * time.Second
	// sshTimeout bounds SSHD.SSH so that a hung client fails the test
	// instead of the whole test binary.
	sshTimeout = 60 * time.Second
)

// SSHDOptions configures StartSSHD.
type SSHDOptions struct {
	// AuthorizedKeys are the full lines of the authorized_keys file. Nothing
	// is added for the client key: pass SSHD.ClientPub through
	// RestrictedKeyLine, or use SSHD.SetAuthorizedKeys once the key exists.
	AuthorizedKeys []string
	// NetNS, when set, runs sshd inside that network namespace
	// (ip netns exec). The port is then not checked for being free, and
	// SSH still runs the client in the test's own namespace.
	NetNS string
	// ListenAddress is the address sshd listens on; 127.0.0.1 by default.
	ListenAddress string
	// Extra are sshd_config lines. They are written before the defaults
	// so that they win (sshd takes the first value of a keyword), except
	// that a Match line and everything after it goes at the end. Do not set
	// Port, ListenAddress or HostKey here: those keywords accumulate.
	Extra []string
	// KeepHome keeps root's real HOME in sessions. By default sessions get
	// HOME=Dir/home (empty): Debian's bash sources ~/.bashrc for every
	// command sshd runs, and root's .bashrc on these machines adds
	// 0.1-0.3 s to each connection.
	KeepHome bool
	// AcceptEnv are the patterns of client environment variables sshd
	// passes to sessions (sshd_config AcceptEnv), e.g. "SSHLOGFWD_*": a
	// log host whose administrator lets clients set variables, which a
	// forced command must not take orders from.
	AcceptEnv []string
}

// SSHD is a private OpenSSH server started by StartSSHD. Its fields are
// read-only.
type SSHD struct {
	Dir                string // per-test directory holding everything below
	Addr               string // listen address
	Port               int
	ClientKey          string // private key of the generated client key
	ClientPub          string // its public key line
	KnownHosts         string // known_hosts pinning the host key as [Addr]:Port
	SSHConfig          string // ssh_config defining Alias; use with ssh -F
	Alias              string // "loghost"
	HostKey            string // the server's private host key
	HostPub            string // its public key line
	Config             string // sshd_config
	AuthorizedKeysFile string
	Home               string // HOME of sessions unless KeepHome

	owner testing.TB
	opts  SSHDOptions
	log   *logBuf

	mu      sync.Mutex
	run     *daemonRun  // the running listener, nil when stopped
	orphans []procStat  // sessions left behind by StopListener
	readers []*pipeRead // stderr readers of every listener started
}

// daemonRun is one started daemon process.
type daemonRun struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once Wait returned
	waitErr error         // valid after exited is closed
}

func (r *daemonRun) pid() int { return r.cmd.Process.Pid }

func (r *daemonRun) hasExited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// pipeRead is the read end of a daemon's output pipe and its reader.
type pipeRead struct {
	f    *os.File
	done chan struct{}
}

// StartSSHD starts a real sshd on a free port for the duration of the test,
// with a fresh host key, a fresh client key and a client configuration
// (SSHConfig, Alias) that trusts exactly that host key. It fails the test if
// sshd does not report listening within 10 s.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	RequireBinary(t, sshdPath)
	RequireBinary(t, sshPath)
	if opts.ListenAddress == "" {
		opts.ListenAddress = "127.0.0.1"
	}
	dir := t.TempDir()
	s := &SSHD{
		Dir:                dir,
		Addr:               opts.ListenAddress,
		Alias:              "loghost",
		KnownHosts:         filepath.Join(dir, "known_hosts"),
		SSHConfig:          filepath.Join(dir, "ssh_config"),
		Config:             filepath.Join(dir, "sshd_config"),
		AuthorizedKeysFile: filepath.Join(dir, "authorized_keys"),
		Home:               filepath.Join(dir, "home"),
		owner:              t,
		opts:               opts,
		log:                newLogBuf(t, "sshd: "),
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("start sshd: privilege separation directory: %v", err)
	}
	if err := os.Mkdir(s.Home, 0o755); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	s.HostKey, s.HostPub = KeyPair(t, dir, "ssh_host_ed25519_key")
	if err := os.Chmod(s.HostKey, 0o600); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	s.ClientKey, s.ClientPub = KeyPair(t, dir, "client_ed25519")
	s.SetAuthorizedKeys(t, opts.AuthorizedKeys...)

	t.Cleanup(s.cleanup)

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := s.freePort()
		if err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		inUse, err := s.launch(port)
		if err == nil {
			return s
		}
		lastErr = err
		if !inUse {
			break
		}
	}
	t.Fatalf("start sshd: %v\nsshd log:\n%s", lastErr, s.Log())
	return nil
}

// freePort picks a port the kernel reports free on Addr; sshd may still
// lose a race for it, which launch reports.
func (s *SSHD) freePort() (int, error) {
	if s.opts.NetNS != "" {
		// Another namespace's ports cannot be probed from here; a fresh
		// namespace has them all free anyway. Probe loopback for a random
		// unprivileged port.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick port: %w", err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(s.Addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick port on %s: %w", s.Addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeFiles writes sshd_config, known_hosts and ssh_config for port.
func (s *SSHD) writeFiles(port int) error {
	var pre, post []string
	for i, l := range s.opts.Extra {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "Match") {
			post = s.opts.Extra[i:]
			break
		}
		pre = append(pre, l)
	}
	var c strings.Builder
	c.WriteString("# written by sshlogfwd internal/testlab\n")
	for _, l := range pre {
		c.WriteString(l + "\n")
	}
	fmt.Fprintf(&c, "Port %d\n", port)
	fmt.Fprintf(&c, "ListenAddress %s\n", s.Addr)
	fmt.Fprintf(&c, "HostKey %s\n", s.HostKey)
	fmt.Fprintf(&c, "PidFile %s\n", filepath.Join(s.Dir, "sshd.pid"))
	fmt.Fprintf(&c, "AuthorizedKeysFile %s\n", s.AuthorizedKeysFile)
	c.WriteString(`StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
MaxStartups 200
MaxSessions 50
UsePAM no
LogLevel VERBOSE
# Test only: the default sntrup761x25519 exchange costs ~120 ms per connection here.
KexAlgorithms curve25519-sha256
`)
	if !s.opts.KeepHome {
		fmt.Fprintf(&c, "SetEnv HOME=%s\n", s.Home)
	}
	if len(s.opts.AcceptEnv) > 0 {
		fmt.Fprintf(&c, "AcceptEnv %s\n", strings.Join(s.opts.AcceptEnv, " "))
	}
	for _, l := range post {
		c.WriteString(l + "\n")
	}
	if err := os.WriteFile(s.Config, []byte(c.String()), 0o600); err != nil {
		return err
	}

	hostPort := "[" + s.Addr + "]:" + strconv.Itoa(port)
	if port == 22 {
		hostPort = s.Addr
	}
	keyType, keyData, _ := strings.Cut(s.HostPub, " ")
	keyData, _, _ = strings.Cut(keyData, " ")
	kh := fmt.Sprintf("%s %s %s\n", hostPort, keyType, keyData)
	if err := os.WriteFile(s.KnownHosts, []byte(kh), 0o600); err != nil {
		return err
	}

	cfg := fmt.Sprintf(`Host %s
	HostName %s
	Port %d
	User root
	IdentityFile %s
	IdentitiesOnly yes
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	LogLevel ERROR
`, s.Alias, s.Addr, port, s.ClientKey, s.KnownHosts)
	return os.WriteFile(s.SSHConfig, []byte(cfg), 0o600)
}

// launch starts sshd on port and waits until it listens. inUse reports that
// it failed because the port was taken.
func (s *SSHD) launch(port int) (inUse bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return false, errors.New("sshd is already running")
	}
	if err := s.writeFiles(port); err != nil {
		return false, err
	}
	argv := []string{sshdPath, "-D", "-e", "-f", s.Config}
	if s.opts.NetNS != "" {
		// ip execs sshd in place, so the pid stays sshd's.
		argv = append([]string{"/usr/sbin/ip", "netns", "exec", s.opts.NetNS}, argv...)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return false, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = w
	cmd.Stderr = w
	// Own process group: a Ctrl-C at the terminal reaches the test, which
	// then stops sshd in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	listening := s.log.watch("Server listening on")
	addrInUse := s.log.watch("Address already in use")
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return false, err
	}
	w.Close()
	pr := &pipeRead{f: r, done: make(chan struct{})}
	s.readers = append(s.readers, pr)
	go s.log.readFrom(r, pr.done)
	run := &daemonRun{cmd: cmd, exited: make(chan struct{})}
	go func() {
		run.waitErr = cmd.Wait()
		close(run.exited)
	}()

	timer := time.NewTimer(sshdStartTimeout)
	defer timer.Stop()
	select {
	case <-listening:
		s.Port = port
		s.run = run
		return false, nil
	case <-run.exited:
		// Let the reader catch up with the last lines before judging them.
		select {
		case <-pr.done:
		case <-time.After(time.Second):
		}
		select {
		case <-addrInUse:
			inUse = true
		default:
		}
		return inUse, fmt.Errorf("sshd on port %d exited before listening: %v", port, run.waitErr)
	case <-timer.C:
		stopProcess(run)
		return false, fmt.Errorf("sshd on port %d not listening after %v", port, sshdStartTimeout)
	}
}

// Start starts sshd again on the same port after Stop or StopListener,
// retrying for a few seconds while the port is still taken.
func (s *SSHD) Start(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		inUse, err := s.launch(s.Port)
		if err == nil {
			return
		}
		if !inUse || time.Now().After(deadline) {
			t.Fatalf("restart sshd: %v\nsshd log:\n%s", err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop simulates the log host going down: it kills every session sshd has
// running (sshd's per-connection processes call setsid, so they are found
// through /proc, not by process group), so established connections break,
// then stops the listener. Dir, port and keys stay, for Start.
func (s *SSHD) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func (s *SSHD) stop() error {
	s.mu.Lock()
	run, orphans := s.run, s.orphans
	s.run, s.orphans = nil, nil
	s.mu.Unlock()

	listener := 0
	if run != nil && !run.hasExited() {
		// A stopped listener accepts and forks nothing new while its
		// sessions are collected.
		listener = run.pid()
		syscall.Kill(listener, syscall.SIGSTOP)
	}
	victims := freezeTree(listener, orphans)
	for _, v := range victims {
		if alive(v) {
			syscall.Kill(v.pid, syscall.SIGKILL)
		}
	}
	var errs []error
	if run != nil {
		syscall.Kill(run.pid(), syscall.SIGTERM)
		syscall.Kill(run.pid(), syscall.SIGCONT)
		if err := stopProcess(run); err != nil {
			errs = append(errs, err)
		}
	}
	if !Poll(stopGrace, func() bool { return !anyAlive(victims) }) {
		errs = append(errs, fmt.Errorf("stop sshd: sessions still alive after SIGKILL: %v", aliveDesc(victims)))
	}
	return errors.Join(errs...)
}

// StopListener stops only the listening sshd: new connections are refused,
// but established sessions go on (as with `systemctl stop ssh`). Stop, Start
// or the test's cleanup later kill those sessions.
func (s *SSHD) StopListener(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	run := s.run
	s.run = nil
	s.mu.Unlock()
	if run == nil {
		return
	}
	// Record the sessions before they are orphaned and lose their parent.
	syscall.Kill(run.pid(), syscall.SIGSTOP)
	tree := descendants(run.pid())
	s.mu.Lock()
	s.orphans = append(s.orphans, tree...)
	s.mu.Unlock()
	syscall.Kill(run.pid(), syscall.SIGTERM)
	syscall.Kill(run.pid(), syscall.SIGCONT)
	if err := stopProcess(run); err != nil {
		t.Fatal(err)
	}
}

// cleanup stops everything, waits briefly for the last output and then
// stops forwarding to t.Log, which must not be used after the test ends.
func (s *SSHD) cleanup() {
	if err := s.stop(); err != nil {
		s.owner.Error(err)
	}
	s.mu.Lock()
	readers := s.readers
	s.mu.Unlock()
	drainReaders(readers)
	s.log.stop()
}

// drainReaders waits up to a second for each reader to reach EOF, then
// closes the pipe so that a reader kept alive by a stray process ends too.
func drainReaders(readers []*pipeRead) {
	deadline := time.After(time.Second)
	for _, pr := range readers {
		select {
		case <-pr.done:
		case <-deadline:
		}
		pr.f.Close()
	}
}

// stopProcess waits for run to exit after a SIGTERM the caller sent (it
// sends one too), with SIGKILL after stopGrace.
func stopProcess(run *daemonRun) error {
	if run.hasExited() {
		return nil
	}
	run.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-run.exited:
		return nil
	case <-time.After(stopGrace):
	}
	run.cmd.Process.Kill()
	select {
	case <-run.exited:
		return fmt.Errorf("stop %s: needed SIGKILL after %v", run.cmd.Path, stopGrace)
	case <-time.After(stopGrace):
		return fmt.Errorf("stop %s (pid %d): still running after SIGKILL", run.cmd.Path, run.pid())
	}
}

// freezeTree SIGSTOPs the live processes in orphans and every process below
// them or below listener (0 for none), rescanning until no new ones appear
// (a stopped process cannot fork), and returns them all. The listener itself
// is not among them.
func freezeTree(listener int, orphans []procStat) []procStat {
	seen := map[int]bool{listener: true}
	var all []procStat
	add := func(st procStat) bool {
		if seen[st.pid] || !alive(st) {
			return false
		}
		seen[st.pid] = true
		all = append(all, st)
		syscall.Kill(st.pid, syscall.SIGSTOP)
		return true
	}
	for _, o := range orphans {
		add(o)
	}
	for round := 0; round < 20; round++ {
		grew := false
		parents := []int{listener}
		for _, p := range all {
			parents = append(parents, p.pid)
		}
		for _, p := range parents {
			if p == 0 {
				continue
			}
			for _, d := range descendants(p) {
				if add(d) {
					grew = true
				}
			}
		}
		if !grew {
			break
		}
	}
	return all
}

func anyAlive(ps []procStat) bool {
	for _, p := range ps {
		if alive(p) {
			return true
		}
	}
	return false
}

func aliveDesc(ps []procStat) string {
	var out []string
	for _, p := range ps {
		if alive(p) {
			out = append(out, fmt.Sprintf("%d(%s)", p.pid, p.comm))
		}
	}
	return strings.Join(out, " ")
}

// SetAuthorizedKeys replaces the authorized_keys file; sshd reads it for
// every connection, so no restart is needed.
func (s *SSHD) SetAuthorizedKeys(t testing.TB, lines ...string) {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	// Rename into place so that a connecting client never sees half a file.
	tmp := s.AuthorizedKeysFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("write authorized_keys: %v", err)
	}
	if err := os.Rename(tmp, s.AuthorizedKeysFile); err != nil {
		t.Fatalf("write authorized_keys: %v", err)
	}
}

// Command returns an unstarted `ssh -F SSHConfig -- loghost args...`, for
// tests that need its stdin or want to start it in the background. The "--"
// keeps args from being read as ssh options.
func (s *SSHD) Command(args ...string) *exec.Cmd {
	return exec.Command(sshPath, s.sshArgs(args)...)
}

func (s *SSHD) sshArgs(args []string) []string {
	return append([]string{"-F", s.SSHConfig, "--", s.Alias}, args...)
}

// SSH runs `ssh -F SSHConfig -- loghost args...` with no stdin and returns
// its combined output. A run longer than a minute is killed.
func (s *SSHD) SSH(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sshTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshPath, s.sshArgs(args)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("ssh %s: killed after %v: %w", strings.Join(args, " "), sshTimeout, err)
	}
	return out.Bytes(), err
}

// PID returns the listener's pid, or 0 while it is stopped.
func (s *SSHD) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return 0
	}
	return s.run.pid()
}

// Log returns sshd's recent output (LogLevel VERBOSE: connections,
// accepted and refused keys), one line each, for assertions.
func (s *SSHD) Log() string { return s.log.String() }
