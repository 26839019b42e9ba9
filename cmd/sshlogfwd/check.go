package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/check"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
)

// CheckCmd runs a push or pull setup end to end and says, one line per
// check, what is right and what is wrong and how to fix it.
type CheckCmd struct {
	Push CheckPushCmd `cmd:"" help:"Check a push setup: give exactly the flags and DESTs you give push (SSHLOGFWD_* variables apply too)."`
	Pull CheckPullCmd `cmd:"" help:"Check a pull setup: give exactly the flags and SRC you give pull."`
}

// CheckOptions are the flags check adds to those of push or pull.
type CheckOptions struct {
	SyslogUser string        `name:"syslog-user" help:"The user the syslog daemon writes the FIFO as (Debian's rsyslog: root; Ubuntu's: syslog)." default:"root" placeholder:"USER"`
	ProbeWait  time.Duration `name:"probe-wait" help:"How long a probe waits for the far side once ssh has connected (twice that where a far side that keeps running is the expected answer, as tail -F)." default:"3s"`
}

// CheckPushCmd checks what push would use: the input, the spool, the key,
// and every destination. Its Validate is push's own.
type CheckPushCmd struct {
	PushCmd
	CheckOptions
}

// CheckPullCmd checks what pull would use: the key, the output, the cursor
// and the source. Its Validate is pull's own.
type CheckPullCmd struct {
	PullCmd
	CheckOptions
}

// options are the settings every check shares.
func (c *CheckOptions) options(f *SSHFlags, log *slog.Logger) check.Options {
	ssh := f.options()
	ssh.ReadyMarker = readyMarker
	return check.Options{SSHPath: f.SSH, SSH: ssh, ProbeWait: c.ProbeWait, Out: os.Stdout, Logger: log}
}

// Run checks the push setup; check.ErrFailed makes the exit status 1.
func (c *CheckPushCmd) Run(ctx context.Context, log *slog.Logger) error {
	cfg := c.config()
	opts := check.PushOptions{
		Options:       c.options(&c.SSHFlags, log),
		FIFO:          c.FIFO,
		File:          c.File,
		Journal:       cfg.Journal.Options(),
		SyslogUser:    c.SyslogUser,
		Spool:         c.Spool,
		RemoteCommand: c.RemoteCommand,
		Reliable:      c.Reliable,
		RemoteBinary:  c.RemoteBinary,
		Hostname:      hostname(),
	}
	for _, d := range c.Dests {
		dest, _ := execssh.ParseDest(d) // Validate checked them
		opts.Dests = append(opts.Dests, dest)
	}
	opts.FIFOMode, _ = cfg.FileMode() // Validate checked it
	return check.Push(ctx, opts)
}

// Run checks the pull setup; check.ErrFailed makes the exit status 1.
func (c *CheckPullCmd) Run(ctx context.Context, log *slog.Logger) error {
	src, _ := execssh.ParseDest(c.Src) // Validate checked it
	opts := check.PullOptions{
		Options:      c.options(&c.SSHFlags, log),
		Src:          src,
		Output:       c.Output,
		Compat:       c.Compat,
		CursorFile:   c.CursorFile,
		From:         c.From,
		RemoteBinary: c.RemoteBinary,
	}
	return check.Pull(ctx, opts)
}
