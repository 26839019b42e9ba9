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
	switch {
	case a.Role == "push" && a.Reliable:
		return authkeys.PushReliable
	case a.Role == "push":
		return authkeys.PushCompat
	case a.Compat:
		return authkeys.PullCompat
	}
	return authkeys.PullReliable
}

// Validate checks what spans flags.
func (a *AuthorizedKeyCmd) Validate() error {
	switch {
	case len(a.From) == 0 && !a.AnySource:
		return usage.Flag("--from", errors.New("say where the key may be used from (the address of the connecting host), or give --any-source explicitly: from= is what makes a stolen key useless elsewhere"))
	case len(a.From) > 0 && a.AnySource:
		return usage.Flag("--any-source", errors.New("contradicts --from"))
	}
	if len(a.From) > 0 {
		if _, err := authkeys.CheckFrom(a.From); err != nil {
			return usage.Flag("--from", err)
		}
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
	from := a.From // kong splits --from a,b
	if len(from) > 0 {
		warnings, err := authkeys.CheckFrom(from)
		if err != nil {
			return usage.Flag("--from", err)
		}
		for _, w := range warnings {
			fmt.Fprintln(os.Stderr, "sshlogfwd: warning:", w)
		}
	}
	line, err := authkeys.Build(authkeys.Line{Key: key, Command: cmd, From: from, Legacy: a.LegacySSHD})
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
	name := a.Key
	if a.Key == "-" {
		name = "standard input"
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
	k, err := authkeys.ParsePublicKey(data)
	if errors.Is(err, authkeys.ErrPrivateKey) {
		hint := "give the .pub file"
		if a.Key != "-" {
			hint = fmt.Sprintf("give %s.pub (or print it with: ssh-keygen -y -f %s)", a.Key, a.Key)
		}
		return authkeys.PublicKey{}, usage.Flag("--key", fmt.Errorf("%s holds a private key, not a public one: %s. A private key never leaves the host that uses it", name, hint))
	}
	if err != nil {
		return authkeys.PublicKey{}, usage.Flag("--key", fmt.Errorf("%s: %w", name, err))
	}
	return k, nil
}
