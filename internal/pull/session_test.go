package pull

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// hang bounds every wait: it only catches a hang, nothing waits this long
// when the code works.
const hang = 10 * time.Second

// fakeLink is a connection whose far side is the test.
type fakeLink struct {
	r         *io.PipeReader
	w         *io.PipeWriter
	killed    chan struct{}
	stdinDone chan struct{}
	once      [2]sync.Once
	connects  atomic.Int32
}

func newLink() *fakeLink {
	r, w := io.Pipe()
	return &fakeLink{r: r, w: w, killed: make(chan struct{}), stdinDone: make(chan struct{})}
}

func (l *fakeLink) Read(p []byte) (int, error) { return l.r.Read(p) }
func (l *fakeLink) CloseStdin()                { l.once[0].Do(func() { close(l.stdinDone) }) }
func (l *fakeLink) Name() string               { return "ssh[test]" }
func (l *fakeLink) Connected()                 { l.connects.Add(1) }
func (l *fakeLink) Kill() {
	l.once[1].Do(func() { close(l.killed) })
	l.w.Close() // the child's stdout ends
}

// far is serve's side of l: frames are written as serve writes them.
func (l *fakeLink) far(t *testing.T) *stream.Encoder {
	enc := stream.NewEncoder(l.w)
	if err := enc.Version(); err != nil {
		t.Fatal(err)
	}
	return enc
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(hang):
		t.Fatalf("%s: not within %v (hang)", what, hang)
	}
}

func waitWaiters(t *testing.T, f *fixture, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		f.clk.WaitForWaiters(n)
		close(done)
	}()
	waitClosed(t, done, "session waits on the clock")
}

type result struct {
	started bool
	got     int64
}

func runReliable(ctx context.Context, r *reliable, l link) <-chan result {
	res := make(chan result, 1)
	go func() {
		started, got := r.run(ctx, l)
		res <- result{started, got}
	}()
	return res
}

// The reliable session writes data frames and follows rotations; what it
// received is saved when the connection ends.
func TestReliableSessionAppliesStream(t *testing.T) {
	f := newFixture(t)
	r := &reliable{sink: f.open(0), log: testLogger(t), clk: f.clk}
	l := newLink()
	res := runReliable(context.Background(), r, l)
	enc := l.far(t)
	next := tailer.Cursor{Dev: 9, Ino: 100}
	enc.Start(rc(0), stream.HowStart)
	enc.Data(rc(4), []byte("one\n"))
	enc.Rotated(next)
	enc.Data(tailer.Cursor{Dev: 9, Ino: 100, Offset: 4}, []byte("two\n"))
	f.clk.Advance(CursorSaveInterval)
	l.w.Close()
	var got result
	select {
	case got = <-res:
	case <-time.After(hang):
		t.Fatal("session did not end with its stream (hang)")
	}
	if !got.started || got.got != 8 {
		t.Fatalf("session result %+v, want started and 8 bytes", got)
	}
	if n := l.connects.Load(); n != 1 {
		t.Fatalf("connect reported %d times, want once, at serve's start", n)
	}
	if out := f.read(f.out); out != "one\ntwo\n" {
		t.Fatalf("output %q", out)
	}
	if rec := f.record(); rec.Cursor != (tailer.Cursor{Dev: 9, Ino: 100, Offset: 4}) {
		t.Fatalf("saved cursor %v after the session", rec.Cursor)
	}
}

// A connection on which nothing arrives for more than the idle timeout is
// killed; one idle for exactly the timeout is not.
func TestReliableIdleTimeout(t *testing.T) {
	f := newFixture(t)
	r := &reliable{sink: f.open(0), log: testLogger(t), clk: f.clk, idleTimeout: 3 * time.Second}
	l := newLink()
	// No frame is sent: one decoded after an Advance would move the
	// last-frame time under the test.
	res := runReliable(context.Background(), r, l)
	waitWaiters(t, f, 1)
	f.clk.Advance(3 * time.Second) // the watch looks, and waits again
	rearmed := make(chan struct{})
	go func() {
		f.clk.WaitForWaiters(1)
		close(rearmed)
	}()
	select {
	case <-l.killed:
		t.Fatal("killed when idle for exactly the timeout")
	case <-rearmed:
	case <-time.After(hang):
		t.Fatalf("idle watch neither killed nor waited again within %v (hang)", hang)
	}
	f.clk.Advance(time.Second)
	waitClosed(t, l.killed, "kill after the idle timeout")
	waitClosed(t, closedOn(res), "session end after the kill")
}

