package push

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
)

// How push reaches its destinations. `sshlogfwd push` builds a Reach from
// its flags and `sshlogfwd spool deliver` reads one from a spool's record
// (Record.Reach): both build every ssh command line here, so that deliver
// runs the very ssh push ran.

// execOptions are r's ssh settings, with marker as the line ssh prints
// once it is connected (execssh.Options.ReadyMarker).
func (r Reach) execOptions(marker string) execssh.Options {
	return execssh.Options{Identity: r.Identity, Port: r.Port, ConfigFile: r.SSHConfig, Extra: r.SSHOptions, NoCompress: r.NoCompress, ReadyMarker: marker}
}

// Argv is the ssh command line that reaches d and runs there push's remote
// command for d's path in the given mode (request.Push).
func (r Reach) Argv(d execssh.Dest, reliable bool, marker string) ([]string, error) {
	cmd := request.Push(r.RemoteCommand, reliable, r.RemoteSSHLogfwd, d.Path)
	return execssh.Argv(r.SSH, r.execOptions(marker), d, cmd)
}

// ParseDests parses each of dests ([user@]host:/path). A destination
// given twice is refused: each gets every line, under its name.
func ParseDests(dests []string) ([]execssh.Dest, error) {
	out := make([]execssh.Dest, 0, len(dests))
	seen := map[string]bool{}
	for _, s := range dests {
		d, err := execssh.ParseDest(s)
		if err != nil {
			return nil, err
		}
		if seen[d.String()] {
			return nil, fmt.Errorf("%s given twice", d)
		}
		seen[d.String()] = true
		out = append(out, d)
	}
	return out, nil
}

// Dests parses dests (ParseDests) and builds the ssh command line that
// reaches each.
func (r Reach) Dests(dests []string, reliable bool, marker string) ([]Dest, error) {
	parsed, err := ParseDests(dests)
	if err != nil {
		return nil, err
	}
	out := make([]Dest, 0, len(dests))
	for _, d := range parsed {
		argv, err := r.Argv(d, reliable, marker)
		if err != nil {
			return nil, err
		}
		out = append(out, Dest{Dest: d, Argv: argv})
	}
	return out, nil
}

// ReadyMarker is marker when ssh will print it once connected (see
// Options.ReadyMarker), and "" when a LocalCommand of the user's own
// replaces ours.
func (r Reach) ReadyMarker(marker string) string {
	if !r.execOptions(marker).ReadyGated() {
		return ""
	}
	return marker
}

// Abs is r with its paths (the key, the ssh configuration, ssh itself when
// given as a path) made absolute, so that they mean the same from another
// directory: what a spool's record keeps.
func (r Reach) Abs() Reach {
	r.Identity, r.SSHConfig = absPath(r.Identity), absPath(r.SSHConfig)
	if strings.Contains(r.SSH, "/") {
		r.SSH = absPath(r.SSH)
	}
	return r
}

// absPath is path made absolute ("" stays "").
func absPath(path string) string {
	if path == "" {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
