package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// PullCmd copies a log file from another host, following it.
type PullCmd struct {
	SSHFlags

	Src string `arg:"" name:"SRC" help:"The file to follow: [user@]host:/path/file.log (host may be a ~/.ssh/config alias)."`

	Output       string        `name:"output" help:"Append here (created mode 0640; SIGHUP reopens it, for logrotate). Default: standard output." placeholder:"FILE"`
	Reliable     bool          `name:"reliable" xor:"mode" help:"The far side runs 'sshlogfwd serve PATH' (usually as the forced command): exact resume across reconnects, restarts and rotation. This is the default."`
	Compat       bool          `name:"compat" xor:"mode" help:"The far side has no sshlogfwd: run 'tail -F -n 0 -- PATH' there (or whatever the forced command is, e.g. tail -f FILE). Lines written while disconnected are lost."`
	From         string        `name:"from" help:"Where the very first run starts when there is no cursor yet: start or end of the remote file. Later runs resume from the cursor." enum:"start,end" default:"end"`
	CursorFile   string        `name:"cursor-file" help:"Where the position in the remote file is kept. Default: FILE.cursor beside --output, or in $STATE_DIRECTORY / ~/.local/state/sshlogfwd for standard output." placeholder:"FILE"`
	Fsync        time.Duration `name:"fsync" help:"Flush the output to disk and save the cursor this often (0 = never fsync; the cursor is then saved every 200ms). After a crash at most this much is received again and written once." default:"1s"`
	IdleTimeout  time.Duration `name:"idle-timeout" help:"Reconnect when serve sends nothing, not even a heartbeat, for this long (0 = off; reliable mode only)." default:"15s"`
	RemoteBinary string        `name:"remote-sshlogfwd" help:"The far side's sshlogfwd, for keys without a forced command (a forced command runs regardless)." default:"sshlogfwd" placeholder:"PATH"`
	BackoffMax   time.Duration `name:"backoff-max" help:"Longest wait between reconnect attempts." default:"30s"`
	DrainTimeout time.Duration `name:"drain-timeout" help:"On SIGTERM/SIGINT, how long to keep receiving what serve already sent before exiting; the rest is fetched again on the next start." default:"10s"`
}

// cursorSaveInterval is how often the cursor is saved when --fsync is 0.
const cursorSaveInterval = 200 * time.Millisecond

// Validate checks what spans flags.
func (p *PullCmd) Validate() error {
	if err := p.SSHFlags.validate(); err != nil {
		return err
	}
	if _, err := execssh.ParseDest(p.Src); err != nil {
		return usage("SRC", err)
	}
	if p.Compat {
		if p.From == "start" {
			return usage("--from", errors.New("start needs the reliable mode: tail -F -n 0 cannot resume, and reading the whole file on every reconnect would repeat it"))
		}
		if p.CursorFile != "" {
			return usage("--cursor-file", errors.New("has no effect with --compat, which keeps no position"))
		}
	}
	if p.RemoteBinary == "" || strings.ContainsAny(p.RemoteBinary, "\n\x00") {
		return usage("--remote-sshlogfwd", fmt.Errorf("%q is not a program path", p.RemoteBinary))
	}
	for flag, d := range map[string]time.Duration{"--fsync": p.Fsync, "--idle-timeout": p.IdleTimeout, "--backoff-max": p.BackoffMax, "--drain-timeout": p.DrainTimeout} {
		if d < 0 {
			return usage(flag, fmt.Errorf("negative duration %s", d))
		}
	}
	if p.IdleTimeout > 0 && p.IdleTimeout < time.Second {
		return usage("--idle-timeout", fmt.Errorf("%s is too short: serve sends a heartbeat every 500ms (at least 1s)", p.IdleTimeout))
	}
	return nil
}

