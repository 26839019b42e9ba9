package execssh

import (
	"context"
	"errors"
	"fmt"
	"github.com/sshlogfwd/sshlogfwd/internal/backoff"
	"io/fs"
	"log/slog"
	"os/exec"
	"time"
)

// Session uses one running child: it writes to the child's stdin (and reads
// its stdout, if requested) until the child exits, a write fails, or ctx is
// done. It reports whether the connection was healthy, i.e. carried data,
// so that the backoff starts over.
type Session func(ctx context.Context, c *Child) (healthy bool)

// Supervisor keeps one ssh child running: it starts it, hands it to a
// Session, stops and reaps it when the session ends, logs why it ended, and
// starts it again after a backoff, until ctx is done.
type Supervisor struct {
	Name       string                   // e.g. "ssh[loghost]"
	Argv       func() ([]string, error) // called before every start
	Env        []string
	WantStdout bool
	// ReadyMarker: see StartOptions.ReadyMarker.
	ReadyMarker string
	Logger      *slog.Logger
	Backoff     backoff.Backoff
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
}

// Run supervises until ctx is done. It returns nil on cancellation, which is
// a normal shutdown, and an error only when the child can never start
// (the ssh binary is missing, the command line is invalid).
func (s *Supervisor) Run(ctx context.Context, session Session) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	grace := s.StopGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	healthyAfter := s.HealthyAfter
	if healthyAfter <= 0 {
		healthyAfter = 30 * time.Second
	}
	sleep := s.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	for ctx.Err() == nil {
		argv, err := s.Argv()
		if err != nil {
			return fmt.Errorf("%s: build command line: %w", s.Name, err)
		}
		c, err := Start(StartOptions{Argv: argv, Name: s.Name, Logger: log, WantStdout: s.WantStdout, Env: s.Env, ReadyMarker: s.ReadyMarker})
		if err != nil {
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return err
			}
			log.Error(err.Error())
		} else {
			healthy := session(ctx, c)
			exitErr := c.Stop(grace)
			if s.OnExit != nil {
				s.OnExit(exitErr)
			}
			up := c.Uptime().Round(time.Millisecond)
			switch {
			case exitErr != nil:
				log.Warn("connection ended: "+exitErr.Error(), "child", s.Name, "uptime", up)
			case ctx.Err() == nil:
				log.Warn(s.Name+" exited with status 0: the remote command ended (it closed the stream)", "uptime", up)
			default:
				log.Info(s.Name+" stopped", "uptime", up)
			}
			if healthy || c.Uptime() >= healthyAfter {
				s.Backoff.Reset()
			}
		}
		if ctx.Err() != nil {
			break
		}
		d := s.Backoff.Next()
		log.Info("reconnecting", "child", s.Name, "in", d.Round(time.Millisecond))
		if sleep(ctx, d) != nil {
			break
		}
	}
	return nil
}
