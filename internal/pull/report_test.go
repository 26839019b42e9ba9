package pull

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// fakeSSH writes an "ssh" that ignores its arguments, sends a start frame
// and data (n lines of 20 bytes, one data frame per 100 lines) as serve
// would, and then waits for its input to end, as serve does. With hold,
// the data waits until release is called.
func fakeSSH(t *testing.T, n int, hold bool) (path string, data []byte, release func()) {
	t.Helper()
	dir := t.TempDir()
	var head, frames bytes.Buffer
	enc := stream.NewEncoder(&head)
	enc.Version()
	enc.Start(tailer.Cursor{Dev: 1, Ino: 2}, stream.HowStart)
	enc = stream.NewEncoder(&frames)
	for i := 0; i < n; i += 100 {
		var chunk []byte
		for j := i; j < min(i+100, n); j++ {
			chunk = fmt.Appendf(chunk, "pulled line %07d\n", j)
		}
		data = append(data, chunk...)
		enc.Data(tailer.Cursor{Dev: 1, Ino: 2, Offset: int64(len(data))}, chunk)
	}
	more := filepath.Join(dir, "more")
	release = func() {}
	if hold {
		if err := unix.Mkfifo(more, 0o600); err != nil {
			t.Fatal(err)
		}
		release = func() {
			go os.WriteFile(more, frames.Bytes(), 0) // blocks until the script reads
		}
	} else {
		os.WriteFile(more, frames.Bytes(), 0o600)
	}
	os.WriteFile(filepath.Join(dir, "head"), head.Bytes(), 0o600)
	path = filepath.Join(dir, "ssh")
	script := "#!/bin/sh\ncat " + filepath.Join(dir, "head") + " " + more + "\ncat >/dev/null # the shell keeps standard output open until the input ends\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, data, release
}

// pullRun is a pull through the fake ssh, on a fake clock, with a real
// notification socket (watchdog 4 s) and a metrics sink.
type pullRun struct {
	clk    *clock.Fake
	notify *testlab.NotifyListener
	sink   *testlab.MetricsRecorder
	opts   Options
	*testlab.Background
}