// Run pulls until SIGTERM/SIGINT.
func (p *PullCmd) Run(ctx context.Context, log *slog.Logger, reopen *reopener) error {
	if err := p.refuseExposedIdentity(); err != nil {
		return err
	}
	dest, _ := execssh.ParseDest(p.Src)
	st := &pullState{log: log, src: dest.String(), fsync: p.Fsync}

	if !p.Compat {
		path, err := p.cursorPath(dest)
		if err != nil {
			return usage("--cursor-file", err)
		}
		st.cursorPath = path
		unlock, err := lockFile(path + ".lock")
		if err != nil {
			return usage("--cursor-file", err)
		}
		defer unlock()
		if err := st.load(); err != nil {
			return usage("--cursor-file", err)
		}
	}
	if err := st.openOutput(p.Output); err != nil {
		return usage("--output", err)
	}
	defer st.close()
	if p.Output != "" {
		reopen.add("--output", st)
	}
	if st.have {
		log.Info("resuming", "src", st.src, "cursor", st.cursor.String(), "cursor_file", st.cursorPath)
	} else if !p.Compat {
		log.Info("no cursor yet: first run", "src", st.src, "from", p.From, "cursor_file", st.cursorPath)
	}

	name := "ssh[" + dest.Target() + "]"
	sup := &execssh.Supervisor{
		Name:       name,
		Argv:       func() ([]string, error) { return execssh.Argv(p.SSH, p.options(), dest, p.remoteCommand(dest, st)) },
		WantStdout: true,
		Logger:     log,
		Backoff:    backoff.Backoff{Min: 250 * time.Millisecond, Max: p.BackoffMax},
		StopGrace:  2 * time.Second,
	}
	session := p.reliableSession(st, log)
	if p.Compat {
		session = p.compatSession(st, log)
	}
	if err := sup.Run(ctx, session); err != nil {
		return fmt.Errorf("cannot run ssh: %w", err)
	}
	if err := st.save(true); err != nil {
		log.Error("saving the cursor failed", "err", err)
	}
	log.Info("stopped", "src", st.src, "cursor", st.cursor.String(), "bytes", st.received.Load())
	return nil
}

// cursorPath is where the cursor is kept.
func (p *PullCmd) cursorPath(dest execssh.Dest) (string, error) {
	if p.CursorFile != "" {
		return p.CursorFile, nil
	}
	if p.Output != "" {
		return p.Output + ".cursor", nil
	}
	path, err := defaultCursorPath(dest)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return path, nil
}

// remoteCommand is the command ssh asks the far side to run. A forced
// command in authorized_keys replaces it; `sshlogfwd serve` then reads it
// from SSH_ORIGINAL_COMMAND (and checks the path against its own).
func (p *PullCmd) remoteCommand(dest execssh.Dest, st *pullState) string {
	if p.Compat {
		// -c +N could resume a byte offset, but not across rotation.
		return request.Tail(dest.Path)
	}
	req := request.ServeRequest{From: p.From}
	c, have := st.position()
	switch {
	case have && !c.IsZero():
		req.Cursor = &c
	case have:
		// The file did not exist when we first asked: read it from its
		// first byte now.
		req.From = "start"
	}
	return request.Serve(p.RemoteBinary, dest.Path, req)
}

// reliableSession reads the stream of one serve connection and writes it.
func (p *PullCmd) reliableSession(st *pullState, log *slog.Logger) execssh.Session {
	return func(ctx context.Context, c *execssh.Child) bool {
		var lastFrame atomic.Int64 // unix nanos
		lastFrame.Store(time.Now().UnixNano())
		done := make(chan struct{})
		defer close(done)
		go func() {
			// Stop: close serve's input; it exits and ssh ends the stream
			// after the last frame it sent. Kill only after the drain.
			select {
			case <-done:
				return
			case <-ctx.Done():
			}
			c.CloseStdin()
			t := time.NewTimer(p.DrainTimeout)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				log.Warn("drain timeout: stopping ssh before the stream ended", "child", c.Name)
				c.Kill()
			}
		}()
		if p.IdleTimeout > 0 {
			go func() {
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for {
					select {
					case <-done:
						return
					case <-tick.C:
					}
					if idle := time.Since(time.Unix(0, lastFrame.Load())); idle > p.IdleTimeout && !st.writing.Load() {
						log.Warn("no data and no heartbeat from serve: reconnecting", "child", c.Name, "idle", idle.Round(time.Millisecond))
						c.Kill()
						return
					}
				}
			}()
		}

		// A large pipe lets ssh write in big pieces: with 64 KiB it spent
		// its time shuffling its buffer (benchmarks: 4-6x ssh's CPU).
		pipe.Grow(c.Stdout, 1<<20)
		dec := stream.NewDecoder(c.Stdout)
		started := false
		var got int64
		for {
			f, err := dec.Next()
			if err != nil {
				switch {
				case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fs.ErrClosed):
					// The connection ended; a frame cut by it is dropped
					// and fetched again from the cursor. (ErrClosed: the
					// child was reaped and its stdout pipe closed under us.)
				case errors.Is(err, stream.ErrNotStream):
					log.Error("the far side did not answer with the sshlogfwd stream: is its forced command something else, such as tail -f? Use --compat for that, or install sshlogfwd serve there", "child", c.Name, "err", err)
				default:
					log.Error("bad stream from serve", "child", c.Name, "err", err)
				}
				break
			}
			lastFrame.Store(time.Now().UnixNano())
			if f.Type == stream.Start {
				started = true
			}
			n, err := st.apply(f)
			got += n
			if err != nil {
				log.Error("writing output failed", "err", err)
				break
			}
		}
		if err := st.save(false); err != nil {
			log.Error("saving the cursor failed", "err", err)
		}
		// Keep reading whatever still comes, so that ssh is never stuck
		// on a full pipe while it is being stopped.
		go io.Copy(io.Discard, c.Stdout)
		return started && (got > 0 || c.Uptime() > time.Second)
	}
}

