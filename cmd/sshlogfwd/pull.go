package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/bytesize"
	"github.com/sshlogfwd/sshlogfwd/internal/check"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/logfile"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
	"github.com/sshlogfwd/sshlogfwd/internal/pull"
	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// PullCmd copies a log file from another host, following it.
type PullCmd struct {
	SSHFlags
	ReportFlags

	Src string `arg:"" name:"SRC" help:"The file to follow: [user@]host:/path/file.log (host may be a ~/.ssh/config alias)."`

	Output       string        `name:"output" help:"Append here (created mode 0640; SIGHUP reopens it, for logrotate). pull is its only writer: a file that sshlogfwd receive or another pull writes is refused, and so is one with bytes pull cannot prove it wrote. Default: standard output." placeholder:"FILE"`
	MaxSize      bytesize.Size `name:"max-size" help:"Never let --output grow beyond SIZE (0 = no bound): what does not fit is not taken, the far side keeps it, and pull waits (connected, logging an error) until the output is rotated and reopened (SIGHUP), then goes on from its cursor. Protects the log host's disk from a hostile far side." default:"0" placeholder:"SIZE"`
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

// Validate checks what spans flags; the rules between pull's own
// settings are the engine's (pull.Options.Validate).
func (p *PullCmd) Validate() error {
	src, srcErr := execssh.ParseDest(p.Src)
	opts := p.engineOptions(src)
	return usage.First(p.SSHFlags.validate(), usage.Flag("SRC", srcErr), p.ReportFlags.validate(), opts.Validate(p.CursorFile))
}

// Run pulls until SIGTERM/SIGINT.
func (p *PullCmd) Run(ctx context.Context, log *slog.Logger, reopen *logfile.Reopener) error {
	if err := p.refuseExposedIdentity(); err != nil {
		return err
	}
	if err := check.PullPaths(p.Output, p.CursorFile, p.Compat); err != nil {
		return err
	}
	dest, _ := execssh.ParseDest(p.Src)
	opts := p.engineOptions(dest)
	if !p.Compat {
		path, err := p.cursorPath(dest)
		if err != nil {
			return err
		}
		opts.CursorPath = path
	}
	if err := p.ReportFlags.checkPath(); err != nil {
		return err
	}
	opts.Logger = log
	opts.OnReopen = func(f func() error) { reopen.Add("--output", logfile.ReopenFunc(f)) }
	opts.Notify, opts.Metrics, opts.MetricsEvery = sdnotify.Service(log), p.sink(), p.MetricsInterval
	err := pull.Run(ctx, opts)
	if errors.Is(err, pull.ErrNotOurs) || errors.As(err, new(*onewriter.OtherWriterError)) {
		// Running again will not help: the output must change.
		return usage.Flag("--output", err)
	}
	return err
}

// engineOptions is what the flags ask of the pull engine.
func (p *PullCmd) engineOptions(dest execssh.Dest) pull.Options {
	ssh := p.options()
	ssh.ReadyMarker = readyMarker // a connect is logged when ssh prints it
	return pull.Options{
		Src:          dest,
		SSH:          p.SSH,
		SSHOptions:   ssh,
		Compat:       p.Compat,
		RemoteBinary: p.RemoteBinary,
		From:         p.From,
		Output:       p.Output,
		MaxSize:      int64(p.MaxSize),
		Fsync:        p.Fsync,
		IdleTimeout:  p.IdleTimeout,
		BackoffMax:   p.BackoffMax,
		DrainTimeout: p.DrainTimeout,
	}
}

// cursorPath is where the cursor is kept (pull.CursorPath), with the
// state directory created when it is there.
func (p *PullCmd) cursorPath(dest execssh.Dest) (string, error) {
	path, stateDir, err := pull.CursorPath(p.CursorFile, p.Output, dest)
	if err == nil && stateDir == "" {
		return path, nil
	}
	if err == nil {
		err = check.NeedCreatable(filepath.Dir(path), 0o700)
	}
	if err != nil {
		return "", usage.Flag("--cursor-file", fmt.Errorf("no place for the cursor: %w; give --output FILE (the cursor is kept beside it) or --cursor-file FILE, or set STATE_DIRECTORY=DIR as the systemd unit does", err))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create state directory: %w", err)
	}
	return path, nil
}
