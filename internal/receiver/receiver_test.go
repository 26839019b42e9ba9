package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
)

const (
	streamA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	streamB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func lines(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %08d\n", i) // 14 bytes
	}
	return b.Bytes()
}

// session is one Serve run driven by the test as the sender.
type session struct {
	t     *testing.T
	in    *io.PipeWriter
	out   *ackproto.ReplyDecoder
	hello ackproto.ReceiverHello
	done  chan error
	acks  chan ackproto.Reply
}

func start(t *testing.T, opts Options, stream string) *session {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: ackproto.NewReplyDecoder(outR), done: make(chan error, 1), acks: make(chan ackproto.Reply, 1000)}
	go func() {
		err := Serve(context.Background(), inR, outW, opts)
		inR.Close()
		outW.Close()
		s.done <- err
	}()
	if _, err := inW.Write(ackproto.AppendHello(nil, ackproto.Hello{Version: 1, Stream: stream})); err != nil {
		t.Fatal(err)
	}
	h, err := s.out.Hello()
	if err != nil {
		t.Fatalf("receiver hello: %v", err)
	}
	s.hello = h
	go func() {
		for {
			r, err := s.out.Next()
			if err != nil {
				close(s.acks)
				return
			}
			s.acks <- r
		}
	}()
	return s
}

func (s *session) send(b []byte) {
	s.t.Helper()
	if _, err := s.in.Write(b); err != nil {
		s.t.Fatalf("send: %v", err)
	}
}

// waitAck waits for an ack of at least off.
func (s *session) waitAck(off int64) {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r, ok := <-s.acks:
			if !ok {
				s.t.Fatalf("replies ended before an ack of %d", off)
			}
			if r.Type == ackproto.Error {
				s.t.Fatalf("error frame while waiting for ack %d: %s %s", off, r.Code, r.Text)
			}
			if r.Offset >= off {
				return
			}
		case <-timeout:
			s.t.Fatalf("no ack of %d", off)
		}
	}
}

// end closes the input and returns Serve's result and the last replies.
func (s *session) end() (error, []ackproto.Reply) {
	s.t.Helper()
	s.in.Close()
	var got []ackproto.Reply
	for r := range s.acks {
		got = append(got, r)
	}
	select {
	case err := <-s.done:
		return err, got
	case <-time.After(10 * time.Second):
		s.t.Fatal("Serve did not return after the input ended")
		return nil, nil
	}
}

func readState(t *testing.T, path string) state {
	t.Helper()
	b, err := os.ReadFile(StatePath(path))
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestAppendAckResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path}, streamA)
	if s.hello.Stream != "" || s.hello.Offset != 0 {
		t.Fatalf("fresh receiver hello %+v", s.hello)
	}
	all := lines(0, 3000)
	s.send(ackproto.AppendData(nil, 0, all[:14000]))
	s.send(ackproto.AppendData(nil, 14000, all[14000:]))
	s.waitAck(int64(len(all)))
	if err, _ := s.end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, all) {
		t.Fatalf("file holds %d bytes, want %d", len(got), len(all))
	}

	// The next session is told the position and may overlap it.
	s = start(t, Options{Path: path}, streamA)
	if s.hello.Stream != streamA || s.hello.Offset != int64(len(all)) {
		t.Fatalf("hello %+v, want %s at %d", s.hello, streamA, len(all))
	}
	more := lines(3000, 3010)
	s.send(ackproto.AppendData(nil, int64(len(all))-14, append(all[len(all)-14:], more...)))
	s.waitAck(int64(len(all) + len(more)))
	// A hole is a protocol error, answered with an error frame.
	s.send(ackproto.AppendData(nil, int64(len(all)+len(more))+1, []byte("x\n")))
	err, replies := s.end()
	if !errors.Is(err, ackproto.ErrProtocol) || len(replies) == 0 || replies[len(replies)-1].Code != ackproto.CodeProtocol {
		t.Errorf("hole: Serve = %v, replies %+v", err, replies)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, append(all, more...)) {
		t.Errorf("after overlap: file holds %d bytes", len(got))
	}
}

// TestTruncatedFrameDiscarded: the link dies inside a frame; nothing of it
// is written, and the position is the end of the last whole frame.
func TestTruncatedFrameDiscarded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path}, streamA)
	s.send(ackproto.AppendData(nil, 0, lines(0, 10)))
	frame := ackproto.AppendData(nil, 140, lines(10, 20))
	s.send(frame[:len(frame)-20])
	if err, _ := s.end(); err != nil {
		t.Fatalf("a frame cut by the link is a normal end: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, lines(0, 10)) {
		t.Fatalf("file %q", got)
	}
	s = start(t, Options{Path: path}, streamA)
	if s.hello.Offset != 140 {
		t.Errorf("resume at %d, want 140", s.hello.Offset)
	}
	s.end()
}