// compatSession copies tail's output, whole lines only: a line cut by a
// broken connection is finished with a newline so that it does not run into
// the next connection's first line.
func (p *PullCmd) compatSession(st *pullState, log *slog.Logger) execssh.Session {
	return func(ctx context.Context, c *execssh.Child) bool {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-ctx.Done():
				// tail never ends on its own; what ssh had received is
				// still read from the pipe after this.
				c.Kill()
			}
		}()
		pipe.Grow(c.Stdout, 1<<20)
		r := bufio.NewReaderSize(c.Stdout, 64<<10)
		var got int64
		buf := make([]byte, 64<<10)
		var partial []byte
		for {
			n, err := r.Read(buf)
			if n > 0 {
				data := buf[:n]
				got += int64(n)
				if len(partial) > 0 {
					data = append(partial, data...)
					partial = nil
				}
				cut := bytes.LastIndexByte(data, '\n') + 1
				if cut < len(data) {
					partial = append([]byte(nil), data[cut:]...)
				}
				if werr := st.writeRaw(data[:cut]); werr != nil {
					log.Error("writing output failed", "err", werr)
					break
				}
			}
			if err != nil {
				break
			}
		}
		if len(partial) > 0 {
			log.Warn("connection ended inside a line; writing it as it is with a newline", "bytes", len(partial))
			if err := st.writeRaw(append(partial, '\n')); err != nil {
				log.Error("writing output failed", "err", err)
			}
		}
		return got > 0
	}
}

// pullState is what pull knows: the output, the position in the remote file
// that the output holds everything up to, and the cursor file. It is shared
// by the session and the SIGHUP reopener.
type pullState struct {
	log        *slog.Logger
	src        string
	cursorPath string // "" in compat mode
	fsync      time.Duration

	writing  atomic.Bool // a write to the output is under way
	received atomic.Int64

	mu       sync.Mutex
	out      *output
	cursor   tailer.Cursor
	have     bool // cursor is known (it may be zero: the file did not exist yet)
	dirty    bool
	lastSave time.Time

	pendingOutput *cursorRecord // loaded, to check the output against
}

func (s *pullState) position() (tailer.Cursor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, s.have
}

// apply writes one frame's effect and returns how many data bytes it wrote.
func (s *pullState) apply(f stream.Frame) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	switch f.Type {
	case stream.Start:
		if f.How == stream.HowLost {
			s.log.Warn("the remote file of our cursor is gone (rotated away and compressed or deleted); continuing at the beginning of the current file: lines between the cursor and the rotation are missing",
				"src", s.src, "cursor", s.cursor.String(), "now", f.Cursor.String())
		}
		s.cursor, s.have, s.dirty = f.Cursor, true, true
		// Store the start at once: a restart must resume here, not start
		// at the (later) end again.
		return 0, s.saveLocked(true)
	case stream.Data, stream.Late:
		if f.Type == stream.Data {
			prev := s.cursor
			want := prev.Offset + int64(len(f.Data))
			if (prev.IsZero() && f.Cursor.Offset != int64(len(f.Data))) ||
				(!prev.IsZero() && (prev.Dev != f.Cursor.Dev || prev.Ino != f.Cursor.Ino || f.Cursor.Offset != want)) {
				s.log.Warn("stream is not contiguous; writing it anyway", "src", s.src, "before", prev.String(), "frame", f.Cursor.String(), "bytes", len(f.Data))
			}
		}
		if err := s.write(f.Data); err != nil {
			return 0, err
		}
		n = int64(len(f.Data))
		s.received.Add(n)
		s.cursor, s.dirty = f.Cursor, true
	case stream.Rotated, stream.Truncated:
		if s.out.last != '\n' && s.out.last != 0 {
			// The old file ended inside a line: end it here, so that the
			// new file's first line does not continue it.
			if err := s.write([]byte{'\n'}); err != nil {
				return 0, err
			}
		}
		s.log.Info("remote file "+f.Type.String(), "src", s.src, "cursor", f.Cursor.String())
		s.cursor, s.dirty = f.Cursor, true
	case stream.Heartbeat:
	}
	return n, s.saveLocked(false)
}

