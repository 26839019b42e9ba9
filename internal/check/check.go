package check

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/pull"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/statedir"
)

// Options are what every check needs: the ssh that push or pull would
// run, and how long to wait for the far side.
type Options struct {
	SSHPath string          // the ssh client (--ssh)
	SSH     execssh.Options // the user's ssh settings; ReadyMarker makes ssh say when it is in
	// ProbeWait is how long a probe waits for the far side once ssh has
	// connected (twice that where a far side that keeps running is the
	// expected answer).
	ProbeWait time.Duration
	Out       io.Writer    // where the report goes (default standard output)
	Clock     clock.Clock  // default the wall clock
	Logger    *slog.Logger // our own diagnostics; ssh's complaints go into the report
}

func (o *Options) defaults() {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// PushOptions describe a push setup: the flags push would be given.
type PushOptions struct {
	Options
	Dests      []execssh.Dest
	FIFO       string      // --fifo, or ""
	FIFOMode   fs.FileMode // --fifo-mode, for a FIFO push would create
	File       string      // --file, or ""
	SyslogUser string      // the user the syslog daemon writes the FIFO as
	// Journal, for --journal, is how push would follow the journal (its
	// selection, directory or files); the cursor it resumes after is read
	// from Spool.
	Journal *journal.Options
	// Spool is --spool; "" checks push's default (statedir.Spool of
	// Dests), or says why there is none.
	Spool string

	RemoteCommand string // --remote-command, or ""
	Reliable      bool   // --reliable: the far side runs sshlogfwd receive
	RemoteBinary  string // --remote-sshlogfwd
	// Hostname is this host's short name, as syslog writes it in a line;
	// the append probe's test line carries it.
	Hostname string
}

// remoteCommand is the command push asks the far side to run for path.
func (o *PushOptions) remoteCommand(path string) string {
	return request.Push(o.RemoteCommand, o.Reliable, o.RemoteBinary, path)
}

// spoolDir is the spool directory push would use: --spool, or push's
// default for Dests.
func (o *PushOptions) spoolDir() (string, error) {
	if o.Spool != "" {
		return o.Spool, nil
	}
	return statedir.Spool(o.Dests)
}

// Push checks a push setup: its input (for the journal: that it is
// readable, what the selection finds, whether the saved cursor is still
// there), its spool, and for every destination the key, the connection,
// the key's restriction and push's own remote command. It returns
// ErrFailed if any check failed.
func Push(ctx context.Context, o PushOptions) error {
	o.defaults()
	r := &report{w: o.Out}
	switch {
	case o.FIFO != "":
		checkFIFO(r, o.FIFO, o.FIFOMode, o.SyslogUser)
	case o.File != "":
		checkReadable(r, "--file "+o.File, o.File)
	case o.Journal != nil:
		spool, _ := o.spoolDir() // none: no cursor to check; the spool's FAIL says why
		checkJournal(ctx, r, *o.Journal, spool, o.Clock)
	}
	if spool, err := o.spoolDir(); err != nil {
		r.fail("--spool", err.Error(), "give --spool DIR, or set STATE_DIRECTORY=DIR as the unit does")
	} else {
		checkPrivateDir(r, "--spool "+spool, spool)
	}
	for _, dest := range o.Dests {
		key := keyLine{mode: "push", reliable: o.Reliable, remoteBinary: o.RemoteBinary}
		p := newProber(ctx, o.Options, r, dest, roleLogHost, key)
		if !p.connect() {
			continue
		}
		p.restricted()
		p.forwarding()
		if o.Reliable {
			p.receive(o.remoteCommand(dest.Path))
		} else {
			p.append(o.remoteCommand(dest.Path), o.Hostname)
		}
	}
	return r.result()
}

// PullOptions describe a pull setup: the flags pull would be given.
type PullOptions struct {
	Options
	Src          execssh.Dest
	Output       string // --output, or "" for standard output
	Compat       bool   // --compat: the far side runs tail -F
	CursorFile   string // --cursor-file, or ""
	From         string // --from: start or end
	RemoteBinary string // --remote-sshlogfwd
}

// remoteCommand is the command pull asks the far side to run on its
// first start (no cursor yet).
func (o *PullOptions) remoteCommand() string {
	if o.Compat {
		return request.Tail(o.Src.Path)
	}
	return request.Serve(o.RemoteBinary, o.Src.Path, request.ServeRequest{From: o.From})
}

// Pull checks a pull setup: its output and cursor, the key, the
// connection, the key's restriction and pull's own remote command. It
// returns ErrFailed if any check failed.
func Pull(ctx context.Context, o PullOptions) error {
	o.defaults()
	r := &report{w: o.Out}
	if o.Output != "" {
		checkOutput(r, "--output "+o.Output, o.Output)
		checkOneWriter(r, "--output "+o.Output, o.Output, o.Src.String())
	}
	if !o.Compat {
		// Where pull keeps it: pull.CursorPath.
		_, stateDir, err := pull.CursorPath(o.CursorFile, o.Output, o.Src)
		switch {
		case err != nil:
			r.fail("cursor", err.Error(), "give --output FILE (the cursor is kept beside it) or --cursor-file FILE, or set STATE_DIRECTORY=DIR as the unit does")
		case o.CursorFile != "":
			checkOutput(r, "--cursor-file "+o.CursorFile, o.CursorFile)
		case stateDir != "":
			checkPrivateDir(r, "state directory "+stateDir, stateDir)
		}
	}
	key := keyLine{mode: "pull", compat: o.Compat, remoteBinary: o.RemoteBinary}
	p := newProber(ctx, o.Options, r, o.Src, roleWatchedHost, key)
	if !p.connect() {
		return r.result()
	}
	p.restricted()
	p.forwarding()
	if o.Compat {
		p.tail(o.remoteCommand(), o.Src.Path)
	} else {
		p.serve(o.remoteCommand(), o.Src.Path)
	}
	return r.result()
}
