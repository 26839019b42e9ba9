package execssh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os/exec"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"github.com/sshlogfwd/sshlogfwd/internal/clock"
)

// Session uses one running child: it writes to the child's stdin (and reads
// its stdout, if requested) until the child exits, a write fails, or ctx is
// done. It reports whether the connection was healthy, i.e. carried data,
// so that the backoff starts over.
type Session func(ctx context.Context, c *Child) (healthy bool)

// Supervisor keeps one ssh child running: it starts it, hands it to a
// Session, stops and reaps it when the session ends, logs why it ended, and
// starts it again after a backoff, until ctx is done. It tells the
// administrator how the connection fares (see health): every connect, and
// a failure to connect that persists, explained with its fix and then
// only reminded now and then.
type Supervisor struct {
	Name       string                   // e.g. "ssh[loghost]"
	Argv       func() ([]string, error) // called before every start
	Env        []string
	WantStdout bool
	// ReadyMarker: see StartOptions.ReadyMarker.
	ReadyMarker string
	// Target names the far side in the connect and failure lines
	// ([user@]host); Doing says what a connection does once up
	// ("delivering"). The session reports the connect (Child.Connected).
	Target, Doing string
	// Explain, if set, replaces the default advice (Explain) for a
	// failure to connect that persists.
	Explain func(f Failure, stderr []string) Advice
	Logger  *slog.Logger
	// Clock times the failure reminders (default the wall clock).
	Clock   clock.Clock
	Backoff backoff.Backoff
	// StopGrace bounds how long a child may take to exit after its stdin
	// is closed before it is killed (default 5 s).
	StopGrace time.Duration
	// HealthyAfter resets the backoff for a child that stayed up this
	// long even if its session did not report data (default 30 s).
	HealthyAfter time.Duration
	// Sleep waits between attempts; tests replace it. Default: Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnExit, if set, is called with every child's result.
	OnExit func(err error)

	log    *slog.Logger
	health *health
}

// Run supervises until ctx is done. It returns nil on cancellation, which is
// a normal shutdown, and an error only when the child can never start
// (the ssh binary is missing, the command line is invalid).
func (s *Supervisor) Run(ctx context.Context, session Session) error {
	s.defaults()
	for ctx.Err() == nil {
		argv, err := s.Argv()
		if err != nil {
			return fmt.Errorf("%s: build command line: %w", s.Name, err)
		}
		c, err := Start(StartOptions{Argv: argv, Name: s.Name, Logger: s.log, WantStdout: s.WantStdout, Env: s.Env,
			ReadyMarker: s.ReadyMarker, OnConnected: s.health.connected, Quiet: s.health.quiet})
		if err != nil {
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return err
			}
			s.log.Error(err.Error())
		} else {
			s.runChild(ctx, c, session)
		}
		if ctx.Err() != nil {
			break
		}
		d := s.Backoff.Next()
		s.logAttempt(slog.LevelInfo, "reconnecting", "child", s.Name, "in", d.Round(time.Millisecond))
		if s.Sleep(ctx, d) != nil {
			break
		}
	}
	return nil
}

func (s *Supervisor) defaults() {
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.StopGrace <= 0 {
		s.StopGrace = 5 * time.Second
	}
	if s.HealthyAfter <= 0 {
		s.HealthyAfter = 30 * time.Second
	}
	if s.Sleep == nil {
		s.Sleep = Sleep
	}
	if s.Target == "" {
		s.Target = s.Name
	}
	if s.Doing == "" {
		s.Doing = "running"
	}
	explain := s.Explain
	if explain == nil {
		explain = func(f Failure, stderr []string) Advice { return Explain(f, s.Target, stderr) }
	}
	s.health = &health{log: s.log, clk: clock.OrReal(s.Clock), target: s.Target, doing: s.Doing, explain: explain}
}

// runChild hands c to the session, stops it, and says how it ended.
func (s *Supervisor) runChild(ctx context.Context, c *Child, session Session) {
	healthy := session(ctx, c)
	exitErr := c.Stop(s.StopGrace)
	if s.OnExit != nil {
		s.OnExit(exitErr)
	}
	up := c.Uptime().Round(time.Millisecond)
	switch {
	case healthy || c.IsConnected():
		s.health.up()
	case ctx.Err() == nil:
		// Counted after the exit is logged: the attempt that explains
		// a persistent failure is still logged in full.
		defer s.health.failed(c.StderrTail())
	}
	switch {
	case exitErr != nil:
		s.logAttempt(slog.LevelWarn, "connection ended: "+exitErr.Error(), "child", s.Name, "uptime", up)
	case ctx.Err() == nil:
		s.logAttempt(slog.LevelWarn, s.Name+" exited with status 0: the remote command ended (it closed the stream)", "uptime", up)
	default:
		s.log.Info(s.Name+" stopped", "uptime", up)
	}
	if healthy || c.Uptime() >= s.HealthyAfter {
		s.Backoff.Reset()
	}
}

// logAttempt logs a line about one attempt, at debug level while a
// persistent failure is being reported in its place.
func (s *Supervisor) logAttempt(level slog.Level, msg string, args ...any) {
	if s.health.quiet() {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, msg, args...)
}