func (s *pullState) write(p []byte) error {
	s.writing.Store(true)
	defer s.writing.Store(false)
	return s.out.write(p)
}

// writeRaw writes without a cursor (compat mode).
func (s *pullState) writeRaw(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received.Add(int64(len(p)))
	if err := s.write(p); err != nil {
		return err
	}
	if s.fsync > 0 && time.Since(s.lastSave) >= s.fsync {
		s.lastSave = time.Now()
		return s.out.sync()
	}
	return nil
}

// save saves the cursor if it changed; unless force, only when the save
// interval has passed.
func (s *pullState) save(force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked(force)
}

// saveLocked flushes the output to disk (with --fsync) and then writes the
// cursor file, so the stored cursor never claims data the disk lacks.
func (s *pullState) saveLocked(force bool) error {
	if s.cursorPath == "" || !s.dirty {
		return nil
	}
	interval := s.fsync
	if interval == 0 {
		interval = cursorSaveInterval
	}
	if !force && time.Since(s.lastSave) < interval {
		return nil
	}
	sync := s.fsync > 0
	if sync {
		if err := s.out.sync(); err != nil {
			return err
		}
	}
	rec := cursorRecord{Source: s.src, Cursor: s.cursor}
	if s.out.path != "" {
		id, size, err := s.out.stat()
		if err != nil {
			return err
		}
		rec.Output, rec.OutputSize, rec.HasOutput = id, size, true
	}
	if err := writeFileAtomic(s.cursorPath, []byte(rec.String()), sync); err != nil {
		return err
	}
	s.dirty = false
	s.lastSave = time.Now()
	return nil
}

// load reads the cursor file, if any, and brings the output back to the
// state it recorded: bytes written after the last save are removed, because
// they will be received again.
func (s *pullState) load() error {
	b, err := os.ReadFile(s.cursorPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rec, err := parseCursorRecord(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w (remove it to start over)", s.cursorPath, err)
	}
	if rec.Source != s.src {
		return fmt.Errorf("%s holds the position in %s, not %s: give another --cursor-file, or remove it to start over", s.cursorPath, rec.Source, s.src)
	}
	s.cursor, s.have = rec.Cursor, true
	s.pendingOutput = &rec
	return nil
}

// openOutput opens the output and reconciles it with the cursor file.
func (s *pullState) openOutput(path string) error {
	if path == "" {
		s.out = &output{f: os.Stdout, last: '\n'}
		return nil
	}
	if rec := s.pendingOutput; rec != nil && rec.HasOutput {
		if err := reconcile(path, rec, s.log); err != nil {
			return err
		}
	}
	s.pendingOutput = nil
	o, err := openOutput(path)
	if err != nil {
		return err
	}
	s.out = o
	return nil
}

// reconcile cuts the output back to the size recorded with the cursor.
func reconcile(path string, rec *cursorRecord, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	id, ok := fileIDOf(fi)
	if !ok || id != rec.Output {
		log.Info("the output is not the file the cursor was saved with (rotated or replaced meanwhile); not checking it", "output", path)
		return nil
	}
	switch size := fi.Size(); {
	case size > rec.OutputSize:
		log.Info("removing the output's last bytes, written after the cursor was saved: they are received again now",
			"output", path, "bytes", size-rec.OutputSize)
		if err := os.Truncate(path, rec.OutputSize); err != nil {
			return fmt.Errorf("cut %s back to the saved cursor: %w", path, err)
		}
	case size < rec.OutputSize:
		log.Warn("the output is shorter than when the cursor was saved: data was lost (a crash before fsync, or the file was truncated)",
			"output", path, "missing_bytes", rec.OutputSize-size)
	}
	return nil
}

// Reopen reopens the output (SIGHUP, after logrotate moved it) and saves
// the cursor with the new file, so that a crash right after cannot confuse
// the old file's size with the new one's.
func (s *pullState) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.out.sync(); err != nil {
		s.log.Warn("flushing the output before reopening failed", "err", err)
	}
	o, err := openOutput(s.out.path)
	if err != nil {
		return err
	}
	s.out.f.Close()
	s.out = o
	if s.have {
		s.dirty = true
		return s.saveLocked(true)
	}
	return nil
}

