package push

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/bytesize"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// Config is push's command line as values: what `sshlogfwd push` was
// given, or what a spool directory's record says (RecordConfig), which
// `sshlogfwd spool deliver` runs. Validate checks the rules between its
// settings, each refusal a *usage.Error naming the flag to change; Options
// derives the engine's options from it. The ssh flags (Reach's) are
// checked by the command, which pull shares them with.
type Config struct {
	// Reach is the ssh settings and the far-side command as given: its
	// RemoteSSHLogfwd and AckTimeout are --remote-sshlogfwd's and
	// --ack-timeout's, which apply only with Reliable (Reaching).
	Reach    Reach
	Dests    []string
	FIFO     string
	FIFOMode string // octal, "0620" by default
	File     string
	From     string // with File: "start" or "end"
	Journal  JournalConfig
	Spool    string // "" for the state directory's (statedir.Spool)
	SpoolMax int64
	Reliable bool
	Fsync    time.Duration

	Mark, BackoffMax, DrainTimeout, Stats time.Duration
}

// JournalConfig is push's --journal and its selection, as given.
type JournalConfig struct {
	On       bool
	Matches  []string
	Priority string
	Units    []string
	Dir      string
	Files    []string
	Format   string // "short-iso-precise" by default
}

// Defaults of the settings a rule compares with: a flag given at its
// default is not given.
const (
	defaultFIFOMode        = "0620"
	defaultRemoteSSHLogfwd = "sshlogfwd"
	defaultJournalFormat   = "short-iso-precise"
	defaultFsync           = time.Second
	defaultAckTimeout      = 30 * time.Second
	defaultSpoolMax        = 256 << 20
	// minSpoolMax leaves room for a few lines of every size.
	minSpoolMax = 64 << 10
)

// Validate checks what spans c's settings, in the order the command line
// reports them.
func (c *Config) Validate() error {
	_, destErr := ParseDests(c.Dests)
	mode, modeErr := c.FileMode()
	if modeErr == nil {
		modeErr = pipe.CheckMode(mode)
	}
	var spoolMax error
	if c.SpoolMax < minSpoolMax {
		spoolMax = fmt.Errorf("%s is too small (at least 64KiB)", bytesize.Size(c.SpoolMax))
	}
	return usage.First(
		c.ValidateReliable(), c.Journal.validate(),
		usage.Flag("DEST", destErr), usage.Flag("--fifo-mode", modeErr),
		usage.OnlyWith("--fifo", c.FIFO != "", map[string]bool{"--fifo-mode": c.FIFOMode != defaultFIFOMode}),
		usage.OnlyWith("--file", c.File != "", map[string]bool{"--from": c.From != "end"}),
		usage.Flag("--spool-max", spoolMax),
		usage.NonNegative(map[string]time.Duration{"--mark": c.Mark, "--backoff-max": c.BackoffMax, "--drain-timeout": c.DrainTimeout, "--stats": c.Stats}),
	)
}

// ValidateReliable is the part of Validate about the acknowledged mode,
// which push's command line reports before its metrics flags.
func (c *Config) ValidateReliable() error {
	r := c.Reach
	if err := usage.OnlyWith("--reliable", c.Reliable, map[string]bool{
		"--remote-sshlogfwd": r.RemoteSSHLogfwd != defaultRemoteSSHLogfwd,
		"--fsync":            c.Fsync != defaultFsync,
		"--ack-timeout":      r.AckTimeout != defaultAckTimeout,
	}); err != nil {
		return err
	}
	if r.RemoteSSHLogfwd == "" || strings.ContainsAny(r.RemoteSSHLogfwd, "\n\x00") {
		return usage.Flag("--remote-sshlogfwd", fmt.Errorf("%q is not a program path", r.RemoteSSHLogfwd))
	}
	if c.Fsync <= 0 {
		return usage.Flag("--fsync", fmt.Errorf("%s: must be positive", c.Fsync))
	}
	if r.AckTimeout < time.Second {
		return usage.Flag("--ack-timeout", fmt.Errorf("%s is too short (at least 1s)", r.AckTimeout))
	}
	return nil
}

// FileMode is --fifo-mode: the permissions of a FIFO push creates.
func (c *Config) FileMode() (fs.FileMode, error) {
	m, err := strconv.ParseUint(c.FIFOMode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal permission like 0620", c.FIFOMode)
	}
	return fs.FileMode(m), nil
}

