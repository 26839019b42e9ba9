package pipe

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hang bounds the waits below: it only catches a hang.
const hang = 10 * time.Second

// pattern is the stream's bytes from offset base on: every byte says where
// it belongs.
func pattern(base int64, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((base + int64(i)) % 251)
	}
	return p
}

// TestFeedCountsWhatThePipeTook: while the pipe is full and its reader
// has stopped, the count is exactly what the reader got plus what waits
// in the pipe; at the end it is all of p, delivered in order.
func TestFeedCountsWhatThePipeTook(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	p := pattern(0, 300<<10) // the pipe holds 64 KiB
	var taken int64
	fed := make(chan error, 1)
	go func() { fed <- Feed(w, p, &taken) }()
	first := make([]byte, 10000)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(hang)
	for {
		queued := 0
		rc, _ := r.SyscallConn()
		rc.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		if n := atomic.LoadInt64(&taken); n == int64(len(first)+queued) && queued > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hang: count %d never matched what the pipe took (%d read)", atomic.LoadInt64(&taken), len(first))
		}
	}
	rest, err := io.ReadAll(io.LimitReader(r, int64(len(p)-len(first))))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); !bytes.Equal(got, p) {
		t.Errorf("reader got %d bytes, not the %d fed in order", len(got), len(p))
	}
	if taken != int64(len(p)) {
		t.Errorf("count %d at the end, want %d", taken, len(p))
	}
}

// TestFeedKeepsEachBatch: a batch still in the pipe keeps its bytes while
// the next one is fed (the pipe holds references to the memory file's
// pages, which must not be written again).
func TestFeedKeepsEachBatch(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var want []byte
	fed := make(chan error, 1)
	go func() {
		for i := range 4 { // 160 KiB into a 64 KiB pipe nobody reads yet
			p := pattern(int64(i)*40<<10, 40<<10)
			var taken int64
			if err := Feed(w, p, &taken); err != nil {
				fed <- err
				return
			}
		}
		fed <- nil
	}()
	for i := range 4 {
		want = append(want, pattern(int64(i)*40<<10, 40<<10)...)
	}
	got, err := io.ReadAll(io.LimitReader(r, int64(len(want))))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Errorf("reader got other bytes than fed, from offset %d on", i)
	}
}

// TestFeedNotAPipe: a writer that is not a descriptor is left to the
// caller, untouched.
func TestFeedNotAPipe(t *testing.T) {
	var b bytes.Buffer
	var taken int64
	if err := Feed(&b, []byte("line\n"), &taken); err != ErrNotPipe || b.Len() != 0 {
		t.Errorf("Feed into a buffer: %v, wrote %q", err, b.String())
	}
}

// TestFeedCountSurvivesKill: a process feeding its standard output, with
// the count in a file mapped shared, killed -9 at random moments: the
// count in the file is always exactly what came out of the pipe.
func TestFeedCountSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 processes")
	}
	for round := range 30 {
		rec := filepath.Join(t.TempDir(), "count")
		if err := os.WriteFile(rec, make([]byte, 16), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFeedChild$")
		cmd.Env = append(os.Environ(), "FEEDER_CHILD_RECORD="+rec)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it after a random amount of output, in mid-stream.
		check := &patternCheck{bad: -1}
		got, err := io.CopyN(check, out, 1+rand.Int64N(1<<20))
		if err != nil {
			t.Fatalf("round %d: child output ended early: %v", round, err)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		n, _ := io.Copy(check, out)
		got += n
		cmd.Wait()
		if check.bad >= 0 {
			t.Fatalf("round %d: byte %d out of the pipe is not the one fed there", round, check.bad)
		}
		b, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		base, adv := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		if base+adv != got {
			t.Fatalf("round %d: the count says %d+%d=%d, the pipe gave %d", round, base, adv, base+adv, got)
		}
	}
}

// TestFeedChild is the child of TestFeedCountSurvivesKill: it feeds
// batches into its standard output forever, each counted in the record
// file as its start (written first) and the count of it taken.
func TestFeedChild(t *testing.T) {
	rec := os.Getenv("FEEDER_CHILD_RECORD")
	if rec == "" {
		t.Skip("child of TestFeedCountSurvivesKill")
	}
	rf, err := os.OpenFile(rec, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(rf.Fd()), 0, 16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	taken := (*int64)(unsafe.Pointer(&m[8]))
	// Non-blocking, as os.Pipe makes the pipes into children, so that
	// os.NewFile puts it on the poller.
	if err := unix.SetNonblock(1, true); err != nil {
		t.Fatal(err)
	}
	stdout := os.NewFile(1, "stdout")
	var start [16]byte
	for base := int64(0); ; {
		p := pattern(base, 1+rand.IntN(100<<10))
		binary.LittleEndian.PutUint64(start[:], uint64(base))
		if _, err := rf.WriteAt(start[:], 0); err != nil { // the start, count 0
			t.Fatal(err)
		}
		if err := Feed(stdout, p, taken); err != nil {
			t.Fatal(err)
		}
		base += int64(len(p))
	}
}

// patternCheck finds the first byte of a stream that differs from pattern
// (bad, -1 while none).
type patternCheck struct {
	off int64
	bad int64
}

func (c *patternCheck) Write(p []byte) (int, error) {
	for i, b := range p {
		if c.bad < 0 && b != byte((c.off+int64(i))%251) {
			c.bad = c.off + int64(i)
		}
	}
	c.off += int64(len(p))
	return len(p), nil
}
