package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/bytesize"
	"github.com/sshlogfwd/sshlogfwd/internal/check"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/push"
	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
	"github.com/sshlogfwd/sshlogfwd/internal/statedir"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// PushCmd forwards lines from a FIFO, a file, the journal or standard
// input to one or more remote files.
type PushCmd struct {
	SSHFlags
	ReliableFlags
	ReportFlags

	Dests []string `arg:"" name:"DEST" help:"Where to append: [user@]host:/path/remote.log (host may be a ~/.ssh/config alias). Several DESTs each get every line."`

	FIFO          string        `name:"fifo" help:"Read from this named pipe: the one a systemd socket unit passes (ListenFIFO= of the same path), else opened by path and created (see --fifo-mode) if missing. Without --fifo, --file or --journal, read standard input." placeholder:"PATH" xor:"input"`
	File          string        `name:"file" help:"Follow this log file by name instead (across rotation, truncation, deletion); the position is saved in the spool directory so a restart neither skips nor repeats." placeholder:"PATH" xor:"input"`
	From          string        `name:"from" help:"With --file, where the very first run starts: start or end of the file." enum:"start,end" default:"end"`
	FIFOMode      string        `name:"fifo-mode" help:"Permissions of a FIFO we create (octal): the syslog daemon must be able to write it (default ${default})." default:"0620" placeholder:"MODE"`
	RemoteCommand string        `name:"remote-command" help:"Command run on the far side instead of cat >> PATH (a forced command= in authorized_keys overrides either)." placeholder:"CMD"`
	Spool         string        `name:"spool" help:"Directory where lines wait while the link is down. Default: $STATE_DIRECTORY or ~/.local/state/sshlogfwd, one subdirectory per destination." placeholder:"DIR"`
	SpoolMax      bytesize.Size `name:"spool-max" help:"Bound on spooled data (memory and disk); at the bound the oldest lines are dropped and a line on the log host says how many (default ${default})." default:"256MiB" placeholder:"SIZE"`
	Mark          time.Duration `name:"mark" help:"Write a timestamp line '-- MARK --' this often (0 = off); it shows the log host we are alive and probes an idle link." default:"20m"`
	BackoffMax    time.Duration `name:"backoff-max" help:"Longest wait between reconnect attempts." default:"30s"`
	DrainTimeout  time.Duration `name:"drain-timeout" help:"On SIGTERM/SIGINT, how long to keep delivering buffered lines before exiting; the rest stays in the spool for the next start." default:"10s"`
	Stats         time.Duration `name:"stats" help:"Log a status line (lines read, sent, spooled, dropped, reconnects) this often (0 = off)." default:"15m"`

	JournalFlags
}

// Validate checks what spans flags; the rules between push's own
// settings are the engine's (push.Config.Validate).
func (p *PushCmd) Validate() error {
	c := p.config()
	return usage.First(p.SSHFlags.validate(), c.ValidateReliable(), p.ReportFlags.validate(), c.Validate())
}

// config is the command line as push's values.
func (p *PushCmd) config() push.Config {
	j := p.JournalFlags
	return push.Config{
		Reach: push.Reach{
			SSH: p.SSH, Identity: p.Identity, Port: p.Port, SSHConfig: p.SSHConfig, SSHOptions: p.SSHOption, NoCompress: p.NoCompress,
			RemoteCommand: p.RemoteCommand, RemoteSSHLogfwd: p.RemoteBinary, AckTimeout: p.AckTimeout,
		},
		Dests: p.Dests, FIFO: p.FIFO, FIFOMode: p.FIFOMode, File: p.File, From: p.From,
		Journal: push.JournalConfig{On: j.Journal, Matches: j.JournalMatch, Priority: j.JournalPriority, Units: j.JournalUnit,
			Dir: j.JournalDir, Files: j.JournalFile, Format: j.JournalFormat},
		Spool: p.Spool, SpoolMax: int64(p.SpoolMax), Reliable: p.Reliable, Fsync: p.Fsync,
		Mark: p.Mark, BackoffMax: p.BackoffMax, DrainTimeout: p.DrainTimeout, Stats: p.Stats,
	}
}

