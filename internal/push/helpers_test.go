package push

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// hang bounds every condition wait: it only catches a hang.
const hang = 10 * time.Second

// logRecorder is a slog handler that keeps the messages and passes every
// record on to t.Log.
type logRecorder struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	r.t.Log(b.String())
	return nil
}

// count is how many records had exactly msg.
func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// waitFor waits until cond holds; the deadline only catches a hang.
func waitFor(t *testing.T, cond func() bool, format string, a ...any) {
	t.Helper()
	if cond() {
		return
	}
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	deadline := time.After(hang)
	for !cond() {
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("hang: no %s within %v", fmt.Sprintf(format, a...), hang)
		}
	}
}

// lines returns lines from..to-1, 14 bytes each.
func lines(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %08d\n", i)
	}
	return b.Bytes()
}

const lineLen = 14

// testEngine is an engine over an in-memory spool (or opts.SpoolDir) with
// one destination, for driving sessions directly.
type testEngine struct {
	*engine
	clk  *clock.Fake
	logs *logRecorder
	d    *destination
}

func newTestEngine(t *testing.T, opts Options, sopts spool.Options) *testEngine {
	t.Helper()
	clk := clock.NewFake(t0)
	logs := &logRecorder{t: t}
	if len(opts.Dests) == 0 {
		opts.Dests = []Dest{{Dest: execssh.Dest{Host: "loghost", Path: "/var/log/remote.log"}}}
	}
	if opts.Input == nil && opts.File == "" {
		opts.Input = strings.NewReader("")
	}
	if opts.Hostname == "" {
		opts.Hostname = "testhost"
	}
	opts.Clock, opts.Logger = clk, slog.New(logs)
	e, err := newEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	if sopts.Max == 0 {
		sopts.Max = 64 << 20
	}
	sopts.Logger = opts.Logger
	sp, err := spool.Open(sopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	e.attach(sp)
	return &testEngine{engine: e, clk: clk, logs: logs, d: e.dests[0]}
}

// stopped returns a stop context already cancelled, with the drain begun:
// the session drains from its start.
func (te *testEngine) stopped() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	te.drain.begin(context.Background())
	cancel()
	return ctx
}

// exitError is a child's non-zero exit status.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exited with status %d", int(e)) }
func (e exitError) Code() int     { return int(e) }

// pipeLink is a Link over two os.Pipe pairs: the session writes stdin and
// reads stdout; the test plays the far side on farIn and farOut.
type pipeLink struct {
	clock   clock.Clock
	started time.Time

	stdin, farOut io.WriteCloser // written by the session, by the far side
	farIn, stdout io.ReadCloser  // read by the far side, by the session

	ready, done chan struct{}
	exitOnce    sync.Once
	stdinOnce   sync.Once
	err         error
	killed      chan struct{}
	killOnce    sync.Once
}

func newPipeLink(t *testing.T, c clock.Clock) *pipeLink {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return newLink(t, c, inR, inW, outR, outW)
}

// newMemLink is a pipeLink over io.Pipes, whose blocking a
// testing/synctest bubble can see.
func newMemLink(t *testing.T, c clock.Clock) *pipeLink {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	return newLink(t, c, inR, inW, outR, outW)
}

func newLink(t *testing.T, c clock.Clock, inR io.ReadCloser, inW io.WriteCloser, outR io.ReadCloser, outW io.WriteCloser) *pipeLink {
	l := &pipeLink{clock: c, started: c.Now(), stdin: inW, farIn: inR, farOut: outW, stdout: outR,
		ready: make(chan struct{}), done: make(chan struct{}), killed: make(chan struct{})}
	close(l.ready)
	t.Cleanup(func() {
		for _, f := range []io.Closer{inR, inW, outR, outW} {
			f.Close()
		}
	})
	return l
}

func (l *pipeLink) Name() string           { return "ssh[test]" }
func (l *pipeLink) Stdin() io.Writer       { return l.stdin }
func (l *pipeLink) Stdout() io.Reader      { return l.stdout }
func (l *pipeLink) Ready() <-chan struct{} { return l.ready }
func (l *pipeLink) Connected()             {}
func (l *pipeLink) Done() <-chan struct{}  { return l.done }
func (l *pipeLink) Err() error             { <-l.done; return l.err }
func (l *pipeLink) CloseStdin()            { l.stdinOnce.Do(func() { l.stdin.Close() }) }
func (l *pipeLink) Uptime() time.Duration  { return clock.Since(l.clock, l.started) }

// Kill ends the child as SIGKILL would: the far side's ends die with it.
func (l *pipeLink) Kill() {
	l.killOnce.Do(func() { close(l.killed) })
	l.farIn.Close()
	l.farOut.Close()
	l.exit(exitError(-1))
}

// exit ends the child with err (nil: status 0).
func (l *pipeLink) exit(err error) {
	l.exitOnce.Do(func() {
		l.err = err
		close(l.done)
	})
}

func (l *pipeLink) wasKilled() bool {
	select {
	case <-l.killed:
		return true
	default:
		return false
	}
}

// catFar is the far side of the compatible mode: `cat >> FILE` into a
// buffer, until its input ends.
type catFar struct {
	mu   sync.Mutex
	got  []byte
	done chan struct{}
}

func startCat(l *pipeLink) *catFar {
	c := &catFar{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 64<<10)
		for {
			n, err := l.farIn.Read(buf)
			c.mu.Lock()
			c.got = append(c.got, buf[:n]...)
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *catFar) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.got...)
}

// fakeReceiver is a scripted far side of the reliable mode: it answers the
// hello with a chosen one, hands every frame to the test, and acks only
// when told.
type fakeReceiver struct {
	t      *testing.T
	l      *pipeLink
	hello  chan ackproto.Hello
	frames chan ackproto.Frame
}

