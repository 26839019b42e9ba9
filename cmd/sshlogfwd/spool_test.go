package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/push"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// TestSpoolDeliverRunsPushsOwnSSH: the command line `spool deliver`
// rebuilds from a spool's record reaches each destination with the very
// ssh argv push used (key, port, config, options, mode, far-side binary),
// however push was given them (relative paths included), and a DEST
// --to names gets the same settings.
func TestSpoolDeliverRunsPushsOwnSSH(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("key", nil, 0o600)
	os.WriteFile("ssh_config", nil, 0o600)
	for _, args := range [][]string{
		{"push", "--reliable", "-i", "key", "-p", "2222", "-F", "ssh_config", "-o", "UserKnownHostsFile=/etc/kh", "--remote-sshlogfwd", "/opt/sshlogfwd", "--ack-timeout", "12s", "--no-compress", "log@loghost:/var/log/a.log", "other:/b.log"},
		{"push", "--remote-command", "logger -t web1", "--ssh", "/usr/bin/ssh", "loghost:/var/log/a.log"},
		{"push", "loghost:/var/log/a.log"},
	} {
		var cli CLI
		if _, err := parse(&cli, args); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		p := cli.Push.config()
		rec := push.Record{Dests: p.Dests, Reliable: p.Reliable, SpoolMax: p.SpoolMax, Reach: p.Reaching().Abs()}
		os.Chdir("/")
		back := push.RecordConfig(rec, "/var/lib/sshlogfwd/x")
		ssh := sshFlagsOf(back.Reach)
		if err := usage.First(ssh.validate(), back.Validate()); err != nil {
			t.Fatalf("%q: rebuilt command line: %v", args, err)
		}
		for _, s := range append(slices.Clone(p.Dests), "elsewhere:/c.log") {
			d, _ := execssh.ParseDest(s)
			os.Chdir(dir)
			want, err := p.Reaching().Argv(d, p.Reliable, readyMarker)
			if err != nil {
				t.Fatal(err)
			}
			os.Chdir("/")
			got, err := back.Reaching().Argv(d, back.Reliable, readyMarker)
			if err != nil {
				t.Fatal(err)
			}
			want = slices.Clone(want)
			for i, w := range want { // relative paths are made absolute
				if w == "key" || w == "ssh_config" {
					want[i] = filepath.Join(dir, w)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%q to %s:\n got %q\nwant %q", args, s, got, want)
			}
		}
		if back.Reliable != p.Reliable || back.Reach.AckTimeout != p.Reach.AckTimeout || back.SpoolMax != p.SpoolMax {
			t.Errorf("%q: rebuilt %+v", args, back)
		}
		os.Chdir(dir)
	}
}