// ReliableFlags are push's flags for the acknowledged mode.
type ReliableFlags struct {
	Reliable     bool          `name:"reliable" help:"The far side runs 'sshlogfwd receive PATH' (usually as the forced command): every line arrives exactly once and in order, acknowledged only once it is on the log host's disk; until then it stays in the spool, which is then kept on disk."`
	RemoteBinary string        `name:"remote-sshlogfwd" help:"With --reliable: the far side's sshlogfwd, for keys without a forced command (a forced command runs regardless)." default:"sshlogfwd" placeholder:"PATH"`
	Fsync        time.Duration `name:"fsync" help:"With --reliable: fsync the spool and save its positions this often. A crash of this machine loses at most this much of the newest input, never anything acknowledged." default:"1s"`
	AckTimeout   time.Duration `name:"ack-timeout" help:"With --reliable: when data is outstanding and no acknowledgement came for this long, the link is taken for dead and ssh restarted (ssh's keepalives are the other watch)." default:"30s"`
}

// Run checks the paths the flags name, opens the input and forwards
// (internal/push) until SIGTERM/SIGINT, or until standard input ends and
// everything read is delivered.
func (p *PushCmd) Run(ctx context.Context, log *slog.Logger) error {
	if err := p.refuseExposedIdentity(); err != nil {
		return err
	}
	if err := p.checkPaths(); err != nil {
		return err
	}
	c := p.config()
	opts, err := engineOptions(&c, log)
	if err != nil {
		return err
	}
	opts.Metrics, opts.MetricsEvery = p.sink(), p.MetricsInterval
	switch {
	case p.FIFO != "":
		f, err := p.openFIFO(log)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.Input = f
	case p.File == "" && !p.Journal:
		opts.Input = os.Stdin
	}
	opts.Notify = sdnotify.Service(log)
	return push.Run(ctx, opts)
}

// openFIFO takes --fifo from systemd when a socket unit passed it
// (ListenFIFO=; a passed descriptor of another file is a usage error), or
// opens it by path, creating it if missing.
func (p *PushCmd) openFIFO(log *slog.Logger) (*pipe.FIFO, error) {
	f, err := pipe.FromSystemd(p.FIFO)
	switch {
	case errors.Is(err, pipe.ErrNotPassed):
		return nil, usage.Flag("--fifo", err)
	case err != nil:
		return nil, err
	}
	if f != nil {
		log.Info("reading fifo", "path", p.FIFO, "passed_by", "systemd", "pipe_buffer", f.Size())
		return f, nil
	}
	mode, _ := (&push.Config{FIFOMode: p.FIFOMode}).FileMode() // Validate checked it
	created, err := pipe.Ensure(p.FIFO, mode)
	if err != nil {
		return nil, err
	}
	f, err = pipe.Open(p.FIFO, mode)
	if err != nil {
		return nil, err
	}
	log.Info("reading fifo", "path", p.FIFO, "created", created, "pipe_buffer", f.Size())
	return f, nil
}

// engineOptions are the engine's options for c, spooled in --spool or,
// without, in the state directory's spool.
func engineOptions(c *push.Config, log *slog.Logger) (push.Options, error) {
	dir := c.Spool
	if dir == "" {
		dests, _ := push.ParseDests(c.Dests) // Validate checked them
		var err error
		if dir, err = defaultSpool(dests); err != nil {
			return push.Options{}, err
		}
	}
	return c.Options(dir, readyMarker, hostname(), log)
}

// defaultSpool is the spool directory without --spool, once it is known
// that push can create it; if not, the error says how to give it one.
func defaultSpool[D fmt.Stringer](dests []D) (string, error) {
	dir, err := statedir.Spool(dests)
	if err == nil {
		err = check.NeedCreatable(dir, 0o700)
	}
	if err != nil {
		return "", usage.Flag("--spool", fmt.Errorf("no spool directory: %w; give --spool DIR, or set STATE_DIRECTORY=DIR as the systemd unit does (StateDirectory=, /var/lib/sshlogfwd)", err))
	}
	return dir, nil
}

// readyMarker is what ssh prints (LocalCommand) once it is connected and
// authenticated; random so that nothing else prints it by chance.
var readyMarker = "sshlogfwd-connected-" + strconv.FormatUint(rand.Uint64(), 36)

// checkPaths refuses, before anything is created, a path push cannot use
// (check.PushPaths; not in Validate: check push reports them as findings).
func (p *PushCmd) checkPaths() error {
	return check.PushPaths{FIFO: p.FIFO, File: p.File, Journal: p.Journal, JournalDir: p.JournalDir, JournalFiles: p.JournalFile,
		Spool: p.Spool, MetricsFile: p.MetricsFile}.Check()
}
