package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/authkeys"
	"github.com/sshlogfwd/sshlogfwd/internal/bytesize"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// AuthorizedKeyCmd prints the authorized_keys line that lets a key do one
// thing only: append to one file (push) or read one file (pull).
type AuthorizedKeyCmd struct {
	Role string `arg:"" enum:"push,pull" help:"push: the line goes on the log host and lets the watched host append to PATH. pull: the line goes on the watched host and lets the log host read PATH."`
	Path string `arg:"" name:"PATH" help:"The one file the key may append to (push) or read (pull), as an absolute path on the host where the line goes. Refused: places where appended lines become code or keys (/etc, /root, crontabs, /usr, hidden files such as ~/.ssh, the files this host's sshd reads keys from)."`

	Key           string        `name:"key" default:"-" help:"The public key (.pub file) of the key that will connect; - reads it from standard input. A private key is refused." placeholder:"FILE"`
	From          []string      `name:"from" help:"Addresses (or CIDR blocks, or patterns) the key is accepted from: for push the watched host, for pull the log host. Repeatable or comma-separated. Required unless --any-source, which alone may mean every address (patterns such as ?* or 0.0.0.0/0 are refused)." placeholder:"ADDR"`
	AnySource     bool          `name:"any-source" help:"Accept the key from any address (no from=). Only when the connecting host has no fixed address: a stolen key then works from anywhere."`
	Reliable      bool          `name:"reliable" xor:"mode" help:"The forced command is sshlogfwd receive PATH (push) or sshlogfwd serve PATH (pull). Default for pull."`
	Compat        bool          `name:"compat" xor:"mode" help:"The forced command is cat >> PATH (push) or tail -F -n 0 PATH (pull); the far side needs no sshlogfwd. Default for push."`
	SSHLogFwdPath string        `name:"sshlogfwd-path" aliases:"remote-sshlogfwd" help:"Absolute path of sshlogfwd on the host where the line goes (reliable mode)." default:"/usr/local/bin/sshlogfwd" placeholder:"PATH"`
	MaxSize       bytesize.Size `name:"max-size" help:"Reliable push only: the bound receive keeps PATH under (receive --max-size), so that an intruder on the watched host cannot fill the log host's disk." placeholder:"SIZE"`
	LegacySSHD    bool          `name:"legacy-sshd" help:"For sshd older than OpenSSH 7.2, which does not know 'restrict' (and ignores a line holding it): spell the restrictions out."`
}

// role is the forced command's role for the chosen mode.
func (a *AuthorizedKeyCmd) role() authkeys.Role {
	return authkeys.RoleFor(a.Role, a.Reliable, a.Compat)
}

// Validate checks what spans flags.
func (a *AuthorizedKeyCmd) Validate() error {
	if _, err := authkeys.Sources(a.From, a.AnySource); err != nil {
		return err
	}
	if a.MaxSize != 0 && a.role() != authkeys.PushReliable {
		return usage.Flag("--max-size", errors.New("applies to reliable push only (push --reliable)"))
	}
	return nil
}

// Run prints the line on standard output; warnings go to standard error.
func (a *AuthorizedKeyCmd) Run() error {
	key, err := a.readKey()
	if err != nil {
		return err
	}
	// The line usually goes on this host: its sshd's key files are off
	// limits as the forced command's file.
	opts := authkeys.CommandOptions{SSHLogFwd: a.SSHLogFwdPath, KeyFiles: authkeys.SSHDKeyFiles()}
	if a.MaxSize != 0 {
		opts.MaxSize = a.MaxSize.String()
	}
	cmd, err := authkeys.Command(a.role(), a.Path, opts)
	if errors.Is(err, authkeys.ErrSSHLogFwdPath) {
		return usage.Flag("--sshlogfwd-path", err)
	}
	if err != nil {
		return usage.Flag("PATH", err)
	}
	warnings, err := authkeys.Sources(a.From, a.AnySource) // kong splits --from a,b
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "sshlogfwd: warning:", w)
	}
	line, err := authkeys.Build(authkeys.Line{Key: key, Command: cmd, From: a.From, Legacy: a.LegacySSHD})
	if err != nil {
		return usage.Flag("--key", err)
	}
	_, err = fmt.Println(line)
	return err
}

// readKey reads and checks the public key.
func (a *AuthorizedKeyCmd) readKey() (authkeys.PublicKey, error) {
	var data []byte
	var err error
	if a.Key == "-" {
		if _, terr := unix.IoctlGetTermios(0, unix.TCGETS); terr == nil {
			return authkeys.PublicKey{}, usage.Flag("--key", errors.New("give the public key file with --key FILE.pub, or pipe it in"))
		}
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			return authkeys.PublicKey{}, fmt.Errorf("read the key from standard input: %w", err)
		}
	} else if data, err = os.ReadFile(a.Key); err != nil {
		return authkeys.PublicKey{}, usage.Path("--key", err)
	}
	return authkeys.ReadKeyFile(data, a.Key)
}
