package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// ServeCmd is the watched host's side of a reliable pull. It is meant to be
// the forced command of a restricted key:
//
//	restrict,from="loghost",command="sshlogfwd serve /var/log/forward.log" ssh-ed25519 ...
//
// It follows PATH with the tailer and writes the stream protocol (see
// internal/stream) on standard output.
type ServeCmd struct {
	Path      string        `arg:"" name:"PATH" help:"The one file this key may read (its rotated siblings are read too, to resume)."`
	Cursor    string        `help:"Resume right after this position (DEV:INO:OFF, as pull stores it). Ignored when the client sent a request (SSH_ORIGINAL_COMMAND)." placeholder:"CURSOR"`
	From      string        `help:"Without a cursor: start at the file's current start or end. A request without --from, or no request at all, starts at the end, like tail -f." enum:"start,end" default:"end"`
	Poll      bool          `help:"Poll the file with stat instead of inotify (for NFS and other file systems without inotify)."`
	Heartbeat time.Duration `help:"While the file is idle, send a heartbeat this often: it keeps the link checked and lets serve notice a client that went away." default:"500ms" hidden:""`
}

// Validate checks the command line given in authorized_keys.
func (s *ServeCmd) Validate() error {
	if s.Path == "" {
		return usage("PATH", errors.New("empty path"))
	}
	if s.Cursor != "" {
		if _, err := tailer.ParseCursor(s.Cursor); err != nil {
			return usage("--cursor", err)
		}
	}
	if s.Heartbeat < 10*time.Millisecond {
		return usage("--heartbeat", fmt.Errorf("%s is too short", s.Heartbeat))
	}
	return nil
}

// request reads the client's request: from SSH_ORIGINAL_COMMAND when sshd
// set it (serve runs as a forced command), else from our own flags.
func (s *ServeCmd) request() (request.ServeRequest, error) {
	orig, forced := os.LookupEnv("SSH_ORIGINAL_COMMAND")
	if !forced || isBlank(orig) {
		// No request: our own command line decides (a forced command may
		// carry --from; a plain key runs "sshlogfwd serve --cursor C PATH").
		req := request.ServeRequest{From: s.From}
		if s.Cursor != "" {
			c, _ := tailer.ParseCursor(s.Cursor)
			req.Cursor = &c
		}
		return req, nil
	}
	req, err := request.ParseServe(s.Path, orig)
	if err != nil {
		return request.ServeRequest{}, usage("SSH_ORIGINAL_COMMAND", err)
	}
	return req, nil
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return false
		}
	}
	return true
}

// Run streams the file until the client goes away.
func (s *ServeCmd) Run(ctx context.Context, log *slog.Logger) error {
	req, err := s.request()
	if err != nil {
		return err
	}
	// A write to a vanished client must return EPIPE, not kill us with
	// SIGPIPE: we exit cleanly either way, but on our own terms.
	signal.Ignore(syscall.SIGPIPE)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watchStdin(os.Stdin, cancel)
	go pipe.WatchHangup(ctx, 1, cancel)

	t, start, how, err := s.openTailer(req, log)
	if err != nil {
		return err
	}
	defer t.Close()
	log.Debug("serving", "path", s.Path, "start", start.String(), "how", how)

	enc := stream.NewEncoder(os.Stdout)
	if err := enc.Version(); err != nil {
		return clientGone(err, log)
	}
	if err := enc.Start(start, how); err != nil {
		return clientGone(err, log)
	}
	for {
		nctx, ncancel := context.WithTimeout(ctx, s.Heartbeat)
		ch, err := t.Next(nctx)
		ncancel()
		if ctx.Err() != nil {
			log.Debug("client went away; stopping")
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if err := enc.Heartbeat(); err != nil {
				return clientGone(err, log)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("serve %s: %w", s.Path, err)
		}
		switch ch.Event {
		case tailer.EventNone:
			err = enc.Data(ch.End, ch.Data)
		case tailer.EventLate:
			err = enc.Late(ch.End, ch.Data)
		case tailer.EventRotated:
			err = enc.Rotated(ch.End)
		case tailer.EventTruncated:
			err = enc.Truncated(ch.End)
		}
		if err != nil {
			return clientGone(err, log)
		}
	}
}

// clientGone turns a failed write to standard output into a normal end:
// the client closed the connection.
func clientGone(err error, log *slog.Logger) error {
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, fs.ErrClosed) {
		log.Debug("client went away; stopping", "err", err)
		return nil
	}
	return fmt.Errorf("write to client: %w", err)
}

// openTailer positions a tailer as requested and says where it starts.
//
// A fresh start is turned into a cursor here (the file's device, inode and
// its current size or 0) instead of the tailer's FromEnd, so that the start
// frame can tell pull the exact position: pull stores it, and a restart of
// pull resumes there instead of starting at the end once more and skipping
// what was written in between.
func (s *ServeCmd) openTailer(req request.ServeRequest, log *slog.Logger) (*tailer.Tailer, tailer.Cursor, stream.How, error) {
	opts := tailer.Options{Path: s.Path, Poll: s.Poll, Logger: log, IfLost: tailer.LostFail}
	if req.Cursor != nil && !req.Cursor.IsZero() {
		opts.Start = req.Cursor
		t, err := tailer.Open(opts)
		if err == nil {
			return t, *req.Cursor, stream.HowResume, nil
		}
		if !errors.Is(err, tailer.ErrCursorLost) {
			return nil, tailer.Cursor{}, "", err
		}
		log.Warn("the file of the requested position is gone (rotated away, compressed or deleted); serving the current file from its beginning: what was between the position and the rotation is lost",
			"cursor", req.Cursor.String())
		t, start, _, err := s.fresh(opts, "start")
		return t, start, stream.HowLost, err
	}
	return s.fresh(opts, req.From)
}

// fresh opens the tailer at the start or end of the file as it is now.
func (s *ServeCmd) fresh(opts tailer.Options, from string) (*tailer.Tailer, tailer.Cursor, stream.How, error) {
	how := stream.HowEnd
	if from == "start" {
		how = stream.HowStart
	}
	var lastErr error
	// The file may be rotated away between the stat and the open; the
	// tailer then still finds it among its siblings, and if it is gone
	// altogether we look again.
	for range 3 {
		fi, err := os.Stat(s.Path)
		if errors.Is(err, fs.ErrNotExist) {
			opts.Start = nil
			t, err := tailer.Open(opts)
			return t, tailer.Cursor{}, stream.HowWait, err
		}
		if err != nil {
			return nil, tailer.Cursor{}, "", fmt.Errorf("serve %s: %w", s.Path, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, tailer.Cursor{}, "", fmt.Errorf("serve %s: not a regular file (%s)", s.Path, fi.Mode().Type())
		}
		st := fi.Sys().(*syscall.Stat_t)
		c := tailer.Cursor{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
		if how == stream.HowEnd {
			c.Offset = fi.Size()
		}
		opts.Start = &c
		t, err := tailer.Open(opts)
		if err == nil {
			return t, c, how, nil
		}
		if !errors.Is(err, tailer.ErrCursorLost) {
			return nil, tailer.Cursor{}, "", err
		}
		lastErr = err
	}
	return nil, tailer.Cursor{}, "", fmt.Errorf("serve %s: the file keeps being replaced: %w", filepath.Clean(s.Path), lastErr)
}

// watchStdin cancels when standard input ends: the client closed its side
// (pull does so to stop) or went away (sshd then closes our input).
func watchStdin(r io.Reader, cancel func()) {
	buf := make([]byte, 512)
	for {
		if _, err := r.Read(buf); err != nil {
			cancel()
			return
		}
	}
}
