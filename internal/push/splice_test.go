package push

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// The tests of zero-copy output: a batch that lies in a segment file goes
// from the page cache into ssh's input with splice(2), not through push's
// memory. To tell the two ways apart, the batch's Data is replaced by
// bytes that are not in the file: what the far side gets then says which
// way the bytes went.

// fileBatch returns the next batch of te's destination, which must lie in
// a segment file, and a copy of it whose Data differs from the file's.
func fileBatch(t *testing.T, te *testEngine) (real, fake spool.Batch) {
	t.Helper()
	real = te.next(t)
	if real.File == nil {
		t.Fatal("a batch of a durable spool does not come from a segment file")
	}
	fake = real
	fake.Data = bytes.Repeat([]byte("X"), len(real.Data))
	return real, fake
}

// closedCopy is the file f opened again and closed: as the spool's file of
// a segment that the bound dropped while its batch was being sent.
func closedCopy(t *testing.T, f *os.File) *os.File {
	t.Helper()
	c, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	return c
}

// TestSenderSplicesPayloadFromSegment: a reliable frame whose payload lies
// in a segment file carries the file's bytes behind its header (moved, not
// written); into a writer that is no pipe, or from a file closed
// meanwhile, the frame is written from Data.
func TestSenderSplicesPayloadFromSegment(t *testing.T) {
	te := newReliable(t, spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Durable: true})
	te.sp.Append(lines(0, 100))
	real, fake := fileBatch(t, te)
	s := &sender{e: te.engine, d: te.d, buf: make([]byte, 0, 64)}
	defer func() {
		if s.stage != nil {
			s.stage.Close()
		}
	}()
	frame := func(w io.Writer, r io.Reader, f *os.File) ackproto.Frame {
		t.Helper()
		got := make(chan ackproto.Frame, 1)
		go func() {
			fr, err := ackproto.NewDecoder(r).Next()
			if err != nil {
				t.Error(err)
			}
			got <- fr
		}()
		if err := s.writeData(w, fake.Start, fake.Data, f, fake.Off); err != nil {
			t.Fatal(err)
		}
		return <-got
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	wantFrame(t, frame(w, r, fake.File), ackproto.Data, real.Start, real.Data)
	if s.stage == nil {
		t.Error("no staging pipe was made")
	}
	wantFrame(t, frame(w, r, closedCopy(t, fake.File)), ackproto.Data, real.Start, fake.Data)
	ir, iw := io.Pipe()
	defer ir.Close()
	wantFrame(t, frame(iw, ir, fake.File), ackproto.Data, real.Start, fake.Data)
}

// TestSenderThroughSegmentFiles: a reliable session over a spool on disk,
// whose batches come from several segment files, delivers every line
// exactly once, in order, through the real receiver, also across a
// broken session.
func TestSenderThroughSegmentFiles(t *testing.T) {
	te := newReliable(t, spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Durable: true, SegmentSize: 64 << 10})
	te.frameMax = 10000
	te.deliverAcrossKill(t, lines(0, 20000)) // 280 KB: five segment files
}

// TestAppendSessionSplicesFromSegment: in compatible mode a batch that
// lies in a segment file goes from the file into ssh's input (moved, not
// written), and a restart resumes after it; into a writer that is no
// pipe, or from a file closed meanwhile, Data is written, and a restart
// resumes after it too.
func TestAppendSessionSplicesFromSegment(t *testing.T) {
	for _, c := range []struct {
		name  string
		mem   bool // ssh's input is an io.Pipe
		close bool // the segment file was closed meanwhile
		moved bool // the far side gets the file's bytes
	}{
		{name: "pipe", moved: true},
		{name: "closed file", close: true},
		{name: "not a pipe", mem: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			te := newTestEngine(t, Options{}, spool.Options{Dir: dir, Durable: true})
			te.sp.Append(lines(0, 100))
			real, fake := fileBatch(t, te)
			if c.close {
				fake.File = closedCopy(t, fake.File)
			}
			l := newPipeLink(t, te.clk)
			if c.mem {
				l = newMemLink(t, te.clk)
			}
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, len(real.Data))
				io.ReadFull(l.farIn, b)
				got <- b
			}()
			s := &appendSession{e: te.engine, d: te.d, link: l}
			took, err := s.handOver(fake)
			if err != nil {
				t.Fatal(err)
			}
			if took != int64(len(fake.Data)) {
				t.Errorf("handOver says the child took %d bytes, want all %d", took, len(fake.Data))
			}
			want := fake.Data
			if c.moved {
				want = real.Data
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Errorf("the far side got %q, want %q", clipped(b), clipped(want))
			}
			if pos := te.restartPosition(t, dir); pos != real.End {
				t.Errorf("a restart would resume at %d, want %d after the batch", pos, real.End)
			}
		})
	}
}

// TestSegmentDroppedWhileSpliced: the spool bound drops a segment whose
// batch is being moved into a full pipe: the spool closes and removes the
// file without waiting for the move (a segment file is not on the
// poller, so closing it does not wait for a splice in progress), and the
// move, once the pipe is read, still delivers the batch's bytes.
func TestSegmentDroppedWhileSpliced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	te := newTestEngine(t, Options{}, spool.Options{Dir: dir, Durable: true, SegmentSize: 64 << 10, Max: 256 << 10})
	te.sp.Append(lines(0, 4000)) // 56 KB: the first segment
	b, _ := fileBatch(t, te)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	rc, _ := w.SyscallConn()
	rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 4096) })
	off := b.Off
	moved := make(chan error, 1)
	go func() { moved <- pipe.SendFile(w, b.File, &off, len(b.Data)) }()
	waitFor(t, func() bool { return pipe.Queued(r) == 4096 }, "the pipe full")
	appended := make(chan struct{})
	go func() {
		for i := range 40 { // 560 KB more: the bound drops the first segment
			te.sp.Append(lines(4000+i*1000, 5000+i*1000))
		}
		close(appended)
	}()
	select {
	case <-appended:
	case <-time.After(hang):
		t.Fatal("hang: appending waited for the splice out of the segment it dropped")
	}
	if st := te.sp.Stats(); st.DroppedBytes == 0 {
		t.Fatal("the bound dropped nothing")
	}
	got := make([]byte, len(b.Data))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Data) {
		t.Error("the batch of the dropped segment arrived changed")
	}
}
