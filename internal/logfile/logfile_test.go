package logfile

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hang bounds waits that only fail when something hangs.
const hang = 10 * time.Second

// TestReopenAfterRename: after logrotate renamed the file, Reopen makes a
// new one under the old name and later writes go there only.
func TestReopenAfterRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sshlogfwd.log")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("before\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("still old\n"))
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("after\n"))
	if got, _ := os.ReadFile(path + ".1"); string(got) != "before\nstill old\n" {
		t.Errorf("rotated file holds %q", got)
	}
	if got, _ := os.ReadFile(path); string(got) != "after\n" {
		t.Errorf("new file holds %q", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("new file mode %v, want 0640", fi.Mode().Perm())
	}
}

// TestOpenFIFONobodyReads: a FIFO without a reader is refused at once
// (ENXIO, with what to give instead), never a blocked open.
func TestOpenFIFONobodyReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if !errors.Is(err, syscall.ENXIO) || !strings.Contains(err.Error(), "give a regular file") {
		t.Fatalf("Open(FIFO without reader) = %v, want ENXIO saying what to give", err)
	}
}

// TestStandardError: "" is standard error, which Reopen and Close leave
// alone.
func TestStandardError(t *testing.T) {
	f, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if f.f != os.Stderr {
		t.Fatal("Open(\"\") is not standard error")
	}
	if err := f.Reopen(); err != nil || f.f != os.Stderr {
		t.Errorf("Reopen on standard error: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close on standard error: %v", err)
	}
}

// TestReopenerReopensEveryFileOnSignal: one signal reopens every file
// added, and a failure is logged with the flag's name.
func TestReopenerReopensEveryFileOnSignal(t *testing.T) {
	hup := make(chan os.Signal)
	var logged bytes.Buffer
	done := make(chan struct{})
	r := NewReopener(hup, slog.New(slog.NewTextHandler(&syncWriter{w: &logged, done: done, after: "reopened files"}, nil)))
	calls := map[string]int{}
	r.Add("--log", ReopenFunc(func() error { calls["--log"]++; return nil }))
	r.Add("--output", ReopenFunc(func() error { calls["--output"]++; return errors.New("disk gone") }))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { r.Run(ctx); close(stopped) }()
	hup <- syscall.SIGHUP
	select {
	case <-done:
	case <-time.After(hang):
		t.Fatal("hang: no reopen logged")
	}
	cancel()
	<-stopped
	if calls["--log"] != 1 || calls["--output"] != 1 {
		t.Errorf("reopen calls %v, want one each", calls)
	}
	if !strings.Contains(logged.String(), `flag=--output err="disk gone"`) {
		t.Errorf("failure not logged with its flag: %s", logged.String())
	}
}

// syncWriter closes done once a write contains after.
type syncWriter struct {
	w     *bytes.Buffer
	done  chan struct{}
	after string
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.w.Write(p)
	if strings.Contains(string(p), s.after) {
		close(s.done)
	}
	return len(p), nil
}
