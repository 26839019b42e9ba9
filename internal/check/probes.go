package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
)

// usageStatus is sshlogfwd's exit status for a usage error. receive and
// serve end with it when they refuse a request that is not theirs; serve
// has no error frame to say so on its output.
const usageStatus = 2

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
func (p *prober) restricted() {
	name := "restricted key"
	res := p.probe
	switch {
	case p.printedSum(res.stdout):
		p.r.fail(name, "this key gives a shell on the "+p.role+": the far side ran a command of our choosing, so anyone who steals the key can run anything there",
			fmt.Sprintf("on the %s, replace the key's line in authorized_keys with the one printed by: %s", p.role, p.keyCommand()))
	case shellTriedProbe(res):
		// An unrestricted key whose far side lacks expr, or whose shell
		// cannot run it, says so: that is no proof of a forced command.
		p.r.fail(name, "the far side seems to run commands of the client's choosing: it tried to run our probe command and failed ("+res.lastStderr()+")",
			fmt.Sprintf("on the %s, make sure the key's line has a forced command: %s", p.role, p.keyCommand()))
	default:
		p.r.ok(name, "the far side did not run our probe command; a forced command is in effect (%s)", howNotRun(res))
	}
}

// printedSum reports whether the far side printed the probe's sum on a
// line of its own.
func (p *prober) printedSum(stdout []byte) bool {
	for _, line := range strings.Split(string(stdout), "\n") {
		if strings.TrimSpace(line) == p.probeSum {
			return true
		}
	}
	return false
}

// shellTriedProbe reports whether a shell tried to run the probe's expr
// and failed: expr is named on stderr, and it was not one of our own
// forced commands refusing the request (which quotes the request, expr
// included).
func shellTriedProbe(res probeResult) bool {
	return strings.Contains(strings.Join(res.stderr, " "), "expr") && !refusedByUs(res)
}

// refusedByUs reports whether receive or serve refused the request:
// receive's error frame on the output, or sshlogfwd's usage status.
func refusedByUs(res probeResult) bool {
	return receiveRefused(res.stdout) || res.exitCode() == usageStatus
}

// receiveRefused reports whether out begins with receive's error frame
// for a refused request (ackproto.CodeRefused).
func receiveRefused(out []byte) bool {
	_, err := ackproto.NewReplyDecoder(bytes.NewReader(out)).Hello()
	var re *ackproto.RemoteError
	return errors.As(err, &re) && re.Code == ackproto.CodeRefused
}

// howNotRun says what the far side did instead of running the probe.
func howNotRun(res probeResult) string {
	var ee *execssh.ExitError
	switch {
	case !res.exited:
		return "it kept running something else and was stopped"
	case errors.As(res.err, &ee):
		how := fmt.Sprintf("it refused with status %d", ee.Code())
		if last := res.lastStderr(); last != "" {
			how += ": " + last
		}
		return how
	}
	return "it ended with status 0 without running it"
}