func newPullRun(t *testing.T, ssh, output string) *pullRun {
	r := &pullRun{clk: clock.NewFake(t0), notify: testlab.ListenNotify(t, false), sink: &testlab.MetricsRecorder{}}
	dir := t.TempDir()
	r.opts = Options{
		Src: execssh.Dest{Host: "web1", Path: "/var/log/auth.log"}, SSH: ssh, RemoteBinary: "sshlogfwd", From: "start",
		Output: output, CursorPath: filepath.Join(dir, "cursor"), DrainTimeout: 10 * time.Second,
		Notify: r.notify.Notifier(t, 4*time.Second), Metrics: r.sink, MetricsEvery: time.Hour,
		Clock: r.clk, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	return r
}

// start starts the run; Cancel and Stop end it (testlab.Background).
func (r *pullRun) start(t *testing.T) {
	r.Background = testlab.Go(t, func(ctx context.Context) error { return Run(ctx, r.opts) })
}

// testWriter is the log as t.Log lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestPullNotifiesAndCounts: READY=1 first, once the output and the
// cursor are open; the state line names the source and what arrived;
// WATCHDOG=1 comes from the report passes; STOPPING=1 on the stop; and
// the final metrics count exactly what the far side sent.
func TestPullNotifiesAndCounts(t *testing.T) {
	const n = 5000
	ssh, data, _ := fakeSSH(t, n, false)
	out := filepath.Join(t.TempDir(), "out.log")
	r := newPullRun(t, ssh, out)
	r.start(t)
	first := r.notify.Next(t, hang)
	if st, _ := testlab.Assignment(first, "STATUS"); !strings.HasPrefix(first, "READY=1\n") || !strings.HasPrefix(st, "web1:/var/log/auth.log: ") {
		t.Fatalf("first message %q, want READY=1 with the source", first)
	}
	testlab.WaitFor(t, hang, func() bool { b, _ := os.ReadFile(out); return len(b) == len(data) }, "all data in the output")
	r.notify.AwaitAdvancing(t, r.clk, "STATUS=web1:/var/log/auth.log: connected, received 97.7 KiB, last data ")
	r.notify.AwaitAdvancing(t, r.clk, "WATCHDOG=1")
	r.Cancel()
	r.notify.Await(t, hang, "STOPPING=1", func(m string) bool { return strings.HasPrefix(m, "STOPPING=1\n") })
	r.Stop(t, hang)
	src := "web1:/var/log/auth.log"
	for name, want := range map[string]float64{
		"sshlogfwd_pull_received_bytes_total":  float64(len(data)),
		"sshlogfwd_pull_received_frames_total": 1 + n/100, // start + data
		"sshlogfwd_pull_reconnects_total":      0,
		"sshlogfwd_pull_cursor_offset_bytes":   float64(len(data)),
	} {
		if got := r.sink.Value(t, name, "src", src); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := r.sink.Value(t, "sshlogfwd_pull_last_data_timestamp_seconds", "src", src); got < float64(t0.Unix()) {
		t.Errorf("sshlogfwd_pull_last_data_timestamp_seconds = %v, want the time the data came", got)
	}
}

// TestPullCompatNotifiesAndCounts: with --compat (tail -F, no stream
// frames) the data alone says the connection is up; the state line and
// the metrics count it and know when it came.
func TestPullCompatNotifiesAndCounts(t *testing.T) {
	dir := t.TempDir()
	data := []byte("compat line 1\ncompat line 2\n")
	os.WriteFile(filepath.Join(dir, "data"), data, 0o600)
	ssh := filepath.Join(dir, "ssh")
	script := "#!/bin/sh\ncat " + filepath.Join(dir, "data") + "\ncat >/dev/null # like tail -F, it does not end on its own\n"
	if err := os.WriteFile(ssh, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.log")
	r := newPullRun(t, ssh, out)
	r.opts.Compat, r.opts.CursorPath, r.opts.From = true, "", ""
	r.start(t)
	if first := r.notify.Next(t, hang); !strings.HasPrefix(first, "READY=1\n") {
		t.Fatalf("first message %q, want READY=1", first)
	}
	testlab.WaitFor(t, hang, func() bool { b, _ := os.ReadFile(out); return len(b) == len(data) }, "all data in the output")
	m := r.notify.AwaitAdvancing(t, r.clk, "STATUS=web1:/var/log/auth.log: connected, received 28 B, last data ")
	if strings.Contains(m, "last data never") {
		t.Errorf("state line %q: the data's time is not known", m)
	}
	r.Stop(t, hang)
	src := "web1:/var/log/auth.log"
	if got := r.sink.Value(t, "sshlogfwd_pull_received_bytes_total", "src", src); got != float64(len(data)) {
		t.Errorf("sshlogfwd_pull_received_bytes_total = %v, want %d", got, len(data))
	}
	if got := r.sink.Value(t, "sshlogfwd_pull_last_data_timestamp_seconds", "src", src); got < float64(t0.Unix()) {
		t.Errorf("sshlogfwd_pull_last_data_timestamp_seconds = %v, want the time the data came", got)
	}
}

// TestPullWatchdogStopsWhenWedged: while a write to the output hangs (the
// output is a pipe nobody reads, as a hung disk would hold it), the
// report pass cannot take the sink's lock and no watchdog ping comes; the
// first pass after the write got through pings.
func TestPullWatchdogStopsWhenWedged(t *testing.T) {
	ssh, data, release := fakeSSH(t, 10000, true) // 200 KB, beyond a pipe's 64 KiB
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	stdout := os.Stdout
	os.Stdout = pw // standard output is the output when none is given
	// Restored only once the run has ended (cleanups run last in, first
	// out; the run's own stop is registered after this): the run reads
	// os.Stdout, and nothing else orders that read before a restore.
	t.Cleanup(func() { os.Stdout = stdout })
	r := newPullRun(t, ssh, "")
	r.start(t)
	r.notify.Next(t, hang)                          // READY=1
	r.notify.AwaitAdvancing(t, r.clk, "WATCHDOG=1") // the pass runs
	release()
	testlab.WaitFor(t, hang, func() bool { return pipe.Queued(pr) >= 60000 }, "the output pipe to fill")
	// A pass or two may still get through before the next write starts;
	// once it hangs, the pings stop: ten seconds on the clock (watchdog
	// 4 s) without a message. Absence can only be checked for a while:
	// a ping from anywhere but the pass would come within it.
	quiet := 0
	for i := 0; i < 30 && quiet < 10; i++ {
		r.clk.Advance(time.Second)
		if _, ok := r.notify.TryNext(100 * time.Millisecond); ok {
			quiet = 0
		} else {
			quiet++
		}
	}
	if quiet < 10 {
		t.Fatalf("the pings went on while the output hangs")
	}
	got := make(chan int, 1)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for len(all) < len(data) {
			k, err := pr.Read(buf)
			all = append(all, buf[:k]...)
			if err != nil {
				break
			}
		}
		got <- len(all)
	}()
	if m := r.notify.Next(t, hang); !strings.Contains(m, "WATCHDOG=1") {
		t.Errorf("the first message after the write got through is %q, want a ping", m)
	}
	if n := <-got; n != len(data) {
		t.Errorf("output got %d bytes, want %d", n, len(data))
	}
}
