// Package statedir says where sshlogfwd keeps its state when no flag
// names a place: push's spool directories and pull's cursor files, under
// one state directory. push, pull, check and `spool list` all ask here, so
// that check and the spool commands look where push and pull write.
package statedir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dir is the state directory: $STATE_DIRECTORY (set by systemd's
// StateDirectory=; its first entry), else $XDG_STATE_HOME/sshlogfwd, else
// ~/.local/state/sshlogfwd. Its error names no flag: the caller says which
// of its own flags gives the place instead.
func Dir() (string, error) {
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

// Key turns a destination ([user@]host:/path) into a file name: letters,
// digits, '.', '-' and '@' stay, anything else becomes '_'.
func Key(dest string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '@' {
			return r
		}
		return '_'
	}, dest)
}

// Spool is push's spool directory when --spool is not given: one
// directory per set of destinations (the Keys of their String, joined by
// '+') under Dir.
func Spool[D fmt.Stringer](dests []D) (string, error) {
	base, err := Dir()
	if err != nil {
		return "", err
	}
	keys := make([]string, len(dests))
	for i, d := range dests {
		keys[i] = Key(d.String())
	}
	return filepath.Join(base, strings.Join(keys, "+")), nil
}

// Cursor is pull's cursor file for the source src when neither
// --cursor-file nor --output is given: pull-KEY.cursor under Dir.
func Cursor(src string) (string, error) {
	base, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "pull-"+Key(src)+".cursor"), nil
}
