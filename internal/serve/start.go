package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/stream"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// start is where serving begins and why.
type start struct {
	t      *tailer.Tailer
	cursor tailer.Cursor
	how    stream.How
}

// openStart positions a tailer on path as req asks.
//
// A cursor is looked for in the file at path and in its rotations (the
// tailer does that, and reads only files that look like rotations of path,
// with path's owner and no other names); when its file is gone or is not
// such a file, the current file is served from its beginning (HowLost).
// The client is told nothing more: which neighbour holds the inode it
// named goes only to the local log. A fresh start is turned into a cursor
// here (see fresh).
func openStart(opts tailer.Options, req request.ServeRequest, log *slog.Logger) (start, error) {
	opts.IfLost = tailer.LostFail
	if req.Cursor == nil || req.Cursor.IsZero() {
		return fresh(opts, req.From)
	}
	opts.Start = req.Cursor
	t, err := tailer.Open(opts)
	if err == nil {
		return start{t, *req.Cursor, stream.HowResume}, nil
	}
	if !errors.Is(err, tailer.ErrCursorLost) {
		return start{}, err
	}
	log.Warn("the file of the requested position is gone (rotated away, compressed or deleted) or is not a rotation serve may read; serving the current file from its beginning: what was between the position and the rotation is lost",
		"cursor", req.Cursor.String())
	s, err := fresh(opts, "start")
	s.how = stream.HowLost
	return s, err
}

// fresh opens the tailer at the start or end of the file as it is now, or
// waits for the file when it does not exist (HowWait, at the zero cursor).
//
// The start is turned into a cursor (the file's device, inode and its
// current size or 0) instead of the tailer's FromEnd, so that the start
// frame can tell pull the exact position: pull stores it, and a restart of
// pull resumes there instead of starting at the end once more and skipping
// what was written in between.
func fresh(opts tailer.Options, from string) (start, error) {
	how := stream.HowEnd
	if from == "start" {
		how = stream.HowStart
	}
	var lastErr error
	// The file may be rotated away between the stat and the open; the
	// tailer then still finds it among its siblings, and if it is gone
	// altogether we look again.
	for range 3 {
		c, err := currentFile(opts.Path, how == stream.HowEnd)
		if errors.Is(err, fs.ErrNotExist) {
			opts.Start = nil
			t, err := tailer.Open(opts)
			return start{t, tailer.Cursor{}, stream.HowWait}, err
		}
		if err != nil {
			return start{}, err
		}
		opts.Start = &c
		t, err := tailer.Open(opts)
		if err == nil {
			return start{t, c, how}, nil
		}
		if !errors.Is(err, tailer.ErrCursorLost) {
			return start{}, err
		}
		lastErr = err
	}
	return start{}, fmt.Errorf("the file keeps being replaced: %w", lastErr)
}

// currentFile is the position of offset 0 (atEnd: of the end) of the file
// at path now.
func currentFile(path string, atEnd bool) (tailer.Cursor, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return tailer.Cursor{}, err
	}
	if !fi.Mode().IsRegular() {
		return tailer.Cursor{}, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	id, ok := fsutil.IDOf(fi)
	if !ok {
		return tailer.Cursor{}, errors.New("no inode number")
	}
	c := tailer.Cursor{Dev: id.Dev, Ino: id.Ino}
	if atEnd {
		c.Offset = fi.Size()
	}
	return c, nil
}
