package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// PushCmd forwards lines from a FIFO or standard input to one or more
// remote files.
type PushCmd struct {
	SSHFlags
	ReliableFlags

	Dests []string `arg:"" name:"DEST" help:"Where to append: [user@]host:/path/remote.log (host may be a ~/.ssh/config alias). Several DESTs each get every line."`

	FIFO          string        `name:"fifo" help:"Read from this named pipe, created (see --fifo-mode) if missing. Without --fifo or --file, read standard input." placeholder:"PATH" xor:"input"`
	File          string        `name:"file" help:"Follow this log file by name instead (across rotation, truncation, deletion); the position is saved in the spool directory so a restart neither skips nor repeats." placeholder:"PATH" xor:"input"`
	From          string        `name:"from" help:"With --file, where the very first run starts: start or end of the file." enum:"start,end" default:"end"`
	FIFOMode      string        `name:"fifo-mode" help:"Permissions of a FIFO we create (octal): the syslog daemon must be able to write it (default ${default})." default:"0620" placeholder:"MODE"`
	RemoteCommand string        `name:"remote-command" help:"Command run on the far side instead of cat >> PATH (a forced command= in authorized_keys overrides either)." placeholder:"CMD"`
	Spool         string        `name:"spool" help:"Directory where lines wait while the link is down. Default: $STATE_DIRECTORY or ~/.local/state/sshlogfwd, one subdirectory per destination." placeholder:"DIR"`
	SpoolMax      ByteSize      `name:"spool-max" help:"Bound on spooled data (memory and disk); at the bound the oldest lines are dropped and a line on the log host says how many (default ${default})." default:"256MiB" placeholder:"SIZE"`
	Mark          time.Duration `name:"mark" help:"Write a timestamp line '-- MARK --' this often (0 = off); it shows the log host we are alive and probes an idle link." default:"20m"`
	BackoffMax    time.Duration `name:"backoff-max" help:"Longest wait between reconnect attempts." default:"30s"`
	DrainTimeout  time.Duration `name:"drain-timeout" help:"On SIGTERM/SIGINT, how long to keep delivering buffered lines before exiting; the rest stays in the spool for the next start." default:"10s"`
	Stats         time.Duration `name:"stats" help:"Log a status line (lines read, sent, spooled, dropped, reconnects) this often (0 = off)." default:"15m"`
}

// Validate checks what spans flags.
func (p *PushCmd) Validate() error {
	if err := p.SSHFlags.validate(); err != nil {
		return err
	}
	if err := p.ReliableFlags.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, d := range p.Dests {
		dest, err := execssh.ParseDest(d)
		if err != nil {
			return usage("DEST", err)
		}
		if seen[dest.String()] {
			return usage("DEST", fmt.Errorf("%s given twice", dest))
		}
		seen[dest.String()] = true
	}
	if _, err := p.fifoMode(); err != nil {
		return usage("--fifo-mode", err)
	}
	// Flags that only mean something with another one are refused without
	// it rather than silently ignored.
	if p.FIFO == "" && p.FIFOMode != "0620" {
		return usage("--fifo-mode", errors.New("applies only with --fifo"))
	}
	if p.File == "" && p.From != "end" {
		return usage("--from", errors.New("applies only with --file"))
	}
	if p.SpoolMax < 64<<10 {
		return usage("--spool-max", fmt.Errorf("%s is too small (at least 64KiB)", p.SpoolMax))
	}
	for flag, d := range map[string]time.Duration{"--mark": p.Mark, "--backoff-max": p.BackoffMax, "--drain-timeout": p.DrainTimeout, "--stats": p.Stats} {
		if d < 0 {
			return usage(flag, fmt.Errorf("negative duration %s", d))
		}
	}
	return nil
}

func (p *PushCmd) fifoMode() (fs.FileMode, error) {
	m, err := strconv.ParseUint(p.FIFOMode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal permission like 0620", p.FIFOMode)
	}
	return fs.FileMode(m), nil
}

// destination is one DEST with its supervisor and its view of the spool.
type destination struct {
	dest       execssh.Dest
	name       string // "ssh[host]"
	consumer   *spool.Consumer
	sent       atomic.Int64 // bytes written into ssh
	reconnects atomic.Int64
	rel        reliableState

	// Written but not yet counted as delivered: see ackAged.
	mu      sync.Mutex
	pending []written
}

type written struct {
	end int64
	at  time.Time
}

// settle is how long a remote command must keep running after we wrote
// data before that data counts as delivered. A `cat >> FILE` that cannot
// open its file fails at once; until then the data is kept, and resent
// if the remote command fails.
const settle = time.Second

