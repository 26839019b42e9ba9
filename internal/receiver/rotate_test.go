package receiver

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// The file after a rotation: receive waits for logrotate's create instead
// of racing it (openSuccessor). Time is a fake clock; the tests play
// logrotate.

func rotateClock() *clock.Fake { return clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) }

// openRotateTest opens an appender on a new file with lines 0-9 in it.
func openRotateTest(t *testing.T, fc *clock.Fake) (*Appender, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "remote.log")
	a, err := OpenAppender(path, AppenderOptions{Clock: fc, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Write(streamA, 0, lines(0, 10)); err != nil {
		t.Fatal(err)
	}
	return a, path
}

// writeAsync runs a.Write of lines 10-19 in a goroutine.
func writeAsync(a *Appender) <-chan error {
	done := make(chan error, 1)
	go func() { done <- a.Write(streamA, 140, lines(10, 20)) }()
	return done
}

// sleepingOrDone waits until the appender sleeps on fc (false) or done
// delivers (true, with its error).
func sleepingOrDone(fc *clock.Fake, done <-chan error) (bool, error) {
	for {
		select {
		case err := <-done:
			return true, err
		default:
		}
		if fc.Waiters() > 0 {
			return false, nil
		}
		runtime.Gosched()
	}
}

// driveUntilDone advances fc a poll at a time while the appender sleeps,
// calling check before each step with the time waited so far, until done
// delivers; it returns done's error and the time waited.
func driveUntilDone(t *testing.T, fc *clock.Fake, done <-chan error, check func(waited time.Duration)) (error, time.Duration) {
	t.Helper()
	start := fc.Now()
	for {
		finished, err := sleepingOrDone(fc, done)
		if finished {
			return err, fc.Now().Sub(start)
		}
		if fc.Now().Sub(start) > 2*recreateWait {
			t.Fatalf("still waiting after %v", fc.Now().Sub(start))
		}
		if check != nil {
			check(fc.Now().Sub(start))
		}
		fc.Advance(recreatePoll)
	}
}

// logrotateCreate makes the new file the way logrotate's create does:
// O_EXCL, so it fails if the file is there already.
func logrotateCreate(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		t.Fatalf("logrotate's create: %v (receive created the file first: logrotate would rename it to a .backup)", err)
	}
	f.Close()
}

func wantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", filepath.Base(path), got, want)
	}
}

// TestRotationWaitsForLogrotatesCreate: the file renamed away, the next
// write waits; logrotate's create half-way through the wait succeeds, and
// the lines go into logrotate's file.
func TestRotationWaitsForLogrotatesCreate(t *testing.T) {
	fc := rotateClock()
	a, path := openRotateTest(t, fc)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	done := writeAsync(a)
	created := false
	err, _ := driveUntilDone(t, fc, done, func(waited time.Duration) {
		if _, err := os.Stat(path); err == nil && !created {
			t.Fatalf("receive created the file after %v, within the wait", waited)
		}
		if waited >= recreateWait/2 && !created {
			logrotateCreate(t, path)
			created = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("the write did not wait for logrotate's create")
	}
	wantFile(t, path+".1", lines(0, 10))
	wantFile(t, path, lines(10, 20))
	if a.Rotations() != 1 {
		t.Errorf("rotations %d, want 1", a.Rotations())
	}
}

// TestRotationWithoutCreate: nothing creates the file (logrotate with
// nocreate, an administrator's mv): receive creates it once the wait is
// over, not before.
func TestRotationWithoutCreate(t *testing.T) {
	fc := rotateClock()
	a, path := openRotateTest(t, fc)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	err, waited := driveUntilDone(t, fc, writeAsync(a), func(waited time.Duration) {
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("receive created the file after %v, within the wait", waited)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if waited < recreateWait {
		t.Errorf("receive created the file after %v, want the whole wait of %v", waited, recreateWait)
	}
	wantFile(t, path+".1", lines(0, 10))
	wantFile(t, path, lines(10, 20))
}

// swapOpen replaces the data file's open for one test.
func swapOpen(t *testing.T, open func(name string, flag int, perm os.FileMode) (*os.File, error)) {
	orig := openData
	openData = open
	t.Cleanup(func() { openData = orig })
}

// TestRotationCreateRaced: nothing appears during the wait, and then
// logrotate creates the file in the very moment receive creates it:
// receive's O_EXCL fails and it opens logrotate's file instead of taking
// it over.
func TestRotationCreateRaced(t *testing.T) {
	fc := rotateClock()
	a, path := openRotateTest(t, fc)
	var theirs fs.FileInfo
	swapOpen(t, func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if flag&os.O_EXCL != 0 {
			logrotateCreate(t, name)
			theirs, _ = os.Stat(name)
		}
		return os.OpenFile(name, flag, perm)
	})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err, _ := driveUntilDone(t, fc, writeAsync(a), nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); theirs == nil || err != nil || !os.SameFile(fi, theirs) {
		t.Errorf("the file at the path is not the one logrotate created")
	}
	wantFile(t, path, lines(10, 20))
}

// TestRotationCreatedRootOnly: logrotate (as root) creates the file 0600
// and only then hands it to the receiving account; meanwhile receive's
// open is refused. It tries again within the wait; past it, the refusal
// is the write's error.
func TestRotationCreatedRootOnly(t *testing.T) {
	for _, refusals := range []int{3, 1 << 30} {
		fc := rotateClock()
		a, path := openRotateTest(t, fc)
		left := refusals
		swapOpen(t, func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if left > 0 && flag&os.O_CREATE == 0 {
				left--
				return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
			}
			return os.OpenFile(name, flag, perm)
		})
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		logrotateCreate(t, path)
		err, waited := driveUntilDone(t, fc, writeAsync(a), nil)
		switch {
		case refusals == 3 && err != nil:
			t.Errorf("refused 3 times, then allowed: %v", err)
		case refusals == 3:
			wantFile(t, path, lines(10, 20))
		case !errors.Is(err, fs.ErrPermission) || waited < recreateWait:
			t.Errorf("refused for good: after %v the write returned %v, want the refusal after the wait", waited, err)
		}
	}
}

// TestStartWaitsForLogrotatesCreate: receive starts (a new connection)
// after the file was renamed away and before logrotate's create. With a
// saved position it waits for the create, opens logrotate's file and
// continues the stream at its position (found in the renamed file).
func TestStartWaitsForLogrotatesCreate(t *testing.T) {
	fc := rotateClock()
	a, path := openRotateTest(t, fc)
	a.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var b *Appender
	go func() {
		var err error
		b, err = OpenAppender(path, AppenderOptions{Clock: fc, Logger: testLogger(t)})
		done <- err
	}()
	created := false
	err, _ := driveUntilDone(t, fc, done, func(waited time.Duration) {
		if waited >= recreateWait/2 && !created {
			logrotateCreate(t, path)
			created = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !created {
		t.Fatalf("receive did not wait for logrotate's create")
	}
	if stream, pos := b.Position(); stream != streamA || pos != 140 {
		t.Errorf("position %s %d, want %s 140", stream, pos, streamA)
	}
	if err := b.Write(streamA, 140, lines(10, 20)); err != nil {
		t.Fatal(err)
	}
	wantFile(t, path, lines(10, 20))
}
