package receiver

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
)

// heldFsyncs makes the data file's fsyncs wait, once armed, for a token
// from the test, and records how much of the file each completed fsync
// made durable (its size when the fsync began).
type heldFsyncs struct {
	armed   atomic.Bool
	started chan struct{} // an armed fsync began
	tokens  chan struct{}
	mu      sync.Mutex
	durable int64
}

func holdFsyncs(t *testing.T) *heldFsyncs {
	h := &heldFsyncs{started: make(chan struct{}, 100), tokens: make(chan struct{}, 100)}
	orig := fsyncFile
	fsyncFile = func(f *os.File) error {
		if !h.armed.Load() {
			return orig(f)
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		h.started <- struct{}{}
		<-h.tokens
		err = orig(f)
		if err == nil {
			h.mu.Lock()
			h.durable = max(h.durable, fi.Size())
			h.mu.Unlock()
		}
		return err
	}
	t.Cleanup(func() {
		close(h.tokens)
		fsyncFile = orig
	})
	return h
}

func (h *heldFsyncs) onDisk() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.durable
}

// TestAcksOnlyWhatIsOnDisk: an acknowledgement never covers a byte that
// no completed fsync made durable, also while writes go on during a slow
// fsync: the sender drops what is acknowledged, and a power cut must not
// lose it.
func TestAcksOnlyWhatIsOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remote.log")
	h := holdFsyncs(t)
	s := start(t, Options{Path: path, Fsync: time.Hour}, streamA)
	// The stream's first frame maps it into the file (with an fsync of
	// its own); the fsyncs held are those of the data after it.
	begin := lines(0, 10)
	s.send(ackproto.AppendData(nil, 0, begin))
	s.waitAck(int64(len(begin)))
	h.durable = int64(len(begin)) // synced by its own fsync, not held
	h.armed.Store(true)
	first, second := lines(10, 20), lines(20, 30)
	s.send(ackproto.AppendData(nil, int64(len(begin)), first))
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no fsync after the first frame (a hang)")
	}
	// The second frame is written while the first fsync waits.
	s.send(ackproto.AppendData(nil, int64(len(begin)+len(first)), second))
	total := int64(len(begin) + len(first) + len(second))
	for acked := int64(len(begin)); acked < total; {
		h.tokens <- struct{}{}
		select {
		case r, ok := <-s.acks:
			if !ok || r.Type != ackproto.Ack {
				t.Fatalf("reply %+v (ok %v), want an acknowledgement", r, ok)
			}
			if on := h.onDisk(); r.Offset > on {
				t.Fatalf("acknowledged %d bytes with %d on disk", r.Offset, on)
			}
			acked = r.Offset
		case <-time.After(10 * time.Second):
			t.Fatalf("no acknowledgement after an fsync (a hang); %d on disk", h.onDisk())
		}
	}
	h.armed.Store(false)
	if err, _ := s.end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
