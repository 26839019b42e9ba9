package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// exited is the result of a far side that ended with status code (and
// wrote stdout and stderr).
func exited(t *testing.T, code int, stdout string, stderr ...string) probeResult {
	t.Helper()
	res := probeResult{connected: true, exited: true, stdout: []byte(stdout), stderr: stderr}
	if code != 0 {
		err := exec.Command("sh", "-c", fmt.Sprintf("exit %d", code)).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("sh exit %d: %v", code, err)
		}
		res.err = &execssh.ExitError{Name: "ssh[loghost]", Err: ee, Stderr: stderr}
	}
	return res
}

// What the restriction probe's far side did, and whether check takes it
// for a shell that tried to run expr. Our own forced commands quote the
// request (expr included) when they refuse it; they are recognised by
// receive's error frame and by sshlogfwd's usage status, not by words.
func TestShellTriedProbe(t *testing.T) {
	refusal := `sshlogfwd: SSH_ORIGINAL_COMMAND: refusing request "expr 123 + 456": not sshlogfwd`
	frame := string(ackproto.AppendError(nil, ackproto.CodeRefused, "refusing request \"expr 123 + 456\""))
	for _, tt := range []struct {
		name string
		res  probeResult
		want bool
	}{
		{"dash without expr", exited(t, 127, "", "sh: 1: expr: not found"), true},
		{"bash without expr", exited(t, 127, "", "bash: line 1: expr: command not found"), true},
		{"tcsh without expr", exited(t, 1, "", "expr: Command not found."), true},
		{"serve refuses", exited(t, usageStatus, "", refusal), false},
		{"receive refuses", exited(t, usageStatus, frame, refusal), false},
		{"receive's frame, other status", exited(t, 1, frame, refusal), false},
		{"a wrapper refuses with status 1", exited(t, 1, "", "only rsync allowed, not: expr 123 + 456"), true},
		{"cat cannot create", exited(t, 2, "", "sh: 1: cannot create /x/y: Directory nonexistent"), false},
		{"cat took nothing", exited(t, 0, ""), false},
	} {
		if got := shellTriedProbe(tt.res); got != tt.want {
			t.Errorf("%s: shellTriedProbe = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReceiveRefused(t *testing.T) {
	hello := ackproto.AppendReceiverHello(nil, ackproto.ReceiverHello{Version: ackproto.Version})
	for _, tt := range []struct {
		name string
		out  []byte
		want bool
	}{
		{"refused frame", ackproto.AppendError(nil, ackproto.CodeRefused, "not mine"), true},
		{"busy frame", ackproto.AppendError(nil, ackproto.CodeBusy, "busy"), false},
		{"hello", hello, false},
		{"nothing", nil, false},
		{"text", []byte("refused\n"), false},
	} {
		if got := receiveRefused(tt.out); got != tt.want {
			t.Errorf("%s: receiveRefused(%q) = %v, want %v", tt.name, tt.out, got, tt.want)
		}
	}
}

func TestRestricted(t *testing.T) {
	push := keyLine{mode: "push"}
	reliable := keyLine{mode: "push", reliable: true, identity: "/etc/sshlogfwd/id_ed25519"}
	for _, tt := range []struct {
		name string
		key  keyLine
		res  probeResult
		ok   bool
		want []string
	}{
		{"shell", push, exited(t, 0, "579\n"), false, []string{"gives a shell on the log host", "replace the key's line", "sshlogfwd authorized-key push --from <this host's address> --key <key>.pub /var/log/r.log"}},
		{"shell, reliable push", reliable, exited(t, 0, "579\n"), false, []string{"sshlogfwd authorized-key push --reliable --from <this host's address> --key /etc/sshlogfwd/id_ed25519.pub /var/log/r.log"}},
		{"shell without expr", push, exited(t, 127, "", "sh: 1: expr: not found"), false, []string{"tried to run our probe command and failed (sh: 1: expr: not found)", "make sure the key's line has a forced command"}},
		{"cat", push, exited(t, 0, ""), true, []string{"forced command is in effect (it ended with status 0 without running it)"}},
		{"receive", push, exited(t, 2, string(ackproto.AppendError(nil, ackproto.CodeRefused, "no")), `refusing request "expr 1 + 2"`), true, []string{`it refused with status 2: refusing request "expr 1 + 2"`}},
		{"tail", push, probeResult{connected: true, stdout: []byte("1234\n")}, true, []string{"it kept running something else and was stopped"}},
		{"sum inside a longer line", push, exited(t, 0, "x 579\n"), true, nil},
	} {
		var b bytes.Buffer
		p := &prober{r: &report{w: &b}, role: roleLogHost, probe: tt.res, probeSum: "579", dest: execssh.Dest{Path: "/var/log/r.log"}, key: tt.key}
		p.restricted()
		wantReport(t, tt.name, b.String(), p.r.failed, tt.ok, append([]string{"restricted key: "}, tt.want...)...)
	}
}

func TestSpeaksStream(t *testing.T) {
	var full bytes.Buffer
	enc := stream.NewEncoder(&full)
	enc.Version()
	enc.Start(tailer.Cursor{Dev: 1, Ino: 2, Offset: 3}, stream.HowEnd)
	enc.Heartbeat()
	versionOnly := full.String()[:strings.Index(full.String(), "\n")+1]
	for _, tt := range []struct {
		out  string
		want bool
	}{
		{full.String(), true},
		{versionOnly, true},
		{"sshlogfwd-stream 9\n", true},
		{"", false},
		{"Nov 25 10:00:00 web1 sshd[1]: a log line\n", false},
		{"sshlogfwd-str", false},
	} {
		if got := speaksStream([]byte(tt.out)); got != tt.want {
			t.Errorf("speaksStream(%q) = %v, want %v", tt.out, got, tt.want)
		}
	}
}

func TestReportReceive(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    ackproto.ReceiverHello
		err  error
		res  probeResult
		ok   bool
		want string
	}{
		{name: "empty file", h: ackproto.ReceiverHello{Version: 1}, ok: true, want: "holds no stream yet"},
		{name: "a stream", h: ackproto.ReceiverHello{Version: 1, Stream: "s", Offset: 42}, ok: true, want: "holds stream s up to offset 42"},
		{name: "busy", err: &ackproto.RemoteError{Code: ackproto.CodeBusy}, ok: true, want: "busy with push's own stream"},
		{name: "refused", err: &ackproto.RemoteError{Code: ackproto.CodeRefused, Text: "not mine"}, want: "receive refused: receiver refused (refused): not mine"},
		{name: "cat", err: fmt.Errorf("first line: %w", ackproto.ErrProtocol), want: "or drop --reliable"},
		{name: "silent", err: errors.New("no hello"), res: exited(t, 127, "", "sh: 1: sshlogfwd: not found"), want: "receive did not answer: no hello (sh: 1: sshlogfwd: not found)"},
	} {
		var b bytes.Buffer
		p := &prober{r: &report{w: &b}, role: roleLogHost}
		p.reportReceive(tt.h, tt.err, tt.res)
		wantReport(t, tt.name, b.String(), p.r.failed, tt.ok, "receive: ", tt.want)
	}
}

func TestReportServe(t *testing.T) {
	start := stream.Frame{Type: stream.Start, Cursor: tailer.Cursor{Dev: 1, Ino: 2, Offset: 3}, How: stream.HowEnd}
	for _, tt := range []struct {
		name string
		f    stream.Frame
		err  error
		res  probeResult
		ok   bool
		want string
	}{
		{name: "serve", f: start, ok: true, want: "/w.log would be followed from 1:2:3 (end)"},
		{name: "no file", f: stream.Frame{Type: stream.Start, How: stream.HowWait}, want: "does not exist on the watched host"},
		{name: "tail", err: fmt.Errorf("%w: first line", stream.ErrNotStream), res: exited(t, 0, ""), want: "give --compat"},
		{name: "cat, stopped", err: io.EOF, res: probeResult{connected: true}, want: "did not answer with the sshlogfwd stream"},
		{name: "cat, stopped, output closed", err: os.ErrClosed, res: probeResult{connected: true}, want: "did not answer with the sshlogfwd stream"},
		{name: "not installed", err: io.EOF, res: exited(t, 127, "", "sh: 1: sshlogfwd: not found"), want: "serve did not answer: EOF (sh: 1: sshlogfwd: not found)"},
		{name: "no start", f: stream.Frame{Type: stream.Heartbeat}, want: "not start"},
	} {
		var b bytes.Buffer
		p := &prober{r: &report{w: &b}, role: roleWatchedHost}
		p.reportServe(tt.f, tt.err, tt.res, "/w.log")
		wantReport(t, tt.name, b.String(), p.r.failed, tt.ok, "serve: ", tt.want)
	}
}

// fakeSSH is an executable that stands for ssh: it says the probe's
// marker once "connected", then runs script as the far side.
func fakeSSH(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho "+marker+" >&2\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every probe that asks the far side for push's or pull's own command
// names an account that cannot run it, with the fix, instead of blaming
// the forced command: nologin as the shell (its message arrives where
// serve's stream or receive's hello should be), or a program the shell
// does not find.
func TestProbesNameTheAccount(t *testing.T) {
	nologin := "echo 'This account is currently not available.'; exit 1"
	notFound := "echo 'sh: 1: /usr/local/bin/sshlogfwd: not found' >&2; exit 127"
	for _, tt := range []struct {
		name, script string
		probe        func(p *prober)
		want         []string
	}{
		{"serve, nologin", nologin, func(p *prober) { p.serve("x", "/var/log/auth.log") }, []string{"FAIL  serve: ", "nologin as its shell", "usermod -s /bin/sh logreader"}},
		{"receive, nologin", nologin, func(p *prober) { p.receive("x") }, []string{"FAIL  receive: ", "nologin as its shell"}},
		{"append, nologin", nologin, func(p *prober) { p.append("x", "web1") }, []string{"FAIL  append: ", "nologin as its shell"}},
		{"tail, nologin", nologin, func(p *prober) { p.tail("x", "/var/log/auth.log") }, []string{"FAIL  tail: ", "nologin as its shell"}},
		{"serve, not installed", notFound, func(p *prober) { p.serve("x", "/var/log/auth.log") }, []string{"FAIL  serve: ", "did not find the program (sh: 1: /usr/local/bin/sshlogfwd: not found)", "--sshlogfwd-path"}},
	} {
		var b bytes.Buffer
		o := Options{SSHPath: fakeSSH(t, tt.script), SSH: execssh.Options{ReadyMarker: marker}, ProbeWait: 3 * time.Second,
			Clock: clock.NewFake(time.Unix(0, 0)), Logger: slog.New(slog.DiscardHandler), Out: &b}
		p := newProber(context.Background(), o, &report{w: &b}, execssh.Dest{User: "logreader", Host: "web1", Path: "/var/log/auth.log"}, roleWatchedHost, keyLine{mode: "pull"})
		waitFor(t, tt.name, func() { tt.probe(p) })
		wantReport(t, tt.name, b.String(), p.r.failed, false, tt.want...)
	}
}
