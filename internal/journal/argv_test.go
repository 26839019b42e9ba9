package journal

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestArgv(t *testing.T) {
	t.Parallel()
	const follow = "journalctl --no-pager --merge --output=export"
	const fields = " --follow --no-tail"
	for _, tc := range []struct {
		name string
		spec Spec
		want string // argv joined by spaces
		err  string // part of the error
	}{
		{name: "system journal, everything, from the oldest",
			spec: Spec{},
			want: follow + fields + ""},
		{name: "system journal keeps to this machine",
			spec: Spec{MachineID: "m1", Matches: []string{"A=1", "+", "B=2", "C=3"}},
			want: follow + fields + " -- A=1 _MACHINE_ID=m1 + B=2 C=3 _MACHINE_ID=m1"},
		{name: "machine id alone when there are no matches",
			spec: Spec{MachineID: "m1"},
			want: follow + fields + " -- _MACHINE_ID=m1"},
		{name: "a group naming a machine keeps it",
			spec: Spec{MachineID: "m1", Matches: []string{"_MACHINE_ID=m2", "+", "B=2"}},
			want: follow + fields + " -- _MACHINE_ID=m2 + B=2 _MACHINE_ID=m1"},
		{name: "a directory is not this machine's journal",
			spec: Spec{Directory: "/j", MachineID: "m1", Matches: []string{"A=1"}},
			want: follow + " --directory=/j" + fields + " -- A=1"},
		{name: "files, cursor, priority, units, program",
			spec: Spec{Program: "/usr/bin/journalctl", Files: []string{"/j/a.journal", "/j/b*.journal"}, Cursor: "s=x;i=1", Priority: "crit", Units: []string{"ssh.service", "-x"}},
			want: "/usr/bin/journalctl --no-pager --merge --output=export --file=/j/a.journal --file=/j/b*.journal" + fields + " --cursor=s=x;i=1 --priority=crit --unit=ssh.service --unit=-x"},
		{name: "the article's default",
			spec: Spec{Directory: "/j", Matches: DefaultMatches},
			want: follow + " --directory=/j" + fields + " -- SYSLOG_FACILITY=0 SYSLOG_FACILITY=4 SYSLOG_FACILITY=10 + _TRANSPORT=kernel + PRIORITY=0 PRIORITY=1 PRIORITY=2"},
		{name: "a match value may hold anything",
			spec: Spec{Directory: "/j", Matches: []string{"MESSAGE=-- a=b +"}},
			want: follow + " --directory=/j" + fields + " -- MESSAGE=-- a=b +"},
		{name: "priority range", spec: Spec{Priority: "emerg..3"}, want: follow + fields + " --priority=emerg..3"},
		{name: "the follower through stdbuf",
			spec: Spec{Stdbuf: "/usr/bin/stdbuf", Directory: "/j", Cursor: "s=x;i=1"},
			want: "/usr/bin/stdbuf --output=1M " + follow + " --directory=/j" + fields + " --cursor=s=x;i=1"},
		{name: "no stdbuf for a probe",
			spec: Spec{Stdbuf: "/usr/bin/stdbuf", Directory: "/j", Cursor: "s=x;i=1", Probe: true},
			want: follow + " --directory=/j --output-fields=__CURSOR --lines=1 --cursor=s=x;i=1"},
		{name: "probe",
			spec: Spec{Directory: "/j", Cursor: "s=x;i=1", Probe: true, Matches: []string{"A=1"}, Priority: "crit", MachineID: "m1"},
			want: follow + " --directory=/j --output-fields=__CURSOR --lines=1 --cursor=s=x;i=1"},
		{name: "count since a time, selected as the follower selects",
			spec: Spec{MachineID: "m1", Matches: []string{"A=1"}, Priority: "crit", Cursor: "s=x;i=1", Since: time.Unix(1796198400, 0)},
			want: follow + " --output-fields=__CURSOR --since=@1796198400 --priority=crit -- A=1 _MACHINE_ID=m1"},

		{name: "probe needs a cursor", spec: Spec{Probe: true}, err: "probe without a cursor"},
		{name: "directory and files", spec: Spec{Directory: "/j", Files: []string{"f"}}, err: "both"},
		{name: "empty file", spec: Spec{Files: []string{""}}, err: "empty file"},
		{name: "empty unit", spec: Spec{Units: []string{""}}, err: "empty unit"},
		{name: "lower-case field", spec: Spec{Matches: []string{"message=x"}}, err: "FIELD=value"},
		{name: "a path is not a match", spec: Spec{Matches: []string{"/usr/sbin/sshd"}}, err: "FIELD=value"},
		{name: "an option is not a match", spec: Spec{Matches: []string{"--since=today"}}, err: "FIELD=value"},
		{name: "field starting with a digit", spec: Spec{Matches: []string{"1A=x"}}, err: "FIELD=value"},
		{name: "empty field", spec: Spec{Matches: []string{"=x"}}, err: "FIELD=value"},
		{name: "leading +", spec: Spec{Matches: []string{"+", "A=1"}}, err: "empty match group"},
		{name: "trailing +", spec: Spec{Matches: []string{"A=1", "+"}}, err: "empty match group"},
		{name: "double +", spec: Spec{Matches: []string{"A=1", "+", "+", "B=1"}}, err: "empty match group"},
		{name: "bad priority", spec: Spec{Priority: "critical"}, err: "priority"},
		{name: "bad priority range", spec: Spec{Priority: "crit..8"}, err: "priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv, err := Argv(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Argv = %q, %v; want an error about %q", argv, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Argv: %v", err)
			}
			if got := strings.Join(argv, " "); got != tc.want {
				t.Errorf("Argv =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

// TestArgvKeepsCallersMatches: adding the machine id must not write into
// the caller's slice (DefaultMatches is shared).
func TestArgvKeepsCallersMatches(t *testing.T) {
	t.Parallel()
	m := slices.Clone(DefaultMatches)
	if _, err := Argv(Spec{MachineID: "m1", Matches: m[:len(m):len(m)]}); err != nil {
		t.Fatal(err)
	}
	if _, err := Argv(Spec{MachineID: "m1", Matches: m[:2]}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m, DefaultMatches) {
		t.Errorf("matches changed to %q", m)
	}
}

// TestLookStdbuf: stdbuf is used when it runs a command; one that is
// missing or fails (its library gone) leaves journalctl without it.
func TestLookStdbuf(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	if _, err := exec.LookPath("stdbuf"); err != nil {
		t.Skip("no stdbuf")
	}
	if got := lookStdbuf("stdbuf", log); got == "" {
		t.Error("a working stdbuf was not used")
	}
	dir := t.TempDir()
	if got := lookStdbuf(filepath.Join(dir, "stdbuf"), log); got != "" {
		t.Errorf("a missing stdbuf was used: %q", got)
	}
	broken := filepath.Join(dir, "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho \"stdbuf: failed to find 'libstdbuf.so'\" >&2\nexit 125\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := lookStdbuf(broken, log); got != "" {
		t.Errorf("a failing stdbuf was used: %q", got)
	}
}
