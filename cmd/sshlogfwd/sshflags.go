package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/check"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/push"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// SSHFlags are the ssh settings common to every command that runs ssh.
type SSHFlags struct {
	Identity   string   `short:"i" help:"Private key for ssh (-i). Default: ssh's own choice and ~/.ssh/config." placeholder:"FILE"`
	Port       int      `short:"p" help:"Port of the far sshd (-p). Default: ssh's own choice and ~/.ssh/config." placeholder:"N"`
	SSHConfig  string   `short:"F" name:"ssh-config" help:"ssh client configuration file (-F). /dev/null ignores ~/.ssh/config." placeholder:"FILE"`
	SSHOption  []string `short:"o" name:"ssh-option" help:"ssh option Key=Value (-o), repeatable. Yours come first, so they override our defaults (BatchMode=yes, LogLevel=ERROR, ServerAliveInterval=10, ServerAliveCountMax=3, ConnectTimeout=10, ControlMaster=no)." placeholder:"K=V" sep:"none"`
	SSH        string   `name:"ssh" help:"The ssh client to run." default:"ssh" placeholder:"PATH"`
	NoCompress bool     `help:"Do not compress (drop ssh -C); faster on fast links."`
}

func (f *SSHFlags) options() execssh.Options {
	return execssh.Options{Identity: f.Identity, Port: f.Port, ConfigFile: f.SSHConfig, Extra: f.SSHOption, NoCompress: f.NoCompress}
}

// sshFlagsOf are the flags that gave r's ssh settings.
func sshFlagsOf(r push.Reach) SSHFlags {
	return SSHFlags{Identity: r.Identity, Port: r.Port, SSHConfig: r.SSHConfig, SSHOption: r.SSHOptions, SSH: r.SSH, NoCompress: r.NoCompress}
}

func (f *SSHFlags) validate() error {
	if f.Port < 0 || f.Port > 65535 {
		return usage.Flag("--port", fmt.Errorf("%d is not a port (1-65535)", f.Port))
	}
	for _, o := range f.SSHOption {
		if _, err := execssh.Argv("ssh", execssh.Options{Extra: []string{o}}, execssh.Dest{Host: "h", Path: "p"}, ""); err != nil {
			return usage.Flag("--ssh-option", err)
		}
	}
	for flag, path := range map[string]string{"--identity": f.Identity, "--ssh-config": f.SSHConfig} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return usage.Flag(flag, err)
		}
	}
	return nil
}

// refuseExposedIdentity refuses an --identity that every user can read,
// or that the user we run as cannot (check.PrivateKey). It is called by
// the commands that use the key (push, pull), not in validate, so that
// check can report it as one of its findings.
func (f *SSHFlags) refuseExposedIdentity() error {
	if f.Identity == "" {
		return nil
	}
	return usage.Flag("--identity", check.PrivateKey(f.Identity))
}

// hostname is the short host name used in our own lines (marks, gap
// notices), as syslog writes it.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	short, _, _ := strings.Cut(h, ".")
	return short
}
