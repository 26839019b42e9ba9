package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
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
	To  string `name:"to" help:"Deliver to this DEST instead of the recorded one (e.g. a DEST with a typo, since corrected); the spool must hold lines for one destination only. The recorded mode and ssh settings stay; a spool of an older sshlogfwd, which recorded none (no push.json), is delivered in compatible mode with ssh's defaults." placeholder:"DEST"`
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
	dir, err := push.SpoolArg(c.Dir)
	if err != nil {
		return err
	}
	if c.To != "" {
		to, _ := execssh.ParseDest(c.To) // Validate checked it
		from, err := push.Retarget(dir, to.String())
		if err != nil {
			return push.SpoolError(dir, err)
		}
		switch {
		case from == "":
			log.Info("the spool remembers no destination: its lines go to the one given", "to", to.String(), "spool", dir)
		case from != to.String():
			log.Info("the lines held for one destination go to another", "from", from, "to", to.String(), "spool", dir)
		}
	}
	rec, err := push.ReadRecord(dir)
	if err != nil {
		return push.SpoolError(dir, err)
	}
	cfg := push.RecordConfig(rec, dir)
	ssh := sshFlagsOf(cfg.Reach)
	if err := usage.First(ssh.validate(), cfg.Validate()); err != nil {
		return fmt.Errorf("the settings recorded in %s no longer work: %w", dir, err)
	}
	if err := ssh.refuseExposedIdentity(); err != nil {
		return err
	}
	opts, err := engineOptions(&cfg, log)
	if err != nil {
		return err
	}
	return push.SpoolError(dir, push.Deliver(ctx, opts))
}

// SpoolDiscardCmd removes a spool directory.
type SpoolDiscardCmd struct {
	Dir string `arg:"" name:"DIR" help:"The spool directory (sshlogfwd spool list shows them)."`
}

// Run discards the spool and says what it held and what was removed.
func (c *SpoolDiscardCmd) Run() error {
	dir, err := push.SpoolArg(c.Dir)
	if err != nil {
		return err
	}
	d, err := push.Discard(dir)
	if err != nil {
		return push.SpoolError(dir, err)
	}
	d.Write(os.Stdout, dir)
	return nil
}