// wrote records data handed to the current child.
func (d *destination) wrote(end int64) {
	d.mu.Lock()
	d.pending = append(d.pending, written{end, time.Now()})
	d.mu.Unlock()
}

// ackAged acknowledges data written at least settle ago to a child that is
// still running.
func (d *destination) ackAged() {
	d.mu.Lock()
	var end int64 = -1
	i := 0
	for ; i < len(d.pending) && time.Since(d.pending[i].at) >= settle; i++ {
		end = d.pending[i].end
	}
	d.pending = d.pending[i:]
	d.mu.Unlock()
	if end >= 0 {
		d.consumer.Ack(end)
	}
}

// childExited settles what the ended child was given. A remote command
// that failed (not ssh itself: exit status other than 0 and 255) appended
// nothing we can count on, so its share is sent again. When ssh died or
// was killed, the data it had accepted is unknowable: counted as sent
// (compatible mode cannot tell; reliable mode can).
func (d *destination) childExited(err error) {
	d.mu.Lock()
	pending := d.pending
	d.pending = nil
	d.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	var ee *execssh.ExitError
	if errors.As(err, &ee) && ee.Code() > 0 && ee.Code() != 255 {
		_, acked := d.consumer.Position()
		d.consumer.Rewind(acked)
		return
	}
	d.consumer.Ack(pending[len(pending)-1].end)
}

// Run forwards until SIGTERM/SIGINT, or until standard input ends and
// everything read has been handed to ssh.
func (p *PushCmd) Run(ctx context.Context, log *slog.Logger) error {
	if err := p.refuseExposedIdentity(); err != nil {
		return err
	}
	var input io.ReadCloser
	switch {
	case p.FIFO != "":
		mode, _ := p.fifoMode()
		created, err := pipe.Ensure(p.FIFO, mode)
		if err != nil {
			return usage("--fifo", err)
		}
		f, err := pipe.Open(p.FIFO, mode)
		if err != nil {
			return usage("--fifo", err)
		}
		log.Info("reading fifo", "path", p.FIFO, "created", created, "pipe_buffer", f.Size())
		input = f
	case p.File != "":
		if err := checkFollowable(p.File); err != nil {
			return usage("--file", err)
		}
	default:
		input = os.Stdin
	}
	if input != nil {
		defer input.Close()
	}

	var dests []*destination
	var parsed []execssh.Dest
	for _, d := range p.Dests {
		dest, _ := execssh.ParseDest(d)
		dests = append(dests, &destination{dest: dest, name: "ssh[" + dest.Target() + "]"})
		parsed = append(parsed, dest)
	}
	dir := p.Spool
	if dir == "" {
		var err error
		if dir, err = defaultSpoolDir(parsed); err != nil {
			return usage("--spool", err)
		}
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return usage("--spool", err)
	}
	defer unlock()
	// Following a file, every spooled byte goes to disk at once and the
	// file position is saved with the spool: after a crash the spool and
	// the position agree, so nothing is read twice or skipped.
	sp, err := spool.Open(spool.Options{Dir: dir, Max: int64(p.SpoolMax), Logger: log, Durable: p.File != "" || p.Reliable})
	if err != nil {
		return usage("--spool", err)
	}
	defer func() {
		if err := sp.Close(); err != nil {
			log.Error("saving spool failed", "dir", dir, "err", err)
		}
	}()
	for _, d := range dests {
		d.consumer = sp.Consumer(d.dest.String())
	}
	lw := &spool.LineWriter{S: sp}

	// stopping is closed when a signal asks us to stop; runCtx ends the
	// supervisors after the drain (or once standard input is finished).
	runCtx, endRun := context.WithCancel(context.Background())
	defer endRun()
	var drainDeadline atomic.Int64 // unix nanos; 0 = no deadline yet
	if p.Reliable {
		go p.syncSpool(runCtx, sp, log)
	}
	readerDone := make(chan error, 1)
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	if p.File != "" {
		ft, err := p.openFile(sp, log)
		if err != nil {
			return err
		}
		defer ft.Close()
		go func() { readerDone <- p.followFile(readCtx, ft, sp, lw, log) }()
	} else {
		go func() { readerDone <- p.readInput(readCtx, input, lw, log) }()
	}

	var wg sync.WaitGroup
	sshErr := make(chan error, len(dests))
	for _, d := range dests {
		argv, err := p.argv(d.dest)
		if err != nil {
			return usage("DEST", err)
		}
		sup := &execssh.Supervisor{
			Name:        d.name,
			Argv:        func() ([]string, error) { return argv, nil },
			ReadyMarker: readyMarker,
			WantStdout:  p.Reliable,
			Logger:      log,
			Backoff:     backoff.Backoff{Min: 250 * time.Millisecond, Max: p.BackoffMax},
			OnExit: func(err error) {
				d.reconnects.Add(1)
				d.childExited(err)
			},
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sup.Run(runCtx, func(sctx context.Context, c *execssh.Child) bool {
				if p.Reliable {
					return p.reliableSession(sctx, c, d, sp, &drainDeadline, log)
				}
				return p.session(sctx, c, d, &drainDeadline, log)
			}); err != nil {
				sshErr <- err
				endRun()
			}
		}()
	}
	if p.Mark > 0 {
		go p.marks(runCtx, lw, log)
	}
	if p.Stats > 0 {
		go p.stats(runCtx, sp, dests, log)
	}

	var inputEnded bool
	select {
	case <-ctx.Done():
		log.Info("stopping: delivering buffered lines", "drain_timeout", p.DrainTimeout)
	case err := <-readerDone:
		inputEnded = true
		if err != nil {
			log.Error("reading input failed", "err", err)
		}
	case err := <-sshErr:
		return fmt.Errorf("cannot run ssh: %w", err)
	}
	if inputEnded {
		if err := lw.Flush(); err != nil {
			log.Error("spooling final line failed", "err", err)
		}
		log.Info("input ended; delivering what is buffered")
		// Wait until every destination has everything, or a signal.
		if !waitDelivered(ctx, dests) {
			log.Info("stopping: delivering buffered lines", "drain_timeout", p.DrainTimeout)
		}
	} else {
		stopReading()
		// The FIFO reader takes what is already in the pipe (it would die
		// with our descriptor if no writer holds the FIFO open) and
		// returns; the file follower returns at once. Standard input may
		// be a blocking descriptor that nothing can interrupt.
		select {
		case <-readerDone:
		case <-time.After(time.Second):
		}
		if p.File == "" {
			if err := lw.Flush(); err != nil {
				log.Error("spooling final line failed", "err", err)
			}
		}
	}
	drainDeadline.Store(time.Now().Add(p.DrainTimeout).UnixNano())
	endRun()
	wg.Wait()
	for _, d := range dests {
		if n := d.consumer.Pending(); n > 0 {
			log.Warn("not delivered before exit; kept in the spool for the next start", "dest", d.dest.String(), "bytes", n, "spool", dir)
		}
	}
	p.logStats(sp, dests, log)
	return nil
}

