package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/push"
	"github.com/sshlogfwd/sshlogfwd/internal/statedir"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// SpoolCmd lists, delivers and discards push's spool directories, above
// all those no push runs on any more: lines left for a DEST since
// corrected or dropped (push warns about them when it starts).
type SpoolCmd struct {
	List    SpoolListCmd    `cmd:"" help:"List push's spool directories: destinations, mode, lines held, and whether a push runs on each."`
	Deliver SpoolDeliverCmd `cmd:"" help:"Deliver the lines a spool directory holds to its recorded DESTs (or --to another), in its recorded mode and with its recorded ssh settings, then exit. Refused while a push runs on it."`
	Discard SpoolDiscardCmd `cmd:"" help:"Remove a spool directory and the lines in it, saying what they were. Refused while a push runs on it."`
}

// SpoolListCmd lists the spool directories under the spool root.
type SpoolListCmd struct {
	SpoolRoot string `name:"spool-root" help:"The directory holding push's spool directories. Default: push's own, $STATE_DIRECTORY, else ~/.local/state/sshlogfwd." placeholder:"DIR"`
}

// Run prints one paragraph per spool directory.
func (c *SpoolListCmd) Run() error {
	root := c.SpoolRoot
	if root == "" {
		var err error
		if root, err = statedir.Dir(); err != nil {
			return usage.Flag("--spool-root", err)
		}
	}
	spools, err := push.List(root)
	if errors.Is(err, fs.ErrNotExist) {
		return usage.Flag("--spool-root", err)
	}
	if err != nil {
		return err
	}
	push.WriteList(os.Stdout, root, spools)
	return nil
}

// SpoolDeliverCmd delivers what a spool directory holds.
type SpoolDeliverCmd struct {
	To  string `name:"to" help:"Deliver to this DEST instead of the recorded one (e.g. a DEST with a typo, since corrected); the spool must hold lines for one destination only. The recorded mode and ssh settings stay." placeholder:"DEST"`
	Dir string `arg:"" name:"DIR" help:"The spool directory (sshlogfwd spool list shows them)."`
}

// Validate checks --to.
func (c *SpoolDeliverCmd) Validate() error {
	if c.To != "" {
		if _, err := execssh.ParseDest(c.To); err != nil {
			return usage.Flag("--to", err)
		}
	}
	return nil
}

// Run delivers with push's own engine, the command line rebuilt from what
// push recorded in the directory.
func (c *SpoolDeliverCmd) Run(ctx context.Context, log *slog.Logger) error {
	dir, err := spoolArg(c.Dir)
	if err != nil {
		return err
	}
	if c.To != "" {
		to, _ := execssh.ParseDest(c.To) // Validate checked it
		from, err := push.Retarget(dir, to.String())
		if err != nil {
			return spoolError(dir, err)
		}
		if from != to.String() {
			log.Info("the lines held for one destination go to another", "from", from, "to", to.String(), "spool", dir)
		}
	}
	rec, err := push.ReadRecord(dir)
	if err != nil {
		return spoolError(dir, err)
	}
	p := pushCmdFromRecord(rec, dir)
	if err := p.Validate(); err != nil {
		return fmt.Errorf("the settings recorded in %s no longer work: %w", dir, err)
	}
	if err := p.refuseExposedIdentity(); err != nil {
		return err
	}
	opts, err := p.engineOptions(log)
	if err != nil {
		return err
	}
	return spoolError(dir, push.Deliver(ctx, opts))
}

// pushCmdFromRecord is the push command line that delivers what the spool
// dir holds, as the record says push reached its destinations.
func pushCmdFromRecord(r push.Record, dir string) *PushCmd {
	p := &PushCmd{
		SSHFlags: SSHFlags{
			Identity: r.Reach.Identity, Port: r.Reach.Port, SSHConfig: r.Reach.SSHConfig,
			SSHOption: r.Reach.SSHOptions, SSH: r.Reach.SSH, NoCompress: r.Reach.NoCompress,
		},
		ReliableFlags: ReliableFlags{Reliable: r.Reliable, RemoteBinary: r.Reach.RemoteSSHLogfwd, Fsync: time.Second, AckTimeout: r.Reach.AckTimeout},
		ReportFlags:   ReportFlags{MetricsInterval: 30 * time.Second},
		Dests:         r.Dests, RemoteCommand: r.Reach.RemoteCommand,
		From: "end", FIFOMode: "0620",
		Spool: dir, SpoolMax: ByteSize(r.SpoolMax),
		BackoffMax: 30 * time.Second, DrainTimeout: 10 * time.Second,
		JournalFlags: JournalFlags{JournalFormat: "short-iso-precise"},
	}
	if p.SSH == "" {
		p.SSH = "ssh"
	}
	if p.RemoteBinary == "" {
		p.RemoteBinary = "sshlogfwd"
	}
	if p.AckTimeout == 0 {
		p.AckTimeout = 30 * time.Second
	}
	if p.SpoolMax == 0 {
		p.SpoolMax = 256 << 20
	}
	return p
}

// SpoolDiscardCmd removes a spool directory.
type SpoolDiscardCmd struct {
	Dir string `arg:"" name:"DIR" help:"The spool directory (sshlogfwd spool list shows them)."`
}

// Run discards the spool and says what it held and what was removed.
func (c *SpoolDiscardCmd) Run() error {
	dir, err := spoolArg(c.Dir)
	if err != nil {
		return err
	}
	d, err := push.Discard(dir)
	if err != nil {
		return spoolError(dir, err)
	}
	d.Write(os.Stdout, dir)
	return nil
}

// spoolArg is the DIR argument made absolute, refused when it is not a
// directory.
func spoolArg(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", usage.Flag("DIR", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", usage.Flag("DIR", err)
	}
	if !fi.IsDir() {
		return "", usage.Flag("DIR", fmt.Errorf("%s is %s, not a directory", abs, fsutil.DescribeMode(fi.Mode())))
	}
	return abs, nil
}

// spoolError says what to do about an error of the spool commands: a
// directory that is not a spool is a usage error; one of another user is
// run as that user; one a push runs on waits until that push stops.
func spoolError(dir string, err error) error {
	var held *fsutil.HeldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &held):
		return fmt.Errorf("refusing: %w; a push runs on this spool and delivers its lines itself: stop it first", err)
	case errors.Is(err, push.ErrNotSpool), errors.Is(err, fs.ErrNotExist):
		return usage.Flag("DIR", fmt.Errorf("%w: `sshlogfwd spool list` shows push's spool directories", err))
	case errors.Is(err, fsutil.ErrUnsafe), errors.Is(err, fs.ErrPermission):
		return usage.Flag("DIR", fmt.Errorf("%w%s", err, push.OwnerHint(dir)))
	}
	return err
}
