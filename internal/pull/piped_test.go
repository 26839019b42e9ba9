package pull

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// pipeLink is a connection whose far side writes into a real pipe, as ssh
// does: payloads can go from it into the output with splice(2).
type pipeLink struct {
	r, w      *os.File
	killed    chan struct{}
	stdinDone chan struct{}
	once      [2]sync.Once
}

func newPipeLink(t *testing.T) *pipeLink {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if n := pipe.Grow(r, 1<<20); n < 256<<10 {
		t.Skipf("pipe of %d bytes: too small for these tests", n)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return &pipeLink{r: r, w: w, killed: make(chan struct{}), stdinDone: make(chan struct{})}
}

func (l *pipeLink) Read(p []byte) (int, error)            { return l.r.Read(p) }
func (l *pipeLink) SyscallConn() (syscall.RawConn, error) { return l.r.SyscallConn() }
func (l *pipeLink) CloseStdin()                           { l.once[0].Do(func() { close(l.stdinDone) }) }
func (l *pipeLink) Name() string                          { return "ssh[pipe]" }
func (l *pipeLink) Connected()                            {}
func (l *pipeLink) Kill()                                 { l.once[1].Do(func() { close(l.killed); l.w.Close() }) }
func (l *pipeLink) far(t *testing.T) *stream.Encoder      { return farEncoder(t, l.w) }
func farEncoder(t *testing.T, w *os.File) *stream.Encoder {
	t.Helper()
	enc := stream.NewEncoder(w)
	if err := enc.Version(); err != nil {
		t.Fatal(err)
	}
	return enc
}

// numbered is lines from..to-1 of a remote file.
func numbered(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "remote line %07d with a few words after it\n", i)
	}
	return b.Bytes()
}

