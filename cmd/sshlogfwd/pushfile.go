package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// checkFollowable refuses a --file path that exists and is not a regular
// file. A missing file is fine: it is waited for.
func checkFollowable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file but %s", path, pipe.DescribeMode(fi.Mode()))
	}
	return nil
}

// openFile starts following --file from the position saved in the spool,
// or from --from on the very first run.
func (p *PushCmd) openFile(sp *spool.Spool, log *slog.Logger) (*tailer.Tailer, error) {
	opts := tailer.Options{Path: p.File, FromEnd: p.From == "end", Logger: log}
	if mark := sp.InputMark(); mark != "" {
		c, err := tailer.ParseCursor(mark)
		if err != nil {
			log.Warn("saved file position unreadable; starting per --from", "position", mark, "err", err)
		} else {
			opts.Start = &c
			log.Info("resuming file", "path", p.File, "cursor", c.String())
		}
	}
	t, err := tailer.Open(opts)
	if err != nil {
		return nil, usage("--file", err)
	}
	return t, nil
}

// followFile copies the followed file into the spool, recording after each
// whole-line chunk the file position it corresponds to, and saves both
// every second.
func (p *PushCmd) followFile(ctx context.Context, t *tailer.Tailer, sp *spool.Spool, lw *spool.LineWriter, log *slog.Logger) error {
	syncT := time.NewTicker(time.Second)
	defer syncT.Stop()
	chunks := make(chan tailer.Chunk)
	errs := make(chan error, 1)
	next := make(chan struct{}, 1)
	go func() {
		for {
			c, err := t.Next(ctx)
			if err != nil {
				errs <- err
				return
			}
			chunks <- c
			select {
			case <-next:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	save := func() {
		if err := sp.Sync(); err != nil {
			log.Error("saving spool and file position failed", "err", err)
		}
	}
	defer save()
	for {
		select {
		case c := <-chunks:
			if c.Event == tailer.EventTruncated {
				log.Warn("followed file was truncated; reading it again from the start", "path", p.File)
			}
			if len(c.Data) > 0 {
				if _, err := lw.Write(c.Data); err != nil {
					log.Error("spool append failed", "err", err)
				}
			}
			// Only where no line is half-read does the file position
			// match the spool exactly.
			if lw.Partial() == 0 {
				sp.SetInputMark(c.End.String())
			}
			next <- struct{}{}
		case <-syncT.C:
			save()
		case err := <-errs:
			if errors.Is(err, context.Canceled) || errors.Is(err, tailer.ErrClosed) {
				return nil
			}
			return fmt.Errorf("follow %s: %w", p.File, err)
		}
	}
}
