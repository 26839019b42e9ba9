package pull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/metrics"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/sdnotify"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// Options configure a pull.
type Options struct {
	// Src is the remote file.
	Src execssh.Dest
	// SSH is the ssh binary; SSHOptions its flags.
	SSH        string
	SSHOptions execssh.Options
	// Compat pulls with tail -F instead of sshlogfwd serve: no cursor, no
	// resume.
	Compat bool
	// RemoteBinary is the far side's sshlogfwd, named in the serve request.
	RemoteBinary string
	// From is where the very first run starts: "start" or "end".
	From string
	// Output is the file to append to; "" is standard output. pull takes
	// the writers' lock beside it (internal/onewriter) and refuses a file
	// another writer of ours writes.
	Output string
	// MaxSize bounds Output (0: no bound): what would take it beyond is
	// not written, and pull waits, holding the connection, until the
	// output has room again (see bound).
	MaxSize int64
	// CursorPath is the cursor file (reliable mode; required there). Its
	// lock is CursorPath + ".lock".
	CursorPath string
	// Fsync is how often the output is synced and the cursor saved with
	// it; 0 never syncs and saves the cursor every CursorSaveInterval.
	Fsync time.Duration
	// IdleTimeout reconnects when serve sends nothing, not even a
	// heartbeat, for this long (0: off).
	IdleTimeout time.Duration
	// BackoffMax is the longest wait between reconnect attempts.
	BackoffMax time.Duration
	// DrainTimeout bounds how long frames already sent are still read
	// after ctx ends.
	DrainTimeout time.Duration
	// OnReopen, if set, is given the function that reopens Output under
	// its name (for SIGHUP, after logrotate moved it) once Output is open.
	// The function does nothing after Run returned.
	OnReopen func(reopen func() error)
	// Notify, if set, hears when the pull is ready (the output and the
	// cursor open), its state line, watchdog pings from the report pass,
	// and the stop (internal/sdnotify).
	Notify sdnotify.Notifier
	// Metrics, if set, gets the pull's metrics (docs/metrics.md) every
	// MetricsEvery and once more at the end.
	Metrics      metrics.Sink
	MetricsEvery time.Duration
	Clock        clock.Clock
	Logger       *slog.Logger
}

// Run pulls until ctx ends, reconnecting whenever the connection ends, and
// then saves the cursor. It returns an error when it cannot start (the
// cursor file is unusable or locked by another pull, the output is another
// writer's (*onewriter.OtherWriterError) or holds bytes pull cannot prove
// it wrote (ErrNotOurs), the output cannot be opened, ssh cannot be run),
// and when it stops because the output turned out to hold bytes that are
// not its own (ErrNotOurs): it never cuts them.
func Run(ctx context.Context, o Options) error {
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	s := &sink{log: o.Logger, clk: o.Clock, src: o.Src.String(), fsync: o.Fsync, bound: bound{max: o.MaxSize}, stop: stop}
	release, err := o.lock()
	if err != nil {
		return err
	}
	defer release()
	if !o.Compat {
		s.cursorPath = o.CursorPath
	}
	if err := s.open(o.Output); err != nil {
		return err
	}
	defer s.close()
	if o.Output != "" && o.OnReopen != nil {
		o.OnReopen(s.Reopen)
	}
	o.logStart(s)
	stopReporting := newReporter(&o, s).start(ctx)
	defer stopReporting()
	sup := o.supervisor(s)
	sup.OnExit = func(error) { s.stats.exited(ctx.Err() != nil) }
	if err := sup.Run(ctx, o.session(s)); err != nil {
		return fmt.Errorf("run ssh: %w", err)
	}
	if err := context.Cause(ctx); errors.Is(err, ErrNotOurs) {
		return err
	}
	if err := s.stopped(); err != nil {
		o.Logger.Error("saving the cursor failed", "err", err)
	}
	c, _ := s.position()
	o.Logger.Info("stopped", "src", s.src, "cursor", c.String(), "bytes", s.received.Load(), "bytes_spliced", s.piped.Load())
	return nil
}