// waitOutput waits until the output has n bytes.
func (f *fixture) waitOutput(n int) {
	f.t.Helper()
	deadline := time.Now().Add(hang)
	for {
		b, _ := os.ReadFile(f.out)
		if len(b) >= n {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the output never had %d bytes (hang)", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// saveNow waits until the output has n bytes, lets the save interval pass
// and sends a heartbeat, whose frame saves the cursor, and waits for that
// save.
func (f *fixture) saveNow(enc *stream.Encoder, n int) {
	f.t.Helper()
	f.waitOutput(n)
	f.clk.Advance(CursorSaveInterval)
	enc.Heartbeat()
	deadline := time.Now().Add(hang)
	for f.record().OutputSize != int64(n) {
		if time.Now().After(deadline) {
			f.t.Fatalf("the cursor was never saved at output size %d (hang)", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitResult(t *testing.T, res <-chan result) result {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(hang):
		t.Fatal("session did not end with its stream (hang)")
	}
	return result{}
}

// Payloads go from the pipe into the output whole, beyond what the decoder
// reads ahead, in order with the small frames and the rotation between
// them; the cursor follows each frame; the bytes moved by splice(2) are
// counted apart.
func TestReliablePipedPayloads(t *testing.T) {
	f := newFixture(t)
	r := &reliable{sink: f.open(0), log: testLogger(t), clk: f.clk}
	l := newPipeLink(t)
	res := runReliable(context.Background(), r, l)
	enc := l.far(t)
	a, b := numbered(0, 4000), numbered(4000, 4100)
	next := tailer.Cursor{Dev: 9, Ino: 100}
	enc.Start(rc(0), stream.HowStart)
	enc.Data(rc(int64(len(a))), a)
	enc.Data(rc(int64(len(a)+3)), []byte("ab\n"))
	enc.Rotated(next)
	enc.Data(tailer.Cursor{Dev: 9, Ino: 100, Offset: int64(len(b))}, b)
	want := string(a) + "ab\n" + string(b)
	f.saveNow(enc, len(want))
	l.w.Close()
	got := waitResult(t, res)
	if out := f.read(f.out); out != want {
		t.Fatalf("output has %d bytes, want the %d sent in order", len(out), len(want))
	}
	if got.got != int64(len(want)) {
		t.Fatalf("session wrote %d bytes, want %d", got.got, len(want))
	}
	if p := r.sink.piped.Load(); p < int64(len(a)+len(b)-2*headRead) {
		t.Fatalf("%d bytes spliced of %d: the payloads were read, not moved", p, len(want))
	}
	if rec := f.record(); rec.Cursor != (tailer.Cursor{Dev: 9, Ino: 100, Offset: int64(len(b))}) || rec.OutputSize != int64(len(want)) {
		t.Fatalf("saved %v with size %d after the session", rec.Cursor, rec.OutputSize)
	}
}

// A stream that ends inside a payload leaves nothing of that frame in the
// output and the cursor before it: the next connection fetches it again.
func TestReliablePipedFrameCutByEnd(t *testing.T) {
	f := newFixture(t)
	r := &reliable{sink: f.open(0), log: testLogger(t), clk: f.clk}
	l := newPipeLink(t)
	res := runReliable(context.Background(), r, l)
	enc := l.far(t)
	a, b := numbered(0, 100), numbered(100, 3000)
	enc.Start(rc(0), stream.HowStart)
	enc.Data(rc(int64(len(a))), a)
	f.saveNow(enc, len(a))
	enc.DataHead(rc(int64(len(a)+len(b))), len(b))
	l.w.Write(b[:len(b)/2])
	l.w.Close()
	waitResult(t, res)
	if out := f.read(f.out); out != string(a) {
		t.Fatalf("output has %d bytes, want only the %d of the whole frame", len(out), len(a))
	}
	if rec := f.record(); rec.Cursor != rc(int64(len(a))) || rec.OutputSize != int64(len(a)) {
		t.Fatalf("saved %v with size %d, want %v and %d", rec.Cursor, rec.OutputSize, rc(int64(len(a))), len(a))
	}
}

// While a payload is still coming, pull holds no lock: a reopen of the
// output (SIGHUP after logrotate) goes through at once, and the whole
// frame then goes into the new file, none of it into the old one.
func TestReliablePipedReopenWhilePayloadComes(t *testing.T) {
	f := newFixture(t)
	s := f.open(0)
	r := &reliable{sink: s, log: testLogger(t), clk: f.clk}
	l := newPipeLink(t)
	res := runReliable(context.Background(), r, l)
	enc := l.far(t)
	a, b := numbered(0, 100), numbered(100, 3000)
	enc.Start(rc(0), stream.HowStart)
	enc.Data(rc(int64(len(a))), a)
	enc.DataHead(rc(int64(len(a)+len(b))), len(b))
	l.w.Write(b[:len(b)/2])
	rotated := f.out + ".1"
	// The first frame is in the output before the rename.
	deadline := time.Now().Add(hang)
	for len(f.read(f.out)) < len(a) {
		if time.Now().After(deadline) {
			t.Fatal("the first frame never reached the output (hang)")
		}
		time.Sleep(time.Millisecond)
	}
	if err := os.Rename(f.out, rotated); err != nil {
		t.Fatal(err)
	}
	reopened := make(chan error, 1)
	go func() { reopened <- s.Reopen() }()
	select {
	case err := <-reopened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(hang):
		t.Fatal("reopen waited for the rest of the payload: a lock is held while it comes")
	}
	l.w.Write(b[len(b)/2:])
	l.w.Close()
	waitResult(t, res)
	if old := f.read(rotated); old != string(a) {
		t.Fatalf("the rotated output has %d bytes, want the %d of the first frame only", len(old), len(a))
	}
	if cur := f.read(f.out); cur != string(b) {
		t.Fatalf("the new output has %d bytes, want the whole second frame, %d", len(cur), len(b))
	}
}

// A pull killed after payloads were moved into the output but before the
// cursor was saved proves them at restart against what serve sends again
// (compared, not written twice), and moves the new ones into the output
// again once they are proven.
func TestReliablePipedCrashThenProve(t *testing.T) {
	f := newFixture(t)
	a, b, c := numbered(0, 1000), numbered(1000, 2000), numbered(2000, 3000)
	{
		r := &reliable{sink: f.open(0), log: testLogger(t), clk: f.clk}
		l := newPipeLink(t)
		res := runReliable(context.Background(), r, l)
		enc := l.far(t)
		enc.Start(rc(0), stream.HowStart)
		enc.Data(rc(int64(len(a))), a)
		f.saveNow(enc, len(a))
		enc.Data(rc(int64(len(a)+len(b))), b)
		f.waitOutput(len(a) + len(b))
		if rec := f.record(); rec.Cursor != rc(int64(len(a))) {
			t.Fatalf("saved %v, want %v (the test needs b unsaved)", rec.Cursor, rc(int64(len(a))))
		}
		// Killed -9 here: no save, the sink is never closed. (The
		// session's goroutine ends with its pipe.)
		l.w.Close()
		waitResult(t, res)
	}
	// The session end saved the cursor; a kill would not have: put the
	// record back as the kill leaves it.
	s2 := f.reopenAfterKill(int64(len(a)), rc(int64(len(a))))
	if s2.unproven == nil {
		t.Fatal("no bytes to prove after the kill")
	}
	r := &reliable{sink: s2, log: testLogger(t), clk: f.clk}
	l := newPipeLink(t)
	res := runReliable(context.Background(), r, l)
	enc := l.far(t)
	enc.Start(rc(int64(len(a))), stream.HowResume)
	enc.Data(rc(int64(len(a)+len(b))), b)
	enc.Data(rc(int64(len(a)+len(b)+len(c))), c)
	l.w.Close()
	waitResult(t, res)
	want := string(a) + string(b) + string(c)
	if out := f.read(f.out); out != want {
		t.Fatalf("output has %d bytes, want every line once (%d)", len(out), len(want))
	}
	if p := s2.piped.Load(); p < int64(len(c)-headRead) || p > int64(len(c)) {
		t.Fatalf("%d bytes spliced after the restart, want the %d new ones (the proven ones compared)", p, len(c))
	}
}

// reopenAfterKill rewrites the cursor record as a pull killed at output
// size size and cursor c leaves it, and opens the sink as the restarted
// pull does.
func (f *fixture) reopenAfterKill(size int64, c tailer.Cursor) *sink {
	f.t.Helper()
	rec := f.record()
	b, err := os.ReadFile(f.out)
	if err != nil {
		f.t.Fatal(err)
	}
	rec.Cursor, rec.OutputSize, rec.Stopped = c, size, false
	o := &output{tail: b[max(0, size-tailMax):size]}
	rec.TailLen, rec.Tail = o.tailSum(size)
	if err := os.WriteFile(f.cursor, []byte(rec.String()), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return f.open(0)
}