// TestCrashBetweenWriteAndState: bytes found beyond the saved size of the
// same file were written by us before a crash: they count as received.
func TestCrashBetweenWriteAndState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path}, streamA)
	s.send(ackproto.AppendData(nil, 0, lines(0, 10)))
	s.waitAck(140)
	s.end()
	st := readState(t, path)
	if st.Offset != 140 || st.Size != 140 {
		t.Fatalf("state %+v", st)
	}
	// As if a receiver had written 5 more lines and died before saving.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(lines(10, 15))
	f.Close()
	a, err := OpenAppender(path, AppenderOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if stream, pos := a.Position(); stream != streamA || pos != 15*14 {
		t.Errorf("recovered %s at %d, want %s at %d", stream, pos, streamA, 15*14)
	}
	a.Close()
}

func TestRotationByRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "remote.log")
	s := start(t, Options{Path: path}, streamA)
	s.send(ackproto.AppendData(nil, 0, lines(0, 10)))
	s.waitAck(140)
	// logrotate's "create": a new empty file appears right after the
	// rename. (Without it receive waits a second before it creates the
	// file: rotate_test.go.)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, nil, 0o640)
	s.send(ackproto.AppendData(nil, 140, lines(10, 20)))
	s.waitAck(280)
	os.Rename(path, path+".2")
	os.WriteFile(path, nil, 0o640)
	s.send(ackproto.AppendData(nil, 280, lines(20, 30)))
	s.waitAck(420)
	s.end()
	one, _ := os.ReadFile(path + ".1")
	two, _ := os.ReadFile(path + ".2")
	cur, _ := os.ReadFile(path)
	if !bytes.Equal(one, lines(0, 10)) || !bytes.Equal(two, lines(10, 20)) || !bytes.Equal(cur, lines(20, 30)) {
		t.Errorf("files: %q | %q | %q", one, two, cur)
	}

	// Rotated while no receiver ran, after a crash that left unsaved
	// bytes behind: the old file is found by its inode among the siblings.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(lines(30, 33))
	f.Close()
	os.Rename(path, path+".3")
	os.WriteFile(path, nil, 0o640)
	a, err := OpenAppender(path, AppenderOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, pos := a.Position(); pos != 33*14 {
		t.Errorf("after rotation while stopped: position %d, want %d", pos, 33*14)
	}
	a.Close()
}

func TestQuota(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path, MaxSize: 1000}, streamA)
	s.send(ackproto.AppendData(nil, 0, lines(0, 50))) // 700 bytes
	s.waitAck(700)
	s.send(ackproto.AppendData(nil, 700, lines(50, 100))) // 700 more: refused whole
	err, replies := s.end()
	var qe *QuotaError
	if !errors.As(err, &qe) {
		t.Fatalf("Serve = %v, want a QuotaError", err)
	}
	last := replies[len(replies)-1]
	if last.Type != ackproto.Error || last.Code != ackproto.CodeQuota || !strings.Contains(last.Text, "max-size") {
		t.Errorf("replies %+v", replies)
	}
	if fi, _ := os.Stat(path); fi.Size() != 700 {
		t.Errorf("file is %d bytes, want 700", fi.Size())
	}
	// Raised: everything goes through, from where it stopped.
	s = start(t, Options{Path: path, MaxSize: 10000}, streamA)
	if s.hello.Offset != 700 {
		t.Fatalf("resume at %d", s.hello.Offset)
	}
	s.send(ackproto.AppendData(nil, 700, lines(50, 100)))
	s.waitAck(1400)
	s.end()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, lines(0, 100)) {
		t.Errorf("after raising the bound: %d bytes", len(got))
	}
}

func TestNewStreamAndGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path}, streamA)
	s.send(ackproto.AppendData(nil, 0, lines(0, 10)))
	s.waitAck(140)
	s.end()
	// A reinstalled sender: a new stream, starting wherever it starts.
	s = start(t, Options{Path: path}, streamB)
	if s.hello.Stream != streamA || s.hello.Offset != 140 {
		t.Fatalf("hello %+v", s.hello)
	}
	s.send(ackproto.AppendData(nil, 5000, lines(100, 110)))
	s.waitAck(5140)
	// The sender's spool dropped data: a notice instead of it.
	s.send(ackproto.AppendGap(nil, 9000, []byte("NOTICE dropped\n")))
	s.send(ackproto.AppendData(nil, 9000, lines(200, 201)))
	s.waitAck(9014)
	s.end()
	want := append(append(append(lines(0, 10), lines(100, 110)...), "NOTICE dropped\n"...), lines(200, 201)...)
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if st := readState(t, path); st.Stream != streamB || st.Offset != 9014 || st.GapTo != nil {
		t.Errorf("state %+v", st)
	}
}

