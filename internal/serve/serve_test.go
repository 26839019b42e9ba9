package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// hang bounds every wait: it only catches a hang, nothing waits this long
// when the code works.
const hang = 10 * time.Second

const hb = 500 * time.Millisecond

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// client is one Run driven by the test as the pulling side: it holds
// serve's input open and decodes its output.
type client struct {
	t      *testing.T
	clk    *clock.Fake
	frames chan stream.Frame
	in     *io.PipeWriter
	done   chan error
}

// serveTest runs serve on path for req, its output a pipe as under sshd
// (the payloads go through splice(2)); more, if given, changes the
// options.
func serveTest(t *testing.T, path string, req request.ServeRequest, more ...func(*Options)) *client {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return serveTo(t, path, req, outR, outW, more...)
}

// serveTo is serveTest writing to outW, read from outR.
func serveTo(t *testing.T, path string, req request.ServeRequest, outR io.ReadCloser, outW io.WriteCloser, more ...func(*Options)) *client {
	t.Helper()
	inR, inW := io.Pipe()
	c := &client{t: t, clk: clock.NewFake(time.Unix(1_000_000, 0)), frames: make(chan stream.Frame, 100), in: inW, done: make(chan error, 1)}
	opts := Options{Path: path, Request: req, Heartbeat: hb, Clock: c.clk, Logger: testLogger(t)}
	for _, f := range more {
		f(&opts)
	}
	go func() {
		err := Run(context.Background(), inR, outW, opts)
		outW.Close()
		c.done <- err
	}()
	go func() {
		defer close(c.frames)
		dec := stream.NewDecoder(outR)
		for {
			f, err := dec.Next()
			if err != nil {
				return
			}
			f.Data = append([]byte(nil), f.Data...)
			c.frames <- f
		}
	}()
	t.Cleanup(func() {
		inW.Close() // the client goes away: serve must stop
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(hang):
			t.Errorf("Run did not return %v after its input ended (hang)", hang)
		}
		outR.Close()
	})
	return c
}

// next is the next frame serve wrote.
func (c *client) next() stream.Frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("stream ended")
		}
		return f
	case <-time.After(hang):
		c.t.Fatalf("no frame within %v (hang)", hang)
	}
	return stream.Frame{}
}

// waitTimer waits until serve has armed its heartbeat timer.
func (c *client) waitTimer() {
	c.t.Helper()
	armed := make(chan struct{})
	go func() {
		c.clk.WaitForWaiters(1)
		close(armed)
	}()
	select {
	case <-armed:
	case <-time.After(hang):
		c.t.Fatalf("no heartbeat timer armed on the clock within %v (hang)", hang)
	}
}

// start reads the start frame and checks it.
func (c *client) start(want tailer.Cursor, how stream.How) {
	c.t.Helper()
	f := c.next()
	if f.Type != stream.Start || f.Cursor != want || f.How != how {
		c.t.Fatalf("first frame %v %v %q, want start %v %q", f.Type, f.Cursor, f.How, want, how)
	}
}

// data reads a data frame and checks its bytes and end.
func (c *client) data(want string, end tailer.Cursor) {
	c.t.Helper()
	f := c.next()
	if f.Type != stream.Data || string(f.Data) != want || f.Cursor != end {
		c.t.Fatalf("frame %v %v %q, want data %v %q", f.Type, f.Cursor, f.Data, end, want)
	}
}

func writeFile(t *testing.T, path, content string) fsutil.ID {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return idOf(t, path)
}

func idOf(t *testing.T, path string) fsutil.ID {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fsutil.IDOf(fi)
	return id
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func at(id fsutil.ID, off int64) tailer.Cursor {
	return tailer.Cursor{Dev: id.Dev, Ino: id.Ino, Offset: off}
}

// A cursor into the file at PATH resumes right after it.
func TestStartResumesInPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	id := writeFile(t, path, "one\ntwo\n")
	cur := at(id, 4)
	c := serveTest(t, path, request.ServeRequest{Cursor: &cur, From: "end"})
	c.start(cur, stream.HowResume)
	c.data("two\n", at(id, 8))
}

// A cursor into a file rotated to PATH.1 resumes there, then goes on in
// the new file at PATH.
func TestStartResumesInRotatedSibling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	old := writeFile(t, path, "one\ntwo\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	cur := writeFile(t, path, "three\n")
	from := at(old, 4)
	c := serveTest(t, path, request.ServeRequest{Cursor: &from})
	c.start(from, stream.HowResume)
	c.data("two\n", at(old, 8))
	if f := c.next(); f.Type != stream.Rotated || f.Cursor != at(cur, 0) {
		t.Fatalf("frame %v %v, want rotated to %v", f.Type, f.Cursor, at(cur, 0))
	}
	c.data("three\n", at(cur, 6))
}

