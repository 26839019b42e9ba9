package testlab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	rsyslogdPath = "/usr/sbin/rsyslogd"
	loggerPath   = "/usr/bin/logger"

	rsyslogStartTimeout = 10 * time.Second
)

// Rsyslog is a private rsyslogd started by StartRsyslog. It never touches
// the system's syslog: it has no /dev/log socket and loads no kernel log
// input, only its own socket.
type Rsyslog struct {
	Dir    string // working directory; put the files the rules write here
	Socket string // its imuxsock socket, for logger -u
	Conf   string // rsyslog.conf as written

	t    testing.TB
	log  *logBuf
	run  *daemonRun
	pipe *pipeRead
}

// StartRsyslog runs `rsyslogd -n` with a configuration that reads only
// Socket, followed by rules (RainerScript, e.g. an ompipe or omfile action),
// and waits until the socket exists. rsyslogd's own start-up message
// ("[origin software="rsyslogd" …] start") goes through the rules like any
// other, so a catch-all rule sees it.
func StartRsyslog(t testing.TB, rules string) *Rsyslog {
	t.Helper()
	RequireBinary(t, rsyslogdPath)
	dir := t.TempDir()
	// A unix socket path must fit in 108 bytes; long test names make long
	// temporary directories.
	if len(dir) > 80 {
		var err error
		if dir, err = os.MkdirTemp("", "rsyslog-"); err != nil {
			t.Fatalf("start rsyslogd: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	r := &Rsyslog{
		Dir:    dir,
		Socket: filepath.Join(dir, "log.sock"),
		Conf:   filepath.Join(dir, "rsyslog.conf"),
		t:      t,
		log:    newLogBuf(t, "rsyslogd: "),
	}
	conf := fmt.Sprintf(`# written by sshlogfwd internal/testlab
global(workDirectory=%q)
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%q RateLimit.Interval="0")
%s
`, dir, r.Socket, rules)
	if err := os.WriteFile(r.Conf, []byte(conf), 0o600); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}

	rd, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	cmd := exec.Command(rsyslogdPath, "-n", "-f", r.Conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout = w
	cmd.Stderr = w
	// Own process group, so that it can be stopped as a whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		rd.Close()
		w.Close()
		t.Fatalf("start rsyslogd: %v", err)
	}
	w.Close()
	r.pipe = &pipeRead{f: rd, done: make(chan struct{})}
	go r.log.readFrom(rd, r.pipe.done)
	r.run = &daemonRun{cmd: cmd, exited: make(chan struct{})}
	go func() {
		r.run.waitErr = cmd.Wait()
		close(r.run.exited)
	}()
	t.Cleanup(r.cleanup)

	ok := Poll(rsyslogStartTimeout, func() bool {
		if r.run.hasExited() {
			return true
		}
		_, err := os.Stat(r.Socket)
		return err == nil
	})
	if r.run.hasExited() || !ok {
		check, _ := exec.Command(rsyslogdPath, "-N1", "-f", r.Conf).CombinedOutput()
		t.Fatalf("start rsyslogd: no socket %s after %v (exited: %v, %v)\nlog:\n%s\nrsyslogd -N1:\n%s",
			r.Socket, rsyslogStartTimeout, r.run.hasExited(), r.run.waitErr, r.Log(), check)
	}
	return r
}

func (r *Rsyslog) cleanup() {
	if !r.run.hasExited() {
		syscall.Kill(-r.run.pid(), syscall.SIGTERM)
		select {
		case <-r.run.exited:
		case <-time.After(stopGrace):
			syscall.Kill(-r.run.pid(), syscall.SIGKILL)
			<-r.run.exited
			r.t.Errorf("stop rsyslogd: needed SIGKILL after %v", stopGrace)
		}
	}
	drainReaders([]*pipeRead{r.pipe})
	r.log.stop()
}

// Send logs msgs, one message each, with the given tag and priority
// ("user.info", "local0.err", ...) through a single
// `logger -u Socket -t tag -p priority` reading them from stdin. A message
// containing a newline becomes several messages, and logger cuts messages at
// 1 KiB by default.
func (r *Rsyslog) Send(t testing.TB, tag, priority string, msgs ...string) {
	t.Helper()
	RequireBinary(t, loggerPath)
	cmd := exec.Command(loggerPath, "-u", r.Socket, "-t", tag, "-p", priority)
	var in bytes.Buffer
	for _, m := range msgs {
		in.WriteString(m + "\n")
	}
	cmd.Stdin = &in
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("send %d messages to rsyslogd: logger: %v\n%s", len(msgs), err, out.Bytes())
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Logf("logger: %s", s)
	}
}

// HUP sends SIGHUP, as log rotation does: rsyslogd closes its output files
// and pipes and reopens them on the next message.
func (r *Rsyslog) HUP(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(r.run.pid(), syscall.SIGHUP); err != nil {
		t.Fatalf("hup rsyslogd: %v", err)
	}
}

// PID returns rsyslogd's pid.
func (r *Rsyslog) PID() int { return r.run.pid() }

// Log returns rsyslogd's recent output to stderr.
func (r *Rsyslog) Log() string { return r.log.String() }
