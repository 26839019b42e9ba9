package pull

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// This file decides, at start, what the output's bytes beyond the saved
// cursor are (see reconcile), and proves them while the stream comes in
// (unproven).

// ErrNotOurs is what a *NotOursError wraps: the output holds bytes that
// pull cannot prove it wrote, so it neither cuts them nor appends after
// them.
var ErrNotOurs = errors.New("the output holds bytes pull did not write")

// NotOursError is an output pull refuses to write: Saved is the size the
// cursor file records, Size the output's size, Why the evidence.
type NotOursError struct {
	Path        string
	Saved, Size int64
	Why         string
	// MaybeOurs: the bytes may still be pull's own from before a crash
	// (the remote file changed since); cutting them by hand is then safe.
	MaybeOurs bool
}

func (e *NotOursError) Error() string {
	s := fmt.Sprintf("%s: %s; pull cuts no byte it cannot prove it wrote, and appends nothing after them: nothing was changed. Give pull its own --output", e.Path, e.Why)
	if e.MaybeOurs {
		s += fmt.Sprintf("; if no other program writes this file, the bytes are pull's own from before a crash: `truncate -s %d %s` removes them and pull fetches them again", e.Saved, e.Path)
	}
	return s
}

func (e *NotOursError) Unwrap() error { return ErrNotOurs }

// reconcile compares the output at path with the cursor record rec before
// pull writes to it again. It returns the stretch of bytes beyond the
// saved size that pull may have written itself before it was killed (nil
// if none), or a *NotOursError when the output shows another writer:
//   - its bytes before the saved size are not the ones pull wrote (the
//     checksum of the last bytes differs): someone rewrote it;
//   - it grew after pull stopped cleanly (state stopped): every byte
//     beyond the saved size is someone else's.
//
// Bytes beyond the saved size after a crash (state running) are kept:
// serve sends them again from the cursor, and unproven matches them. An
// output that is missing, shorter (truncated: data was lost, which is
// logged), or another file than the one the cursor was saved with
// (rotated away meanwhile) is left alone.
func reconcile(path string, rec record, log *slog.Logger) (*unproven, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if id, ok := fsutil.IDOf(fi); !ok || id != rec.Output {
		log.Info("the output is not the file the cursor was saved with (rotated or replaced meanwhile); not checking it", "output", path)
		return nil, nil
	}
	size, saved := fi.Size(), rec.OutputSize
	if size < saved {
		log.Warn("the output is shorter than when the cursor was saved: data was lost (a crash before fsync, or the file was truncated)",
			"output", path, "missing_bytes", saved-size)
		return nil, nil
	}
	if err := checkTail(path, rec); err != nil {
		return nil, &NotOursError{Path: path, Saved: saved, Size: size, Why: err.Error()}
	}
	switch {
	case size == saved:
		return nil, nil
	case rec.Stopped:
		return nil, &NotOursError{Path: path, Saved: saved, Size: size,
			Why: fmt.Sprintf("pull stopped cleanly at offset %d, and the file has grown since by %d bytes: another program appends to it", saved, size-saved)}
	}
	log.Info("the output has bytes after the saved cursor, written before pull was killed or by another program: they are compared with what serve sends again, kept if they are pull's own, and pull stops if they are not",
		"output", path, "bytes", size-saved, "from", saved)
	return newUnproven(path, saved, size)
}

// checkTail reports an error when the output's bytes before the saved
// size are not the ones the record's checksum covers.
func checkTail(path string, rec record) error {
	if rec.TailLen == 0 {
		return nil // version 1, or nothing written yet
	}
	b, err := readTail(path, rec.OutputSize, rec.TailLen)
	if err != nil {
		return err
	}
	if sha256.Sum256(b) != rec.Tail {
		return fmt.Errorf("its last %d bytes before offset %d, where pull's cursor was saved, are not the ones pull wrote: another program wrote or rewrote the file", rec.TailLen, rec.OutputSize)
	}
	return nil
}

// unproven is the stretch [pos, end) of the output that a killed pull may
// have written after its last cursor save. serve sends those bytes again
// from the cursor: each byte that arrives is compared with the output's
// byte at pos, and instead of being written again it moves pos on. The
// first difference proves the stretch is not pull's (*NotOursError).
type unproven struct {
	path       string
	r          *os.File
	start, pos int64
	end        int64
	buf        []byte
}

func newUnproven(path string, from, to int64) (*unproven, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &unproven{path: path, r: r, start: from, pos: from, end: to}, nil
}

// remaining is how many bytes are still to be proven.
func (u *unproven) remaining() int64 { return u.end - u.pos }

// match takes the leading bytes of p that fall into the stretch: it
// returns how many it proved, and a *NotOursError at the first difference.
func (u *unproven) match(p []byte) (int, error) {
	n := int(min(int64(len(p)), u.remaining()))
	if cap(u.buf) < n {
		u.buf = make([]byte, n)
	}
	have := u.buf[:n]
	if _, err := u.r.ReadAt(have, u.pos); err != nil {
		return 0, fmt.Errorf("read %s to compare it with what serve sends again: %w", u.path, err)
	}
	if i := mismatch(have, p[:n]); i >= 0 {
		return 0, &NotOursError{Path: u.path, Saved: u.start, Size: u.end, MaybeOurs: true,
			Why: fmt.Sprintf("its %d bytes after offset %d, where pull's cursor was saved, are not what serve sends again from that cursor (they differ at offset %d): another program appended them, or the remote file changed since pull was killed", u.end-u.start, u.start, u.pos+int64(i))}
	}
	u.pos += int64(n)
	return n, nil
}

// mismatch is the index of the first byte where a and b differ, -1 if
// none.
func mismatch(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func (u *unproven) close() { u.r.Close() }