// forwarding asks for a TCP forwarding to port 1 of the far side's
// loopback (nothing listens there, and if the key allows forwarding the
// far sshd's connect is merely refused). sshd says "administratively
// prohibited" when the key or its configuration forbids forwarding.
func (p *prober) forwarding() {
	name := "forwarding"
	argv, err := p.argv([]string{"LogLevel=INFO"}, "", false)
	if err != nil {
		p.r.fail(name, err.Error(), "")
		return
	}
	// -W instead of a remote command: ssh forwards its stdio to the port.
	argv = append(argv[:len(argv)-2:len(argv)-2], "-W", "127.0.0.1:1", "--", argv[len(argv)-1])
	ctx, cancel := p.bounded(connectBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stdin = strings.NewReader("")
	cmd.Stderr = &stderr
	err = cmd.Run()
	out := stderr.String()
	switch {
	case strings.Contains(out, "administratively prohibited"):
		p.r.ok(name, "the far side refuses port forwarding with this key")
	case err == nil || strings.Contains(out, "connect failed") || strings.Contains(out, "open failed"):
		p.r.fail(name, "this key may open tunnels through the far side (port forwarding is allowed): a thief could reach services on its network",
			"add restrict at the start of the key's line in authorized_keys (the line printed by sshlogfwd authorized-key has it)")
	default:
		p.r.fail(name, "could not tell whether port forwarding is refused: "+strings.TrimSpace(out), "")
	}
}

// bounded is p.ctx, cancelled after d on the options' clock.
func (p *prober) bounded(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(p.ctx)
	t := p.o.Clock.NewTimer(d)
	go func() {
		defer t.Stop()
		select {
		case <-t.C():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// notChecked reports a probe that could not run because ssh did not get
// in (connect already said why, in its own line).
func (p *prober) notChecked(name string, res probeResult) {
	problem, _ := p.explainSSHFailure(res)
	p.r.fail(name, "not checked: "+problem, "see the ssh line above")
}

// append sends one clearly marked line with push's own remote command and
// expects the far side to take it and exit 0 when its input ends.
func (p *prober) append(remote, hostname string) {
	name := "append"
	line := fmt.Sprintf("%s %s sshlogfwd: check: test line from 'sshlogfwd check' (probe %x); not a log message\n",
		p.o.Clock.Now().Format(time.RFC3339), hostname, rand.Uint32())
	res := p.run(p.probeArgv(remote), runOptions{stdin: line, wait: 5 * time.Second})
	var ee *execssh.ExitError
	switch {
	case !res.connected:
		p.notChecked(name, res)
	case p.accountFailed(name, res):
	case !res.exited:
		p.r.fail(name, "the far side did not finish when its input ended: the key's forced command is not cat >> FILE (a tail or serve key for pull?)",
			"use the line printed by "+p.keyCommand()+" for this key")
	case errors.As(res.err, &ee):
		problem := fmt.Sprintf("the far side refused the line: status %d, %s", ee.Code(), execssh.ExitReason(ee.Err))
		if last := res.lastStderr(); last != "" {
			problem += " (" + last + ")"
		}
		p.r.fail(name, problem, p.fixAppendRefused(ee.Code(), receiveRefused(res.stdout)))
	case res.err != nil:
		p.r.fail(name, res.err.Error(), "")
	default:
		p.r.ok(name, "the far side accepted one line marked 'sshlogfwd: check: test line' (it is in the file the forced command names)")
	}
}

// receive opens a reliable push session the way push does, with a fresh
// random stream id, and reads the receiver's hello (where the stream it
// holds stands). It sends no data: bytes of a stream that is not push's
// own would start a new stream in the file. A receiver that is serving
// push's stream right now refuses another one as busy, which also proves
// it is there. Then the input ends and receive exits; nothing is written.
func (p *prober) receive(remote string) {
	hello := ackproto.AppendHello(nil, ackproto.Hello{Version: ackproto.Version, Stream: ackproto.NewStreamID()})
	res, h, err := firstAnswer(p, remote, string(hello), func(out io.Reader) (ackproto.ReceiverHello, error) {
		return ackproto.NewReplyDecoder(out).Hello()
	})
	if !res.connected {
		p.notChecked("receive", res)
		return
	}
	if p.accountFailed("receive", res) {
		return
	}
	p.reportReceive(h, err, res)
}

// reportReceive judges the receiver's hello, or why there was none.
func (p *prober) reportReceive(h ackproto.ReceiverHello, err error, res probeResult) {
	name := "receive"
	var re *ackproto.RemoteError
	switch {
	case err == nil && h.Stream == "":
		p.r.ok(name, "receive answered (protocol version %d); the file holds no stream yet", h.Version)
	case err == nil:
		p.r.ok(name, "receive answered (protocol version %d); the file holds stream %s up to offset %d", h.Version, h.Stream, h.Offset)
	case errors.As(err, &re) && re.Code == ackproto.CodeBusy:
		p.r.ok(name, "receive answered: busy with push's own stream (push is connected now)")
	case errors.As(err, &re):
		p.r.fail(name, "receive refused: "+re.Error(), "see the log host's side; the file's directory must exist and be writable by the receiving account")
	case errors.Is(err, ackproto.ErrProtocol):
		p.r.fail(name, "the far side does not speak the reliable protocol: "+err.Error(),
			"make the key's forced command sshlogfwd receive PATH (the line printed by "+p.keyCommand()+"), or drop --reliable")
	default:
		p.r.fail(name, "receive did not answer: "+err.Error()+inParens(res.lastStderr()),
			"check that sshlogfwd is installed on the log host at the path in the forced command, and that the forced command is sshlogfwd receive PATH")
	}
}

// serve asks the far side for the file as pull would on its first run and
// reads the stream's first frame: serve says where it starts. It reads
// nothing of the file (the start is its end) and is stopped right after.
func (p *prober) serve(remote, path string) {
	res, f, err := firstAnswer(p, remote, "", func(out io.Reader) (stream.Frame, error) {
		return stream.NewDecoder(out).Next()
	})
	if !res.connected {
		p.notChecked("serve", res)
		return
	}
	if p.accountFailed("serve", res) {
		return
	}
	p.reportServe(f, err, res, path)
}

// firstAnswer runs remote, sends stdin once ssh is in, and reads the far
// side's first answer with read while it runs (up to ProbeWait plus 2s).
// err is errNoAnswer if read had not returned when the probe ended. The
// start of what read consumed is kept in res.stdout, for accountFailed.
func firstAnswer[T any](p *prober, remote, stdin string, read func(io.Reader) (T, error)) (res probeResult, v T, err error) {
	type answer struct {
		v   T
		err error
	}
	got := make(chan answer, 1)
	var seen bytes.Buffer
	res = p.run(p.probeArgv(remote), runOptions{stdin: stdin, wait: 2 * time.Second, onStdout: func(out io.Reader) {
		v, err := read(io.TeeReader(out, &headWriter{&seen, 4 << 10}))
		got <- answer{v, err}
	}})
	res.stdout = seen.Bytes()
	a := answer{err: errNoAnswer}
	select {
	case a = <-got:
	default:
	}
	return res, a.v, a.err
}

// errNoAnswer is the answer of a far side that said nothing in time.
var errNoAnswer = errors.New("no answer")

// reportServe judges serve's first frame, or why there was none. serve
// speaks first, at once: a far side that kept running and said nothing
// within the wait is something else (a cat or tail key), however the
// read of its output ended when it was stopped.
func (p *prober) reportServe(f stream.Frame, err error, res probeResult, path string) {
	name := "serve"
	switch {
	case errors.Is(err, stream.ErrNotStream), err != nil && !res.exited:
		p.r.fail(name, "the far side did not answer with the sshlogfwd stream: its forced command is something else (tail -f?)",
			"give --compat to pull with tail, or install sshlogfwd there and use the line printed by "+p.keyCommand())
	case err != nil:
		p.r.fail(name, "serve did not answer: "+err.Error()+inParens(res.lastStderr()),
			"check that sshlogfwd is installed on the watched host at the path in the forced command, and that the account may read "+path)
	case f.Type != stream.Start:
		p.r.fail(name, "serve's first frame was "+f.Type.String()+", not start", "")
	case f.How == stream.HowWait:
		p.r.fail(name, path+" does not exist on the watched host (serve waits for it)", "check the path; if the file appears later, ignore this")
	default:
		p.r.ok(name, "serve answered: %s would be followed from %s (%s)", path, f.Cursor.String(), f.How)
	}
}

// tail runs pull's compatible command for a moment: tail -F prints nothing
// new (-n 0) and keeps running; its complaints arrive on stderr.
func (p *prober) tail(remote, path string) {
	name := "tail"
	// Still running after the wait counts as following: wait twice as
	// long, so that a far side that is merely slow to refuse is not taken
	// for tail.
	res := p.run(p.probeArgv(remote), runOptions{wait: p.o.ProbeWait})
	if !res.connected {
		p.notChecked(name, res)
		return
	}
	if p.accountFailed(name, res) {
		return
	}
	if speaksStream(res.stdout) {
		p.r.fail(name, "the far side answered with sshlogfwd serve's stream, not tail's output", "drop --compat")
		return
	}
	complaint := ""
	for _, l := range res.stderr {
		// GNU tail's own words for a file it cannot follow.
		if strings.Contains(l, "cannot open") || strings.Contains(l, "No such file") || strings.Contains(l, "ermission denied") || strings.Contains(l, "inaccessible") {
			complaint = l
		}
	}
	switch {
	case complaint != "":
		p.r.fail(name, "the far side cannot read the file: "+complaint, "check the path and that the account may read "+path)
	case res.exited:
		msg := fmt.Sprintf("status %d", res.exitCode()) + inParens(res.lastStderr())
		p.r.fail(name, "the far side ended at once instead of following the file: "+msg,
			"the key's forced command should be tail -F "+path+" (or drop --compat if it is sshlogfwd serve)")
	default:
		p.r.ok(name, "the far side is following a file (stopped after %s; which file, its forced command decides)", 2*p.o.ProbeWait)
	}
}

// speaksStream reports whether out begins with serve's stream: its
// version line (of any version), and no more or a valid start.
func speaksStream(out []byte) bool {
	_, err := stream.NewDecoder(bytes.NewReader(out)).Next()
	return err == nil || errors.Is(err, stream.ErrVersion) || len(out) > 0 && errors.Is(err, io.EOF)
}

// inParens is " (s)", or "" for an empty s.
func inParens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// headWriter keeps the first n bytes written to it in b and discards the
// rest, never failing.
type headWriter struct {
	b *bytes.Buffer
	n int
}

func (h *headWriter) Write(p []byte) (int, error) {
	if room := h.n - h.b.Len(); room > 0 {
		h.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
