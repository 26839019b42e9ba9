package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
)

// stateDir is where we keep spools and cursors: $STATE_DIRECTORY (set by
// systemd's StateDirectory=), else $XDG_STATE_HOME/sshlogfwd, else
// ~/.local/state/sshlogfwd. Its error names no flag: the caller says which
// of its own flags gives the place instead.
func stateDir() (string, error) {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return first, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "sshlogfwd"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: neither $STATE_DIRECTORY, $XDG_STATE_HOME nor $HOME is set: %w", err)
	}
	return filepath.Join(home, ".local", "state", "sshlogfwd"), nil
}

// fileKey turns a destination into a file name.
func fileKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '@' {
			return r
		}
		return '_'
	}, s)
}

// defaultSpoolDir is push's spool directory when --spool is not given:
// one directory per set of destinations under the state directory. push
// and check both use it, so check looks where push will write.
func defaultSpoolDir(dests []execssh.Dest) (string, error) {
	base, err := stateDir()
	if err != nil {
		return "", err
	}
	keys := make([]string, len(dests))
	for i, d := range dests {
		keys[i] = fileKey(d.String())
	}
	return filepath.Join(base, strings.Join(keys, "+")), nil
}

// defaultCursorPath is pull's cursor file when neither --cursor-file nor
// --output is given.
func defaultCursorPath(dest execssh.Dest) (string, error) {
	base, err := stateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "pull-"+fileKey(dest.String())+".cursor"), nil
}