// On stop, serve's input is closed and the connection gets the drain
// timeout to end its stream; only then is it killed.
func TestReliableDrainTimeout(t *testing.T) {
	f := newFixture(t)
	r := &reliable{sink: f.open(0), log: testLogger(t), clk: f.clk, drainTimeout: 10 * time.Second}
	l := newLink()
	ctx, cancel := context.WithCancel(context.Background())
	res := runReliable(ctx, r, l)
	l.far(t).Start(rc(0), stream.HowStart)
	cancel()
	waitClosed(t, l.stdinDone, "serve's input closed on stop")
	waitWaiters(t, f, 1)
	f.clk.Advance(10*time.Second - time.Millisecond)
	select {
	case <-l.killed:
		t.Fatal("killed before the drain timeout")
	default:
	}
	f.clk.Advance(time.Millisecond)
	waitClosed(t, l.killed, "kill at the drain timeout")
	waitClosed(t, closedOn(res), "session end after the kill")
}

func closedOn[T any](c <-chan T) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		<-c
		close(done)
	}()
	return done
}

// The compatible session writes whole lines only: a line cut by the end
// of a connection is ended with a newline, not continued by the next
// connection's first line.
func TestCompatSessionWholeLines(t *testing.T) {
	f := newFixture(t)
	s := &sink{log: testLogger(t), clk: f.clk, src: src}
	if err := s.open(f.out); err != nil {
		t.Fatal(err)
	}
	p := &compat{sink: s, log: testLogger(t)}
	for _, conn := range [][]string{{"a\nb", "c\nd"}, {"e\n"}} {
		l := newLink()
		res := make(chan int64, 1)
		go func() { res <- p.run(context.Background(), l) }()
		want := int64(0)
		for _, chunk := range conn {
			l.w.Write([]byte(chunk))
			want += int64(len(chunk))
		}
		l.w.Close()
		select {
		case n := <-res:
			if n != want {
				t.Fatalf("received %d bytes, want %d", n, want)
			}
		case <-time.After(hang):
			t.Fatal("compat session did not end with its input (hang)")
		}
	}
	if got := f.read(f.out); got != "a\nbc\nd\ne\n" {
		t.Fatalf("output %q, want %q", got, "a\nbc\nd\ne\n")
	}
}

// chunks is a reader that returns one chunk per Read.
type chunks []string

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if n < len((*c)[0]) {
		(*c)[0] = (*c)[0][n:]
	} else {
		*c = (*c)[1:]
	}
	return n, nil
}

// The line reader hands out whole lines only, keeps the unfinished one
// for the next read, and grows for a line longer than its buffer.
func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", lineReadSize+10)
	in := chunks{"a\nb", "c", "\nd\n", "", "e", long[:lineReadSize-1], long[lineReadSize-1:] + "\nf"}
	var b lineReader
	var got []string
	for {
		whole, _, err := b.read(&in)
		if len(whole) > 0 {
			got = append(got, string(whole))
		}
		if err != nil {
			break
		}
	}
	want := []string{"a\n", "bc\nd\n", "e" + long + "\n"}
	if !slices.Equal(got, want) {
		t.Fatalf("whole lines %.40q, want %.40q", got, want)
	}
	if r := string(b.rest()); r != "f" {
		t.Fatalf("rest = %q, want %q", r, "f")
	}
	if r := b.rest(); len(r) != 0 {
		t.Fatalf("rest after rest = %q", r)
	}
}
