package execssh

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Options are the ssh settings the user controls.
type Options struct {
	Identity   string   // -i FILE
	Port       int      // -p N (0 = ssh's default or the config's)
	ConfigFile string   // -F FILE
	Extra      []string // -o K=V, in order
	NoCompress bool     // drop -C
	// ReadyMarker, if set, makes ssh print this line on its stderr once it
	// is connected and authenticated (LocalCommand), so the caller can
	// hold data back until then: bytes written into a child that then
	// fails to connect are lost with it. Ignored when the user set
	// LocalCommand or PermitLocalCommand themselves.
	ReadyMarker string
}

// Defaults are our options for an unattended child. They come after the
// user's own -o options: ssh takes the first value it sees for an option, so
// anything the user sets wins.
//
// LogLevel=ERROR instead of the article's -q: -q also hides the fatal reasons
// (connection refused, host key verification failed, permission denied) that
// our log must show.
var Defaults = []string{
	"BatchMode=yes",
	"LogLevel=ERROR",
	"ServerAliveInterval=10",
	"ServerAliveCountMax=3",
	"ConnectTimeout=10",
	"ControlMaster=no",
	"ControlPath=none",
}

// Argv builds the complete ssh command line, program name first:
//
//	ssh -C -T -e none [user -o...] [-i F] [-p N] [-F F] [defaults -o...] -- [user@]host 'remote command'
//
// The remote command is passed as one argument that the caller has already
// quoted for the remote shell (see forcedcmd.ShellQuote); ssh would join several
// arguments with spaces anyway.
func Argv(sshPath string, opts Options, d Dest, remoteCommand string) ([]string, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if sshPath == "" {
		sshPath = "ssh"
	}
	argv := []string{sshPath}
	if !opts.NoCompress {
		argv = append(argv, "-C")
	}
	argv = append(argv, "-T", "-e", "none")
	for _, o := range opts.Extra {
		if err := checkOption(o); err != nil {
			return nil, err
		}
		argv = append(argv, "-o", o)
	}
	if opts.Identity != "" {
		argv = append(argv, "-i", opts.Identity)
	}
	if opts.Port != 0 {
		if opts.Port < 1 || opts.Port > 65535 {
			return nil, fmt.Errorf("port %d out of range 1-65535", opts.Port)
		}
		argv = append(argv, "-p", strconv.Itoa(opts.Port))
	}
	if opts.ConfigFile != "" {
		argv = append(argv, "-F", opts.ConfigFile)
	}
	for _, o := range Defaults {
		argv = append(argv, "-o", o)
	}
	if opts.ReadyMarker != "" && !userSets(opts.Extra, "LocalCommand", "PermitLocalCommand") {
		argv = append(argv, "-o", "PermitLocalCommand=yes", "-o", "LocalCommand=echo "+opts.ReadyMarker+" >&2")
	}
	argv = append(argv, "--", d.Target())
	if remoteCommand != "" {
		argv = append(argv, remoteCommand)
	}
	return argv, nil
}

// ReadyGated reports whether Argv with these options makes ssh announce
// its connection with ReadyMarker.
func (o Options) ReadyGated() bool {
	return o.ReadyMarker != "" && !userSets(o.Extra, "LocalCommand", "PermitLocalCommand")
}

func userSets(opts []string, keys ...string) bool {
	for _, o := range opts {
		k, _, _ := strings.Cut(o, "=")
		k, _, _ = strings.Cut(k, " ")
		for _, key := range keys {
			if strings.EqualFold(strings.TrimSpace(k), key) {
				return true
			}
		}
	}
	return false
}

// checkOption accepts K=V or "K V" as ssh's -o does, and refuses what ssh
// would misparse.
func checkOption(o string) error {
	key, _, ok := strings.Cut(o, "=")
	if !ok {
		key, _, ok = strings.Cut(o, " ")
	}
	if !ok || key == "" || strings.HasPrefix(o, "-") {
		return fmt.Errorf("ssh option %q: want Key=Value", o)
	}
	if strings.ContainsAny(o, "\n\r\x00") {
		return errors.New("ssh option contains a newline or NUL")
	}
	return nil
}
