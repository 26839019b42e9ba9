package pipe

import (
	"context"
	"os"
	"testing"
	"time"
)

// WatchHangup notices that the reading end of our output pipe is gone
// although nothing is written: the forced command's client died.
func TestWatchHangupNoticesClosedReader(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	hungUp := make(chan struct{})
	go WatchHangup(context.Background(), int(w.Fd()), func() { close(hungUp) })
	r.Close()
	select {
	case <-hungUp:
	case <-time.After(10 * time.Second): // only catches a hang
		t.Fatal("hang-up of the reader not noticed within 10 s (a hang)")
	}
}

func TestWatchHangupReturnsWhenContextEnds(t *testing.T) {
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		WatchHangup(ctx, int(w.Fd()), func() { t.Error("cancel called while the reader is there") })
		close(returned)
	}()
	cancel()
	select {
	case <-returned:
	case <-time.After(10 * time.Second): // only catches a hang
		t.Fatal("WatchHangup did not return after its context ended (a hang)")
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