func (p *PushCmd) argv(d execssh.Dest) ([]string, error) {
	cmd := p.RemoteCommand
	switch {
	case cmd != "":
	case p.Reliable:
		cmd = p.receiveCommand(d.Path)
	default:
		cmd = request.Append(d.Path)
	}
	opts := p.options()
	opts.ReadyMarker = readyMarker
	return execssh.Argv(p.SSH, opts, d, cmd)
}

// readyGated reports whether our ssh children announce their connection
// (a LocalCommand of the user's own replaces ours).
func (p *PushCmd) readyGated() bool {
	return execssh.Options{Extra: p.SSHOption, ReadyMarker: readyMarker}.ReadyGated()
}

// readyMarker is what ssh prints (LocalCommand) once it is connected and
// authenticated; random so that nothing else prints it by chance.
var readyMarker = "sshlogfwd-connected-" + strconv.FormatUint(rand.Uint64(), 36)

// readInput copies the input into the spool until it ends, or until ctx
// is done and what is already in a FIFO has been read. It runs at all
// times, link up or down, so the FIFO never fills.
func (p *PushCmd) readInput(ctx context.Context, in io.Reader, lw *spool.LineWriter, log *slog.Logger) error {
	type deadliner interface{ SetReadDeadline(time.Time) error }
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-stopped:
		case <-ctx.Done():
			if d, ok := in.(deadliner); ok {
				// Keep reading while data is there, briefly.
				_ = d.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			}
		}
	}()
	buf := make([]byte, 256<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := lw.Write(buf[:n]); werr != nil {
				log.Error("spool append failed", "err", werr)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case errors.Is(err, os.ErrClosed), errors.Is(err, fs.ErrClosed):
			return nil
		default:
			return err
		}
	}
}