// lock takes the cursor's lock (one pull per cursor) and the writers' lock
// beside the output (one writer of ours per file), and returns what
// releases them.
func (o *Options) lock() (release func(), err error) {
	var locks []*fsutil.Lock
	release = func() {
		for _, l := range locks {
			l.Close()
		}
	}
	if !o.Compat {
		if o.CursorPath == "" {
			return nil, errors.New("pull: no cursor file given")
		}
		l, err := fsutil.TryLockFile(o.CursorPath+".lock", fmt.Sprintf("pid %d sshlogfwd pull", os.Getpid()))
		if err != nil {
			return nil, fmt.Errorf("lock cursor: %w", err)
		}
		locks = append(locks, l)
	}
	if o.Output != "" {
		me := onewriter.Holder{Program: onewriter.Pull, Pid: os.Getpid(), Of: o.Src.String()}
		l, err := onewriter.Claim(o.Output, me)
		switch {
		case errors.Is(err, fs.ErrPermission):
			// The output's directory is not ours to create files in:
			// look for other writers, without keeping them away.
			o.Logger.Warn("cannot create the writers' lock beside the output: other writers are not kept away while pull runs", "output", o.Output, "err", err)
			err = onewriter.Check(o.Output, me)
		case err == nil:
			locks = append(locks, l)
		}
		if err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

func (o *Options) logStart(s *sink) {
	switch c, have := s.position(); {
	case have:
		o.Logger.Info("resuming", "src", s.src, "cursor", c.String(), "cursor_file", s.cursorPath)
	case !o.Compat:
		o.Logger.Info("no cursor yet: first run", "src", s.src, "from", o.From, "cursor_file", s.cursorPath)
	}
}

// supervisor runs ssh with the request for the sink's position, again
// after every disconnect.
func (o *Options) supervisor(s *sink) *execssh.Supervisor {
	return &execssh.Supervisor{
		Name: "ssh[" + o.Src.Target() + "]",
		Argv: func() ([]string, error) {
			c, have := s.position()
			return execssh.Argv(o.SSH, o.SSHOptions, o.Src, RemoteCommand(*o, c, have))
		},
		WantStdout:  true,
		ReadyMarker: o.readyMarker(),
		Target:      o.Src.Target(),
		Doing:       "receiving",
		Explain:     o.explain,
		Clock:       o.Clock,
		Logger:      o.Logger,
		Backoff:     backoff.Backoff{Min: 250 * time.Millisecond, Max: o.BackoffMax},
		StopGrace:   2 * time.Second,
		Sleep:       func(ctx context.Context, d time.Duration) error { return clock.Sleep(ctx, o.Clock, d) },
	}
}

// readyMarker is the marker ssh prints once connected, unless the user's
// own LocalCommand replaces ours.
func (o *Options) readyMarker() string {
	if o.SSHOptions.ReadyGated() {
		return o.SSHOptions.ReadyMarker
	}
	return ""
}

// explain is the advice for a connection that keeps failing, in pull's
// terms where pull knows better than ssh.
func (o *Options) explain(f execssh.Failure, stderr []string) execssh.Advice {
	a := execssh.Explain(f, o.Src.Target(), stderr)
	mode := "pull"
	if o.Compat {
		mode = "pull --compat"
	}
	switch f {
	case execssh.PermissionDenied:
		a.Fix = fmt.Sprintf("install the line printed by 'sshlogfwd authorized-key %s --from <this host's address> --key <key>.pub %s' in the watched host account's authorized_keys", mode, forcedcmd.ShellQuote(o.Src.Path))
	case execssh.RequestRefused:
		a.Fix = fmt.Sprintf("SRC must match the forced command: the key's forced command in authorized_keys on the watched host must name %s, or SRC the file it names", o.Src.Path)
	}
	return a
}

func (o *Options) session(s *sink) execssh.Session {
	if o.Compat {
		return (&compat{sink: s, log: o.Logger}).session
	}
	r := &reliable{sink: s, log: o.Logger, clk: o.Clock, idleTimeout: o.IdleTimeout, drainTimeout: o.DrainTimeout}
	return r.session
}

// RemoteCommand is the command ssh asks the far side to run for a pull at
// cursor c (have: a cursor is known). A forced command in authorized_keys
// replaces it; `sshlogfwd serve` then reads it from SSH_ORIGINAL_COMMAND
// (and checks the path against its own).
func RemoteCommand(o Options, c tailer.Cursor, have bool) string {
	if o.Compat {
		// -c +N could resume a byte offset, but not across rotation.
		return request.Tail(o.Src.Path)
	}
	req := request.ServeRequest{From: o.From}
	switch {
	case have && !c.IsZero():
		req.Cursor = &c
	case have:
		// The file did not exist when we first asked: read it from its
		// first byte now.
		req.From = "start"
	}
	return request.Serve(o.RemoteBinary, o.Src.Path, req)
}