// TestGapInterrupted: a crash while the notice was being written leaves the
// pending jump in the state; the notice is not taken for stream bytes.
func TestGapInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	a, err := OpenAppender(path, AppenderOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	a.Write(streamA, 0, lines(0, 10))
	a.Sync()
	to := int64(100000)
	a.mu.Lock()
	a.saveState(&state{Version: 1, Stream: streamA, Dev: a.dev, Ino: a.ino, Size: a.size, Offset: a.pos, GapTo: &to})
	a.f.Write([]byte("NOTI")) // torn notice, then the crash
	a.mu.Unlock()
	a2, err := OpenAppender(path, AppenderOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, pos := a2.Position(); pos != to {
		t.Errorf("position %d, want %d", pos, to)
	}
	a2.Close()
}

func TestBusyForAnotherStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path}, streamA)
	inR, inW := io.Pipe()
	var out bytes.Buffer
	go inW.Write(ackproto.AppendHello(nil, ackproto.Hello{Version: 1, Stream: streamB}))
	err := Serve(context.Background(), inR, &out, Options{Path: path, Logger: testLogger(t)})
	var be *BusyError
	if !errors.As(err, &be) || be.Stream != streamA || be.Pid != os.Getpid() {
		t.Errorf("second receiver: %v", err)
	}
	if !strings.HasPrefix(out.String(), "E busy ") {
		t.Errorf("second receiver said %q", out.String())
	}
	s.end()
}

// A file a pull writes (its lock beside the file, held now or left from
// its last run, or its default cursor file) is refused with "busy", naming
// the pull, and nothing is written or created beside it.
func TestRefusesPullsOutput(t *testing.T) {
	pull := onewriter.Holder{Program: onewriter.Pull, Pid: 4242, Of: "web1:/var/log/auth.log"}
	for name, mark := range map[string]func(t *testing.T, path string){
		"pull running": func(t *testing.T, path string) {
			l, err := onewriter.Claim(path, pull)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		},
		"pull stopped": func(t *testing.T, path string) {
			l, err := onewriter.Claim(path, pull)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
		},
		"pull's cursor": func(t *testing.T, path string) {
			os.WriteFile(path+".cursor", []byte(onewriter.PullCursorPrefix+"2\nsource web1:/var/log/auth.log\n"), 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "remote.log")
			os.WriteFile(path, []byte("pulled\n"), 0o640)
			mark(t, path)
			var out bytes.Buffer
			hello := ackproto.AppendHello(nil, ackproto.Hello{Version: 1, Stream: streamA})
			err := Serve(context.Background(), bytes.NewReader(append(hello, ackproto.AppendData(nil, 0, []byte("x\n"))...)), &out, Options{Path: path, Logger: testLogger(t)})
			var other *onewriter.OtherWriterError
			if !errors.As(err, &other) || other.Other.Program != onewriter.Pull {
				t.Fatalf("Serve = %v, want an OtherWriterError naming pull", err)
			}
			if !strings.HasPrefix(out.String(), "E busy ") || !strings.Contains(out.String(), "sshlogfwd pull (from web1:/var/log/auth.log") {
				t.Fatalf("receive said %q", out.String())
			}
			if b, _ := os.ReadFile(path); string(b) != "pulled\n" {
				t.Fatalf("file %q", b)
			}
			if _, err := os.Stat(StatePath(path)); err == nil {
				t.Fatal("a state file was created beside a pull's output")
			}
		})
	}
}

func TestRefusesGarbageHello(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	var out bytes.Buffer
	err := Serve(context.Background(), strings.NewReader("cat >> /etc/passwd\n"), &out, Options{Path: path, Logger: testLogger(t)})
	if !errors.Is(err, ackproto.ErrProtocol) || !strings.HasPrefix(out.String(), "E protocol ") {
		t.Errorf("Serve = %v, said %q", err, out.String())
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("the file was created for a garbage session")
	}
}

func TestDamagedStateRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	os.WriteFile(StatePath(path), []byte("{garbage"), 0o600)
	if _, err := OpenAppender(path, AppenderOptions{}); !errors.Is(err, ErrDamagedState) {
		t.Errorf("OpenAppender with a damaged state: %v", err)
	}
}

// TestStateSavedWhenQuiet: once the input pauses, the state file catches
// up with what is synced, without waiting for the end of the session.
func TestStateSavedWhenQuiet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	s := start(t, Options{Path: path, Fsync: 50 * time.Millisecond}, streamA)
	for i := range 5 {
		s.send(ackproto.AppendData(nil, int64(i*140), lines(i*10, i*10+10)))
	}
	s.waitAck(700)
	deadline := time.Now().Add(5 * time.Second)
	for readState(t, path).Offset != 700 {
		if time.Now().After(deadline) {
			t.Fatalf("state %+v while quiet, want offset 700", readState(t, path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.end()
}