func (s *pullState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil && s.out.path != "" {
		s.out.sync()
		s.out.f.Close()
	}
}

// output is where pulled data goes.
type output struct {
	path string // "" for standard output
	f    *os.File
	last byte // last byte written, 0 if nothing yet
}

func openOutput(path string) (*output, error) {
	// Refuse a FIFO before opening it: opening one that nobody reads
	// would block forever.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	o := &output{path: path, f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if size := fi.Size(); size > 0 {
		if r, err := os.Open(path); err == nil {
			var b [1]byte
			if n, _ := r.ReadAt(b[:], size-1); n == 1 {
				o.last = b[0]
			}
			r.Close()
		}
	}
	return o, nil
}

// write appends p entirely or not at all: after a failed write (disk full)
// a file is cut back, so that a retry does not leave half a chunk twice.
func (o *output) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	var before int64 = -1
	if o.path != "" {
		if fi, err := o.f.Stat(); err == nil {
			before = fi.Size()
		}
	}
	_, err := o.f.Write(p)
	if err != nil {
		if before >= 0 {
			o.f.Truncate(before)
		}
		return fmt.Errorf("write %s: %w", o.name(), err)
	}
	o.last = p[len(p)-1]
	return nil
}

func (o *output) name() string {
	if o.path == "" {
		return "standard output"
	}
	return o.path
}

func (o *output) sync() error {
	if o.path == "" {
		return nil
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", o.path, err)
	}
	return nil
}

func (o *output) stat() (fileID, int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return fileID{}, 0, err
	}
	id, _ := fileIDOf(fi)
	return id, fi.Size(), nil
}

// fileID is a file's device and inode.
type fileID struct{ Dev, Ino uint64 }

func fileIDOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}

// cursorRecord is the content of a cursor file:
//
//	sshlogfwd-pull-cursor 1
//	source loghost:/var/log/forward.log
//	cursor 2049:1312:48213
//	output 2049:77:1093821
//
// output (device:inode:size of the local output when the cursor was saved)
// is absent for standard output.
type cursorRecord struct {
	Source     string
	Cursor     tailer.Cursor
	HasOutput  bool
	Output     fileID
	OutputSize int64
}

const cursorHeader = "sshlogfwd-pull-cursor 1"

func (r cursorRecord) String() string {
	var b strings.Builder
	b.WriteString(cursorHeader + "\n")
	b.WriteString("source " + r.Source + "\n")
	b.WriteString("cursor " + r.Cursor.String() + "\n")
	if r.HasOutput {
		o := tailer.Cursor{Dev: r.Output.Dev, Ino: r.Output.Ino, Offset: r.OutputSize}
		b.WriteString("output " + o.String() + "\n")
	}
	return b.String()
}

func parseCursorRecord(s string) (cursorRecord, error) {
	var r cursorRecord
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) == 0 || lines[0] != cursorHeader {
		return r, errors.New("not a pull cursor file (first line is not " + cursorHeader + ")")
	}
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		key, val, _ := strings.Cut(l, " ")
		if seen[key] {
			return r, fmt.Errorf("%q given twice", key)
		}
		seen[key] = true
		switch key {
		case "source":
			r.Source = val
		case "cursor":
			c, err := tailer.ParseCursor(val)
			if err != nil {
				return r, err
			}
			r.Cursor = c
		case "output":
			c, err := tailer.ParseCursor(val)
			if err != nil {
				return r, fmt.Errorf("output: %w", err)
			}
			r.HasOutput, r.Output, r.OutputSize = true, fileID{c.Dev, c.Ino}, c.Offset
		default:
			return r, fmt.Errorf("unknown line %q", l)
		}
	}
	if !seen["source"] || !seen["cursor"] {
		return r, errors.New("source or cursor line missing")
	}
	return r, nil
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so a reader (or a crash) sees the old or the new content, never a
// mix. With sync, the data and the rename are flushed to disk.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save cursor: %w", err)
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save cursor %s: %w", path, err)
	}
	if sync {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}

// lockFile takes an exclusive lock on path, so that two pulls never share
// one cursor (and output).
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another sshlogfwd pull", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
