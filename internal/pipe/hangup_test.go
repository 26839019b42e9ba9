package pipe

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// watchHangup notices that the reading end of our output pipe is gone
// although nothing is written: the forced command's client died.
func TestWatchHangupNoticesClosedReader(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	hungUp := make(chan struct{})
	go watchHangup(context.Background(), int(w.Fd()), func() { close(hungUp) })
	r.Close()
	waitClosed(t, hungUp, "hang-up of the reader noticed")
}

func TestWatchHangupReturnsWhenContextEnds(t *testing.T) {
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		watchHangup(ctx, int(w.Fd()), func() { t.Error("cancel called while the reader is there") })
		close(returned)
	}()
	cancel()
	waitClosed(t, returned, "watchHangup returned after its context ended")
}

// WatchHangupOf takes the descriptor from the writer it is given (serve's
// out), without f.Fd(): the pipe stays on the runtime poller.
func TestWatchHangupOfNoticesClosedReader(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	hungUp := make(chan struct{})
	go WatchHangupOf(context.Background(), w, func() { close(hungUp) })
	r.Close()
	waitClosed(t, hungUp, "hang-up of the reader noticed")
	if n, err := w.Write([]byte("x")); n != 0 || !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write after the hang-up: %d, %v; want EPIPE (the writer still works as before)", n, err)
	}
}

// WatchHangupOf of a writer without a descriptor (a test's io.Pipe)
// returns at once, without cancelling: writes will tell.
func TestWatchHangupOfWithoutDescriptor(t *testing.T) {
	_, w := io.Pipe()
	returned := make(chan struct{})
	go func() {
		WatchHangupOf(context.Background(), w, func() { t.Error("cancel called for a writer without a descriptor") })
		close(returned)
	}()
	waitClosed(t, returned, "WatchHangupOf returned for a writer without a descriptor")
}

// waitClosed waits for ch to be closed; what says what that means.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second): // only catches a hang
		t.Fatalf("not within 10 s (a hang): %s", what)
	}
}

func TestGrowEnlargesAPipe(t *testing.T) {
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if got := Grow(w, 256<<10); got < 256<<10 {
		t.Fatalf("pipe size %d after Grow(256KiB)", got)
	}
	if got := Grow(struct{}{}, 1<<20); got != 0 {
		t.Fatalf("Grow of a non-pipe = %d, want 0", got)
	}
}

// TestGrowNeverShrinks: a pipe already larger than asked for (a socket
// unit's PipeSize=, an earlier push) keeps its size and what is in it.
func TestGrowNeverShrinks(t *testing.T) {
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	Grow(w, 256<<10)
	w.Write(make([]byte, 10<<10))
	if got := Grow(w, 64<<10); got < 256<<10 {
		t.Fatalf("pipe size %d after Grow(64KiB) of a 256 KiB pipe, want it kept", got)
	}
}
