package testlab

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// JournalRemotePath writes real journal files from export-format input
	// (Debian package systemd-journal-remote).
	JournalRemotePath = "/lib/systemd/systemd-journal-remote"
	// JournalctlPath reads them.
	JournalctlPath = "/usr/bin/journalctl"
)

// JournalEntry is one journal entry as field name → value. Values are
// arbitrary bytes (a Go string may hold any), so binary and non-UTF-8
// messages are written as such.
type JournalEntry map[string]string

// AppendExport appends e in the journal export format
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/): "NAME=value\n" for
// printable values, and for values with a newline or another control
// character "NAME\n", the length as 64-bit little endian, the bytes and
// "\n". The entry ends with an empty line. Fields are sorted by name so
// that the same entry always encodes the same way.
func AppendExport(b []byte, e JournalEntry) []byte {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := e[n]
		if !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			b = append(b, n...)
			b = append(b, '=')
			b = append(b, v...)
			b = append(b, '\n')
			continue
		}
		b = append(b, n...)
		b = append(b, '\n')
		b = binary.LittleEndian.AppendUint64(b, uint64(len(v)))
		b = append(b, v...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// BootID returns the current boot's id as the journal writes it (32 hex
// digits, no dashes). `journalctl --follow` shows only entries of the
// current boot unless given --merge.
func BootID(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatalf("read boot id: %v", err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
}

// JournalWriter is a running systemd-journal-remote appending the entries
// it is given to one journal file, as journald would: `journalctl
// --directory=DIR --follow` sees each entry a few milliseconds after Write.
type JournalWriter struct {
	Path string // the journal file, DIR/NAME.journal

	t      testing.TB
	bootID string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	log    *logBuf
	pipe   *pipeRead
	buf    []byte

	mu     sync.Mutex
	closed bool
	mono   int64
}

// StartJournalWriter starts systemd-journal-remote writing to path (which
// must end in ".journal"; an existing file is appended to). It is stopped by
// Close or, at the latest, by t.Cleanup.
func StartJournalWriter(t testing.TB, path string) *JournalWriter {
	t.Helper()
	RequireBinary(t, JournalRemotePath)
	w := &JournalWriter{Path: path, t: t, bootID: BootID(t), log: newLogBuf(t, "journal-remote: ")}
	w.cmd = exec.Command(JournalRemotePath, "--output="+path, "-")
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatalf("start journal-remote: %v", err)
	}
	w.cmd.Stdout, w.cmd.Stderr = wr, wr
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatalf("start journal-remote: %v", err)
	}
	if err := w.cmd.Start(); err != nil {
		rd.Close()
		wr.Close()
		t.Fatalf("start journal-remote: %v", err)
	}
	wr.Close()
	w.pipe = &pipeRead{f: rd, done: make(chan struct{})}
	go w.log.readFrom(rd, w.pipe.done)
	t.Cleanup(w.Close)
	return w
}

// Write appends entries. Entries without __REALTIME_TIMESTAMP,
// __MONOTONIC_TIMESTAMP or _BOOT_ID get the current time, an increasing
// monotonic time and the current boot, so that `journalctl --follow` (which
// implies the current boot) shows them.
func (w *JournalWriter) Write(entries ...JournalEntry) {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.t.Fatalf("write to %s: writer closed", w.Path)
	}
	w.buf = w.buf[:0]
	for _, e := range entries {
		w.buf = AppendExport(w.buf, w.complete(e))
	}
	if _, err := w.stdin.Write(w.buf); err != nil {
		w.t.Fatalf("write %d entries to %s: %v\n%s", len(entries), w.Path, err, w.log.String())
	}
}

// complete returns e with the fields journal-remote needs, without
// changing the caller's map.
func (w *JournalWriter) complete(e JournalEntry) JournalEntry {
	_, rt := e["__REALTIME_TIMESTAMP"]
	_, mt := e["__MONOTONIC_TIMESTAMP"]
	_, bt := e["_BOOT_ID"]
	if rt && mt && bt {
		return e
	}
	c := make(JournalEntry, len(e)+3)
	for k, v := range e {
		c[k] = v
	}
	now := time.Now().UnixMicro()
	if !rt {
		c["__REALTIME_TIMESTAMP"] = strconv.FormatInt(now, 10)
	}
	if !mt {
		w.mono = max(w.mono+1, now)
		c["__MONOTONIC_TIMESTAMP"] = strconv.FormatInt(w.mono, 10)
	}
	if !bt {
		c["_BOOT_ID"] = w.bootID
	}
	return c
}

// Close ends the input and waits until journal-remote has written every
// entry and exited. It fails the test if journal-remote failed.
func (w *JournalWriter) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	w.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(stopGrace):
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	drainReaders([]*pipeRead{w.pipe})
	w.log.stop()
	if err != nil {
		w.t.Errorf("journal-remote writing %s: %v\n%s", w.Path, err, w.log.String())
	}
}

// WriteJournal appends entries to the journal file at path with a
// journal-remote of its own and returns once they are written.
func WriteJournal(t testing.TB, path string, entries ...JournalEntry) {
	t.Helper()
	w := StartJournalWriter(t, path)
	w.Write(entries...)
	w.Close()
}

// WaitJournalEntries waits until `journalctl --directory=dir` shows n
// entries: journal-remote writes what it is given a moment later, and a
// reader started at once may find none of it. It fails the test when they
// are not there within the bound (a hang, not a timing).
func WaitJournalEntries(t testing.TB, dir string, n int, within time.Duration) {
	t.Helper()
	RequireBinary(t, JournalctlPath)
	var got int
	ok := Poll(within, func() bool {
		out, err := exec.Command(JournalctlPath, "--directory="+dir, "--merge", "--output=export", "--output-fields=__CURSOR").Output()
		got = bytes.Count(append([]byte("\n"), out...), []byte("\n__CURSOR="))
		return err == nil && got >= n
	})
	if !ok {
		t.Fatalf("%s never showed %d journal entries (%d within %v): journal-remote hangs?", dir, n, got, within)
	}
}

// ReadJournalCursors returns the cursor of every entry in the journal files
// of dir, oldest first, as `journalctl --directory=dir` reports them.
func ReadJournalCursors(t testing.TB, dir string) []string {
	t.Helper()
	RequireBinary(t, JournalctlPath)
	out, err := exec.Command(JournalctlPath, "--directory="+dir, "--merge", "--output=export", "--output-fields=__CURSOR").Output()
	if err != nil {
		t.Fatalf("read cursors of %s: %v", dir, err)
	}
	var cursors []string
	for _, line := range bytes.Split(out, []byte("\n")) {
		if c, ok := bytes.CutPrefix(line, []byte("__CURSOR=")); ok {
			cursors = append(cursors, string(c))
		}
	}
	return cursors
}
