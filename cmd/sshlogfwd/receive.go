package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/bytesize"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/receiver"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// ReceiveCmd is the log host's side of a reliable push. It is meant to be
// the forced command of a restricted key:
//
//	restrict,from="web1",command="sshlogfwd receive --max-size 1GiB /var/log/remote/web1.log" ssh-ed25519 ...
//
// It appends what push sends to PATH and acknowledges what is on disk (see
// internal/ackproto and internal/receiver).
//
// Like serve, it reads no SSHLOGFWD_* variable, the global flags' included
// (env.go): a client may be allowed to pass variables (sshd's AcceptEnv),
// and the bound, the fsync policy and the log are the log host's to set, in
// authorized_keys only. The env:"-" tags below say so where it matters most.
type ReceiveCmd struct {
	Path    string        `arg:"" name:"PATH" help:"The one file this key may append to. A state file (.NAME.sshlogfwd) and a lock file beside it hold the position."`
	MaxSize bytesize.Size `name:"max-size" env:"-" help:"Refuse data that would make PATH larger than SIZE (0 = no bound); the sender keeps it until PATH is rotated or the bound raised." default:"0" placeholder:"SIZE"`
	Fsync   time.Duration `name:"fsync" env:"-" help:"Longest time received data waits for its fsync and acknowledgement while data keeps coming; it is synced at once when the input pauses." default:"1s"`
}

// Validate checks the command line given in authorized_keys.
func (r *ReceiveCmd) Validate() error {
	if r.Path == "" {
		return usage.Flag("PATH", errors.New("empty path"))
	}
	if r.MaxSize < 0 {
		return usage.Flag("--max-size", fmt.Errorf("negative size %d", r.MaxSize))
	}
	if r.Fsync <= 0 {
		return usage.Flag("--fsync", fmt.Errorf("%s: must be positive", r.Fsync))
	}
	return nil
}

// Run serves one session, until the sender closes it or goes away.
func (r *ReceiveCmd) Run(ctx context.Context, log *slog.Logger) error {
	if err := request.CheckReceive(r.Path); err != nil {
		// Said on both channels: push logs the error frame, a person
		// running ssh by hand sees stderr.
		os.Stdout.Write(ackproto.AppendError(nil, ackproto.CodeRefused, errors.Unwrap(err).Error()))
		return err
	}
	// A write to a vanished sender must fail with EPIPE, not kill us
	// before the state is saved.
	signal.Ignore(syscall.SIGPIPE)
	pipe.Grow(os.Stdin, 1<<20) // sshd's pipes: see pipe.Grow
	pipe.Grow(os.Stdout, 1<<20)
	err := receiver.Serve(ctx, os.Stdin, os.Stdout, receiver.Options{
		Path:    r.Path,
		MaxSize: int64(r.MaxSize),
		Fsync:   r.Fsync,
		Logger:  log,
	})
	if err != nil {
		return fmt.Errorf("receive %s: %w", r.Path, err)
	}
	return nil
}
