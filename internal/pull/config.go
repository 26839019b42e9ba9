package pull

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/statedir"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// Validate checks o as pull's command line gives it: the rules between
// pull's own settings, each refusal a *usage.Error naming the flag to
// change. cursorFile is --cursor-file, which o holds only once placed
// (CursorPath).
func (o *Options) Validate(cursorFile string) error {
	if o.Compat {
		if o.From == "start" {
			return usage.Flag("--from", errors.New("start needs the reliable mode: tail -F -n 0 cannot resume, and reading the whole file on every reconnect would repeat it"))
		}
		if cursorFile != "" {
			return usage.Flag("--cursor-file", errors.New("has no effect with --compat, which keeps no position"))
		}
	}
	if o.MaxSize < 0 {
		return usage.Flag("--max-size", fmt.Errorf("negative size %d", o.MaxSize))
	}
	if o.MaxSize > 0 && o.Output == "" {
		return usage.Flag("--max-size", errors.New("bounds --output; standard output has no size to bound"))
	}
	if o.RemoteBinary == "" || strings.ContainsAny(o.RemoteBinary, "\n\x00") {
		return usage.Flag("--remote-sshlogfwd", fmt.Errorf("%q is not a program path", o.RemoteBinary))
	}
	if err := usage.NonNegative(map[string]time.Duration{"--fsync": o.Fsync, "--idle-timeout": o.IdleTimeout, "--backoff-max": o.BackoffMax, "--drain-timeout": o.DrainTimeout}); err != nil {
		return err
	}
	if o.IdleTimeout > 0 && o.IdleTimeout < time.Second {
		return usage.Flag("--idle-timeout", fmt.Errorf("%s is too short: serve sends a heartbeat every 500ms (at least 1s)", o.IdleTimeout))
	}
	return nil
}

// CursorPath is where pull keeps its cursor for src: cursorFile
// (--cursor-file) when given, else FILE.cursor beside output (--output),
// else pull-KEY.cursor in the state directory (statedir.Cursor), which
// stateDir then names: a directory that pull creates and check inspects.
// The error is statedir's (there is no state directory) and names no flag.
func CursorPath(cursorFile, output string, src execssh.Dest) (path, stateDir string, err error) {
	switch {
	case cursorFile != "":
		return cursorFile, "", nil
	case output != "":
		return output + ".cursor", "", nil
	}
	if stateDir, err = statedir.Dir(); err != nil {
		return "", "", err
	}
	path, err = statedir.Cursor(src.String())
	return path, stateDir, err
}