func startFakeReceiver(t *testing.T, l *pipeLink, reply func(ackproto.Hello) ackproto.ReceiverHello) *fakeReceiver {
	r := &fakeReceiver{t: t, l: l, hello: make(chan ackproto.Hello, 1), frames: make(chan ackproto.Frame, 4096)}
	go func() {
		defer l.exit(nil) // its input ended: it exits, and ssh with it
		defer close(r.frames)
		dec := ackproto.NewDecoder(l.farIn)
		h, err := dec.Hello()
		if err != nil {
			return
		}
		r.hello <- h
		if _, err := l.farOut.Write(ackproto.AppendReceiverHello(nil, reply(h))); err != nil {
			return
		}
		for {
			f, err := dec.Next()
			if err != nil {
				return
			}
			f.Data = append([]byte(nil), f.Data...)
			r.frames <- f
		}
	}()
	return r
}

// frame waits for the next frame.
func (r *fakeReceiver) frame() ackproto.Frame {
	r.t.Helper()
	select {
	case f, ok := <-r.frames:
		if !ok {
			r.t.Fatal("the sender's input ended before the next frame")
		}
		return f
	case <-time.After(hang):
		r.t.Fatalf("hang: no frame within %v", hang)
		return ackproto.Frame{}
	}
}

func (r *fakeReceiver) ack(off int64) {
	r.t.Helper()
	if _, err := r.l.farOut.Write(ackproto.AppendAck(nil, off)); err != nil {
		r.t.Fatalf("ack %d: %v", off, err)
	}
}

// runSession runs session in a goroutine and returns its result channel.
func runSession(session func() bool) <-chan bool {
	ch := make(chan bool, 1)
	go func() { ch <- session() }()
	return ch
}

// result waits for a session's result.
func result(t *testing.T, ch <-chan bool, what string) bool {
	t.Helper()
	select {
	case ok := <-ch:
		return ok
	case <-time.After(hang):
		t.Fatalf("hang: %s did not end within %v", what, hang)
		return false
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// deliverAcrossKill spools the first half of all, sends it through the
// real receiver until the first acknowledgement and kills the link; then
// spools the rest and sends again through a new link until everything is
// acknowledged. The log host must have all, exactly once, in order.
func (te *testEngine) deliverAcrossKill(t *testing.T, all []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "remote.log")
	te.sp.Append(all[:len(all)/2])
	l := newPipeLink(t, te.clk)
	served := serveReceiver(t, l, path)
	done := runSession(func() bool { return te.sendTo(t.Context(), te.d, l) })
	waitFor(t, func() bool { _, acked := te.d.consumer.Position(); return acked > 0 }, "a first acknowledgement")
	l.Kill()
	result(t, done, "the first session")
	<-served

	te.sp.Append(all[len(all)/2:])
	l2 := newPipeLink(t, te.clk)
	served2 := serveReceiver(t, l2, path)
	done2 := runSession(func() bool { return te.sendTo(t.Context(), te.d, l2) })
	waitFor(t, func() bool { return te.d.consumer.Pending() == 0 }, "everything acknowledged")
	l2.CloseStdin()
	result(t, done2, "the second session")
	if err := <-served2; err != nil {
		t.Errorf("receiver: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, all) {
		t.Errorf("the log host has %d bytes, want exactly the %d sent", len(got), len(all))
	}
}

// runInputToEnd runs push with in as its standard input, delivering
// through the real receiver, and waits for the run to end after the input
// ended (no drain timeout: only waiting for the input's delivery delivers
// it). The log host must then have all, the bytes in carried.
func runInputToEnd(t *testing.T, in io.Reader, all []byte, logs *logRecorder) {
	t.Helper()
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "remote.log")
	opts := runOptions(t, path, clk, logs)
	opts.Input = in
	opts.DrainTimeout = 0
	opts.supervise = fakeSupervisor(t, clk, func(l *pipeLink) func() {
		served := serveReceiver(t, l, path)
		return func() { <-served }
	})
	select {
	case err := <-startRun(context.Background(), opts):
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(hang):
		t.Fatalf("hang: Run did not end within %v after its input ended", hang)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, all) {
		t.Errorf("the log host has %d bytes, want the %d of its input", len(got), len(all))
	}
}

// holdsWhileSpoolRefuses removes the spool's directory dir and runs put,
// which spools one more chunk or entry (what) of input: the spool refuses
// it (no new segment file can be made), so put must hold it and retry on
// the engine's clock, the input mark staying at was. Once the directory
// is back and the clock has moved on, put must have spooled it and end,
// the mark be now, and the refusal and the recovery be logged once each.
func (te *testEngine) holdsWhileSpoolRefuses(t *testing.T, dir, input, what string, put func() error, was, now string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- put() }()
	waitFor(t, func() bool { return te.clk.Waiters() >= 1 }, "a retry waiting on the clock after the spool refused")
	if m := te.sp.InputMark(); m != was {
		t.Fatalf("mark %q moved past a %s the spool refused, want %q", m, what, was)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	te.clk.Advance(inputRetry)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("spooling the %s: %v", what, err)
		}
	case <-time.After(hang):
		t.Fatalf("hang: the %s was not spooled within %v of the spool working again", what, hang)
	}
	if m := te.sp.InputMark(); m != now {
		t.Errorf("mark %q once the spool took the %s, want %q", m, what, now)
	}
	if n := te.logs.count("spooling " + input + " failed; holding its position until the spool takes data again"); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
	if n := te.logs.count("spooling " + input + " works again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}