// A cursor whose file is nowhere to be found starts at the beginning of
// the current file and says so (lost).
func TestStartLostCursor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	id := writeFile(t, path, "all of it\n")
	gone := tailer.Cursor{Dev: id.Dev, Ino: id.Ino + 1_000_003, Offset: 3}
	c := serveTest(t, path, request.ServeRequest{Cursor: &gone})
	c.start(at(id, 0), stream.HowLost)
	c.data("all of it\n", at(id, 10))
}

// A fresh start names the exact position: offset 0 for start, the size for
// end; from the end only what is written later is sent.
func TestStartFresh(t *testing.T) {
	for _, tc := range []struct {
		from string
		how  stream.How
		off  int64
		want string
	}{
		{"start", stream.HowStart, 0, "old\nnew\n"},
		{"end", stream.HowEnd, 4, "new\n"},
	} {
		t.Run(tc.from, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.log")
			id := writeFile(t, path, "old\n")
			c := serveTest(t, path, request.ServeRequest{From: tc.from})
			c.start(at(id, tc.off), tc.how)
			appendFile(t, path, "new\n")
			var got string
			for len(got) < len(tc.want) {
				got += string(c.next().Data)
			}
			if got != tc.want {
				t.Fatalf("data %q, want %q", got, tc.want)
			}
		})
	}
}

// A missing file is waited for at the zero cursor and read from its first
// byte once it appears.
func TestStartMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	c := serveTest(t, path, request.ServeRequest{From: "end"})
	c.start(tailer.Cursor{}, stream.HowWait)
	id := writeFile(t, path, "first\n")
	c.data("first\n", at(id, 6))
}

// While the file is idle, a heartbeat goes out one interval after the last
// frame, not before.
func TestHeartbeatWhileIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	id := writeFile(t, path, "")
	c := serveTest(t, path, request.ServeRequest{From: "end"})
	c.start(at(id, 0), stream.HowEnd)

	c.waitTimer()
	c.clk.Advance(hb - time.Millisecond)
	appendFile(t, path, "a\n")
	c.data("a\n", at(id, 2)) // no heartbeat came before it

	c.waitTimer()
	c.clk.Advance(hb - time.Millisecond)
	appendFile(t, path, "b\n")
	c.data("b\n", at(id, 4)) // the data restarted the interval

	for range 2 {
		c.waitTimer()
		c.clk.Advance(hb)
		if f := c.next(); f.Type != stream.Heartbeat {
			t.Fatalf("frame %v after an idle interval, want a heartbeat", f.Type)
		}
	}
}

// serve ends without an error when its input ends (the client closed it),
// and a refused start is an error naming the path.
func TestRunEndsWithInputAndReportsBadFile(t *testing.T) {
	dir := t.TempDir()
	err := Run(context.Background(), strings.NewReader(""), io.Discard, Options{Path: dir, Request: request.ServeRequest{From: "end"}})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("serving a directory: err = %v, want an error naming it", err)
	}
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "x\n")
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), strings.NewReader(""), io.Discard, Options{Path: path, Request: request.ServeRequest{From: "start"}})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after the input ended: %v", err)
		}
	case <-time.After(hang):
		t.Fatal("Run did not return after its input ended (hang)")
	}
}

// Payloads moved with splice(2) (serve's output a pipe, as under sshd)
// and payloads read and written (any other writer) make the same stream:
// the same bytes, each frame ending at the cursor after its bytes. Through
// the pipe a frame carries up to a pipeful, larger than a read.
func TestSpliceAndCopySendTheSameStream(t *testing.T) {
	var content bytes.Buffer
	for i := 0; content.Len() < 3<<20; i++ {
		fmt.Fprintf(&content, "line %07d of the log, with some words after the number\n", i)
	}
	more := "appended after the start\n"
	want := content.String() + more
	run := func(t *testing.T, outR io.ReadCloser, outW io.WriteCloser) (largest int) {
		path := filepath.Join(t.TempDir(), "x.log")
		id := writeFile(t, path, content.String())
		c := serveTo(t, path, request.ServeRequest{From: "start"}, outR, outW)
		c.start(at(id, 0), stream.HowStart)
		var got []byte
		for len(got) < len(want) {
			if len(got) == content.Len() {
				appendFile(t, path, more)
			}
			f := c.next()
			if f.Type == stream.Heartbeat {
				continue
			}
			got = append(got, f.Data...)
			if f.Type != stream.Data || f.Cursor != at(id, int64(len(got))) {
				t.Fatalf("frame %v ending at %v after %d bytes", f.Type, f.Cursor, len(got))
			}
			largest = max(largest, len(f.Data))
		}
		if string(got) != want {
			t.Fatalf("got %d bytes, not the file's %d", len(got), len(want))
		}
		return largest
	}
	t.Run("copy", func(t *testing.T) {
		outR, outW := io.Pipe()
		if n := run(t, outR, outW); n > tailer.DefaultBufSize {
			t.Errorf("a frame of %d bytes without the payload pipe", n)
		}
	})
	t.Run("splice", func(t *testing.T) {
		outR, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if n := run(t, outR, outW); n <= tailer.DefaultBufSize {
			t.Errorf("largest frame %d bytes: the payloads were read, not moved through the pipe", n)
		}
	})
}