// Reaching is how c reaches its destinations: Reach, with the far side's
// sshlogfwd and the acknowledgement timeout in reliable mode only.
func (c *Config) Reaching() Reach {
	r := c.Reach
	if !c.Reliable {
		r.RemoteSSHLogfwd, r.AckTimeout = "", 0
	}
	return r
}

// Options are the engine's options for c: the destinations with their ssh
// command lines (marker is the line ssh prints once connected), spooled in
// spoolDir. The input (Options.Input), Notify and the metrics are the
// caller's to add.
func (c *Config) Options(spoolDir, marker, hostname string, log *slog.Logger) (Options, error) {
	reach := c.Reaching()
	dests, err := reach.Dests(c.Dests, c.Reliable, marker)
	if err != nil {
		return Options{}, usage.Flag("DEST", err)
	}
	recorded := reach.Abs()
	return Options{
		Dests: dests, File: c.File, FromEnd: c.From == "end", Journal: c.Journal.Options(),
		SpoolDir: spoolDir, SpoolMax: c.SpoolMax,
		Reliable: c.Reliable, Fsync: c.Fsync, AckTimeout: c.Reach.AckTimeout,
		Mark: c.Mark, Stats: c.Stats, BackoffMax: c.BackoffMax, DrainTimeout: c.DrainTimeout,
		ReadyMarker: reach.ReadyMarker(marker), Hostname: hostname, Logger: log, Reach: &recorded,
	}, nil
}

// RecordConfig is the configuration that delivers what the spool dir
// holds, as its record r says push reached its destinations; what the
// record does not hold is at push's defaults.
func RecordConfig(r Record, dir string) Config {
	c := Config{
		Reach: r.Reach, Dests: r.Dests, Reliable: r.Reliable,
		From: "end", FIFOMode: defaultFIFOMode, Fsync: defaultFsync,
		Spool: dir, SpoolMax: r.SpoolMax,
		BackoffMax: 30 * time.Second, DrainTimeout: 10 * time.Second,
		Journal: JournalConfig{Format: defaultJournalFormat},
	}
	if c.Reach.SSH == "" {
		c.Reach.SSH = "ssh"
	}
	if c.Reach.RemoteSSHLogfwd == "" {
		c.Reach.RemoteSSHLogfwd = defaultRemoteSSHLogfwd
	}
	if c.Reach.AckTimeout == 0 {
		c.Reach.AckTimeout = defaultAckTimeout
	}
	if c.SpoolMax == 0 {
		c.SpoolMax = defaultSpoolMax
	}
	return c
}

// validate refuses journal settings without --journal, and matches, a
// priority or units journalctl would not take (checked by the journal
// package, which builds journalctl's command line).
func (j JournalConfig) validate() error {
	if !j.On {
		return usage.OnlyWith("--journal", false, map[string]bool{
			"--journal-match":    len(j.Matches) > 0,
			"--journal-priority": j.Priority != "",
			"--journal-unit":     len(j.Units) > 0,
			"--journal-dir":      j.Dir != "",
			"--journal-file":     len(j.Files) > 0,
			"--journal-format":   j.Format != defaultJournalFormat,
		})
	}
	if j.Dir != "" && len(j.Files) > 0 {
		return usage.Flag("--journal-file", errors.New("cannot be combined with --journal-dir"))
	}
	// A directory stands in for the source: it keeps Argv from adding the
	// machine's own _MACHINE_ID term, which is not the user's.
	for flag, spec := range map[string]journal.Spec{
		"--journal-match":    {Directory: ".", Matches: j.Matches},
		"--journal-priority": {Directory: ".", Priority: j.Priority},
		"--journal-unit":     {Directory: ".", Units: j.Units},
		"--journal-file":     {Files: j.Files},
	} {
		if _, err := journal.Argv(spec); err != nil {
			return usage.Flag(flag, err)
		}
	}
	return nil
}

// Options are the journal reader's options, nil without --journal. With
// no selection at all (matches, priority, units) the matches are the
// article's selector (journal.DefaultMatches).
func (j JournalConfig) Options() *journal.Options {
	if !j.On {
		return nil
	}
	matches := j.Matches
	if len(j.Matches) == 0 && j.Priority == "" && len(j.Units) == 0 {
		matches = journal.DefaultMatches
	}
	format, _ := journal.ParseFormat(j.Format) // validated
	return &journal.Options{Directory: j.Dir, Files: j.Files, Matches: matches, Priority: j.Priority, Units: j.Units, Format: format}
}
