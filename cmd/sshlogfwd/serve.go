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

	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/serve"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// ServeCmd is the watched host's side of a reliable pull. It is meant to be
// the forced command of a restricted key:
//
//	restrict,from="loghost",command="sshlogfwd serve /var/log/forward.log" ssh-ed25519 ...
//
// It follows PATH with the tailer and writes the stream protocol (see
// internal/stream) on standard output.
type ServeCmd struct {
	Path      string        `arg:"" name:"PATH" help:"The one file this key may read (its rotations, PATH.1, PATH-YYYYMMDD and the like with PATH's owner, are read too, to resume)."`
	Cursor    string        `help:"Resume right after this position (DEV:INO:OFF, as pull stores it). Ignored when the client sent a request (SSH_ORIGINAL_COMMAND)." placeholder:"CURSOR"`
	From      string        `help:"Without a cursor: start at the file's current start or end. A request without --from, or no request at all, starts at the end, like tail -f." enum:"start,end" default:"end"`
	Poll      bool          `help:"Poll the file with stat instead of inotify (for NFS and other file systems without inotify)."`
	Heartbeat time.Duration `help:"While the file is idle, send a heartbeat this often: it keeps the link checked and lets serve notice a client that went away." default:"500ms" hidden:""`
}

// Validate checks the command line given in authorized_keys.
func (s *ServeCmd) Validate() error {
	if s.Path == "" {
		return usage.Flag("PATH", errors.New("empty path"))
	}
	if s.Cursor != "" {
		if _, err := tailer.ParseCursor(s.Cursor); err != nil {
			return usage.Flag("--cursor", err)
		}
	}
	if s.Heartbeat < 10*time.Millisecond {
		return usage.Flag("--heartbeat", fmt.Errorf("%s is too short", s.Heartbeat))
	}
	return nil
}

// request is the request to answer: the client's, or our own flags'
// (request.ServeOf).
func (s *ServeCmd) request() (request.ServeRequest, error) {
	own := request.ServeRequest{From: s.From}
	if s.Cursor != "" {
		c, _ := tailer.ParseCursor(s.Cursor) // Validate checked it
		own.Cursor = &c
	}
	return request.ServeOf(s.Path, own)
}

// Run streams the file until the client goes away. Without --log our log
// is standard error, which sshd hands to the client: then nothing has a
// local log, and what the client must not learn is not logged at all.
func (s *ServeCmd) Run(ctx context.Context, log *slog.Logger, cli *CLI) error {
	req, err := s.request()
	if err != nil {
		return err
	}
	// A write to a vanished client must return EPIPE, not kill us with
	// SIGPIPE: we exit cleanly either way, but on our own terms.
	signal.Ignore(syscall.SIGPIPE)
	// sshd's pipe: with 64 KiB, serve moves a 1 MiB frame in sixteen
	// waits for sshd (see pipe.Grow).
	pipe.Grow(os.Stdout, 1<<20)
	var local *slog.Logger
	if cli.Log != "" {
		local = log
	}
	return serve.Run(ctx, os.Stdin, os.Stdout, serve.Options{
		Path:        s.Path,
		Request:     req,
		Poll:        s.Poll,
		Heartbeat:   s.Heartbeat,
		Logger:      log,
		LocalLogger: local,
	})
}
