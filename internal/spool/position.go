package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// A position file holds one small record, a stream offset and a mark,
// rewritten in place far more often than the state file could be: after
// every append that carries an input position, before every batch handed
// to a destination that cannot acknowledge. It is written with pwrite and
// without fsync, because what it guards against is the process being
// killed, and a killed process leaves the page cache to the kernel; Sync
// fsyncs it with the segments for a crash of the machine.
//
// The record alternates between two fixed-size slots, each with a sequence
// number and a checksum, so that a write torn by a crash of the machine
// leaves the previous record intact in the other slot. A slot fits within
// one disk sector.
//
// The last word of a slot, its advance, is outside the checksum: it counts
// how many of the slot's len bytes after its offset a destination has
// taken, and is advanced by the kernel itself (see Consumer.BeginHandover).
// The record says offset + advance.
const (
	posSlotSize = 512
	posHeader   = 34  // magic, checksum, sequence, offset, len, mark length
	posAdvance  = 504 // the advance, to the end of the slot
	// MaxMark is the longest input position AppendInput takes.
	MaxMark = posAdvance - posHeader
)

var (
	posMagic = [4]byte{'S', 'L', 'F', 'P'}
	castagn  = crc32.MakeTable(crc32.Castagnoli)
)

// posRecord is what a position file says.
type posRecord struct {
	seq    uint64
	offset int64 // with the advance
	mark   string
	// pending is how many of the record's bytes after offset were not
	// taken (yet): for the input record of moved input, the length of a
	// write of other data that starts at offset (see appendSettled).
	pending int64
}

// posFile is an open position file.
type posFile struct {
	f    *os.File
	path string
	seq  uint64 // of the newest record written or read
	slot [posSlotSize]byte
	mem  []byte // the file mapped shared, once BeginHandover needs it
}

// encodeSlot fills b with a record of offset and mark, len bytes to hand
// over after offset, none taken yet.
func encodeSlot(b *[posSlotSize]byte, seq uint64, offset, n int64, mark string) {
	clear(b[:])
	copy(b[0:4], posMagic[:])
	binary.LittleEndian.PutUint64(b[8:16], seq)
	binary.LittleEndian.PutUint64(b[16:24], uint64(offset))
	binary.LittleEndian.PutUint64(b[24:32], uint64(n))
	binary.LittleEndian.PutUint16(b[32:34], uint16(len(mark)))
	copy(b[posHeader:], mark)
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(b[8:posAdvance], castagn))
}

// decodeSlot reads a slot; false if it is empty, torn or not ours.
func decodeSlot(b []byte) (posRecord, bool) {
	if len(b) != posSlotSize || [4]byte(b[0:4]) != posMagic || binary.LittleEndian.Uint32(b[4:8]) != crc32.Checksum(b[8:posAdvance], castagn) {
		return posRecord{}, false
	}
	off := int64(binary.LittleEndian.Uint64(b[16:24]))
	n := int64(binary.LittleEndian.Uint64(b[24:32]))
	adv := int64(binary.LittleEndian.Uint64(b[posAdvance:]))
	k := int(binary.LittleEndian.Uint16(b[32:34]))
	if k > MaxMark || off < 0 || n < 0 || adv < 0 || adv > n {
		return posRecord{}, false
	}
	return posRecord{seq: binary.LittleEndian.Uint64(b[8:16]), offset: off + adv, mark: string(b[posHeader : posHeader+k]), pending: n - adv}, true
}

// newest returns the valid record with the higher sequence number of the
// two slots in b (which may be short: a file cut by a crash).
func newest(b []byte) (posRecord, bool) {
	var best posRecord
	found := false
	for i := 0; i+posSlotSize <= len(b) && i < 2*posSlotSize; i += posSlotSize {
		if r, ok := decodeSlot(b[i : i+posSlotSize]); ok && (!found || r.seq > best.seq) {
			best, found = r, true
		}
	}
	return best, found
}

// openPos opens the position file at path and reads its newest valid
// record (ok false: none). A missing file is created when create is set,
// else nil is returned. One that is not a regular file of ours is an error
// wrapping fsutil.ErrUnsafe.
func openPos(path string, create bool) (p *posFile, r posRecord, ok bool, err error) {
	f, err := fsutil.OpenOwned(path, os.O_RDWR)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, r, false, nil
		}
		f, err = fsutil.CreateOwned(path, 0o600)
	}
	if err != nil {
		return nil, r, false, fmt.Errorf("open position file: %w", err)
	}
	var b [2 * posSlotSize]byte
	n, _ := f.ReadAt(b[:], 0)
	r, ok = newest(b[:n])
	return &posFile{f: f, path: path, seq: r.seq}, r, ok, nil
}

// write records offset and mark in the slot the previous record is not in.
func (p *posFile) write(offset int64, mark string) error {
	_, err := p.put(offset, 0, mark)
	return err
}

// put writes a record of offset, with n bytes to hand over after it, and
// returns the slot's position in the file.
func (p *posFile) put(offset, n int64, mark string) (int, error) {
	return p.putAdv(offset, n, 0, mark)
}

// putAdv is put with adv of the n bytes taken already.
func (p *posFile) putAdv(offset, n, adv int64, mark string) (int, error) {
	if len(mark) > MaxMark {
		return 0, fmt.Errorf("record position in %s: mark of %d bytes, at most %d", p.path, len(mark), MaxMark)
	}
	p.seq++
	encodeSlot(&p.slot, p.seq, offset, n, mark)
	binary.LittleEndian.PutUint64(p.slot[posAdvance:], uint64(adv))
	at := int(p.seq%2) * posSlotSize
	if _, err := p.f.WriteAt(p.slot[:], int64(at)); err != nil {
		return 0, fmt.Errorf("record position: %w", err)
	}
	return at, nil
}

// begin records that n bytes after offset are being handed over, of
// which the first adv count as taken already, and returns the slot's
// advance, in the file mapped shared: a word the kernel can advance in
// the system call that hands bytes over, so that it holds the exact count
// even when this process is killed in between.
func (p *posFile) begin(offset, n, adv int64) (*int64, error) {
	if p.mem == nil {
		m, err := unix.Mmap(int(p.f.Fd()), 0, 2*posSlotSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("map position file %s: %w", p.path, err)
		}
		p.mem = m
	}
	at, err := p.putAdv(offset, n, adv, "")
	if err != nil {
		return nil, err
	}
	// The mapping is page-aligned and the advance 8-byte aligned in it.
	return (*int64)(unsafe.Pointer(&p.mem[at+posAdvance])), nil
}

func (p *posFile) sync() error {
	if err := p.f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("fsync position file: %w", err)
	}
	return nil
}

func (p *posFile) close() {
	if p == nil {
		return
	}
	if p.mem != nil {
		_ = unix.Munmap(p.mem)
		p.mem = nil
	}
	p.f.Close()
}