// session writes the destination's share of the spool into one ssh child
// until the child dies, a write fails, or the run ends and the drain is
// over. In this compatible mode nothing acknowledges delivery: what ssh
// accepted counts as sent, and what was inside a dying ssh is lost.
func (p *PushCmd) session(ctx context.Context, c *execssh.Child, d *destination, drainDeadline *atomic.Int64, log *slog.Logger) (healthy bool) {
	// waitCtx ends when the child exits or the run ends.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.Done():
			cancel()
		case <-waitCtx.Done():
		}
	}()
	// A write blocked in a stuck ssh must not outlive the drain deadline.
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		select {
		case <-stopWatch:
			return
		case <-ctx.Done():
		}
		dl := time.Unix(0, drainDeadline.Load())
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		select {
		case <-stopWatch:
		case <-t.C:
			c.CloseStdin()
		}
	}()

	// Hold data back until ssh is connected: what is written into a child
	// that then fails to connect (host down, key refused) dies with it.
	if p.readyGated() {
		select {
		case <-c.Ready():
		case <-c.Done():
			return false
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		t := time.NewTicker(settle / 4)
		defer t.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-t.C:
				d.ackAged()
			}
		}
	}()
	var wrote int64
	for {
		draining := ctx.Err() != nil
		if draining {
			if d.consumer.Available() == 0 || time.Now().UnixNano() > drainDeadline.Load() {
				return wrote > 0
			}
		}
		nextCtx := waitCtx
		if draining {
			nextCtx = context.Background()
			select {
			case <-c.Done():
				return wrote > 0
			default:
			}
		}
		b, err := d.consumer.Next(nextCtx, 256<<10)
		if err != nil {
			if !draining && ctx.Err() != nil {
				continue // start draining
			}
			return wrote > 0 && c.Uptime() > time.Second
		}
		data := b.Data
		if b.Gap.Bytes > 0 {
			data = []byte(gapLine(b.Gap, d.dest))
			log.Warn("spool bound reached: lines were dropped before they could be sent", "dest", d.dest.String(), "lines", b.Gap.Lines, "bytes", b.Gap.Bytes)
		}
		if _, err := c.Stdin.Write(data); err != nil {
			// The child is gone or going: send this batch again on the
			// next connection.
			if b.Gap.Bytes == 0 {
				d.consumer.Rewind(b.Start)
			} else {
				d.consumer.RestoreGap(b.Gap)
			}
			log.Debug("write to ssh failed", "child", c.Name, "err", err)
			return wrote > 0 && c.Uptime() > time.Second
		}
		wrote += int64(len(data))
		d.sent.Add(int64(len(b.Data)))
		d.wrote(b.End)
	}
}

func gapLine(g spool.Gap, d execssh.Dest) string {
	return fmt.Sprintf("%s %s sshlogfwd: dropped %d lines (%d bytes) while %s was unreachable\n",
		time.Now().Format(time.RFC3339), hostname(), g.Lines, g.Bytes, d.String())
}

func (p *PushCmd) marks(ctx context.Context, lw *spool.LineWriter, log *slog.Logger) {
	t := time.NewTicker(p.Mark)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			line := fmt.Sprintf("%s %s sshlogfwd: -- MARK --\n", now.Format(time.RFC3339), hostname())
			if err := lw.WriteLine([]byte(line)); err != nil {
				log.Error("spooling mark failed", "err", err)
			}
		}
	}
}

func (p *PushCmd) stats(ctx context.Context, sp *spool.Spool, dests []*destination, log *slog.Logger) {
	t := time.NewTicker(p.Stats)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.logStats(sp, dests, log)
		}
	}
}

func (p *PushCmd) logStats(sp *spool.Spool, dests []*destination, log *slog.Logger) {
	st := sp.Stats()
	args := []any{"read_lines", st.AppendedLines, "read_bytes", st.AppendedBytes,
		"spooled_bytes", st.Pending, "on_disk_bytes", st.OnDisk,
		"dropped_lines", st.DroppedLines, "dropped_bytes", st.DroppedBytes}
	for _, d := range dests {
		args = append(args, "sent_bytes["+d.dest.Target()+"]", d.sent.Load(), "reconnects["+d.dest.Target()+"]", d.reconnects.Load())
	}
	log.Info("status", args...)
}

// waitDelivered waits until every destination has had everything, or ctx
// ends (false).
func waitDelivered(ctx context.Context, dests []*destination) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		for _, d := range dests {
			if d.consumer.Pending() > 0 {
				done = false
			}
		}
		if done {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// lockDir creates dir and takes an exclusive lock on it, so that two
// forwarders never share one spool.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another sshlogfwd (lock %s)", dir, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
