package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/sshlogfwd/sshlogfwd/internal/journal"
)

// TestJournalFlagsHelpNamesDefault: the help of --journal-match spells out
// journal.DefaultMatches, the selector push really uses by default.
func TestJournalFlagsHelpNamesDefault(t *testing.T) {
	parser, err := kong.New(&CLI{})
	if err != nil {
		t.Fatal(err)
	}
	var help string
	for _, c := range parser.Model.Node.Children {
		for _, f := range c.Flags {
			if c.Name == "push" && f.Name == "journal-match" {
				help = f.Help
			}
		}
	}
	if want := strings.Join(journal.DefaultMatches, " "); !strings.Contains(help, want) {
		t.Errorf("--journal-match help %q does not name the default %q", help, want)
	}
}

// TestJournalFlagsSelection: without any selection push uses the
// article's selector; any of --journal-match, --journal-priority,
// --journal-unit replaces it. Match terms come from repeated flags or a
// space-separated value (as a variable gives them).
func TestJournalFlagsSelection(t *testing.T) {
	clearSSHD(t)
	spool := t.TempDir()
	for _, tt := range []struct {
		args     []string
		env      string // SSHLOGFWD_JOURNAL_MATCH
		matches  []string
		priority string
	}{
		{args: nil, matches: journal.DefaultMatches},
		{args: []string{"--journal-priority", "crit"}, matches: nil, priority: "crit"},
		{args: []string{"--journal-unit", "ssh.service"}, matches: nil},
		{args: []string{"--journal-match", "_SYSTEMD_UNIT=ssh.service", "--journal-match", "+", "--journal-match", "PRIORITY=0"},
			matches: []string{"_SYSTEMD_UNIT=ssh.service", "+", "PRIORITY=0"}},
		{args: []string{"--journal-match", "SYSLOG_FACILITY=4 + PRIORITY=2"}, matches: []string{"SYSLOG_FACILITY=4", "+", "PRIORITY=2"}},
		{env: "SYSLOG_FACILITY=4 + PRIORITY=2", matches: []string{"SYSLOG_FACILITY=4", "+", "PRIORITY=2"}},
	} {
		if tt.env != "" {
			t.Setenv("SSHLOGFWD_JOURNAL_MATCH", tt.env)
		} else {
			os.Unsetenv("SSHLOGFWD_JOURNAL_MATCH")
		}
		var cli CLI
		args := append(append([]string{"push", "--journal", "--spool", spool}, tt.args...), "h:/x.log")
		if _, err := parse(&cli, args); err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		o := cli.Push.config().Journal.Options()
		if o == nil || !slices.Equal(o.Matches, tt.matches) || o.Priority != tt.priority {
			t.Errorf("%q (SSHLOGFWD_JOURNAL_MATCH=%q): options %+v, want matches %q, priority %q", args, tt.env, o, tt.matches, tt.priority)
		}
	}
}

// TestJournalFlagsRefused: journal flags without --journal, a second
// input, and matches, priorities or sources journalctl would not take are
// usage errors naming the flag.
func TestJournalFlagsRefused(t *testing.T) {
	clearSSHD(t)
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	for _, tt := range []struct {
		args []string
		flag string // in the error; "" = any parse error
	}{
		{[]string{"--journal-match", "PRIORITY=2"}, "--journal-match"},
		{[]string{"--journal-priority", "crit"}, "--journal-priority"},
		{[]string{"--journal-unit", "ssh.service"}, "--journal-unit"},
		{[]string{"--journal-dir", dir}, "--journal-dir"},
		{[]string{"--journal-file", notDir}, "--journal-file"},
		{[]string{"--journal-format", "rfc5424"}, "--journal-format"},
		{[]string{"--journal", "--fifo", filepath.Join(dir, "f")}, ""},
		{[]string{"--journal", "--file", notDir}, ""},
		{[]string{"--journal", "--from", "start"}, "--from"},
		{[]string{"--journal", "--journal-match", "lower=x"}, "--journal-match"},
		{[]string{"--journal", "--journal-match", "+"}, "--journal-match"},
		{[]string{"--journal", "--journal-priority", "loud"}, "--journal-priority"},
		{[]string{"--journal", "--journal-dir", dir, "--journal-file", notDir}, "--journal-file"},
		{[]string{"--journal", "--journal-format", "json"}, ""},
	} {
		var cli CLI
		args := append(append([]string{"push", "--spool", dir}, tt.args...), "h:/x.log")
		_, err := parse(&cli, args)
		switch {
		case err == nil:
			t.Errorf("%q accepted", args)
		case tt.flag != "" && (!isUsage(err) || !strings.Contains(err.Error(), tt.flag)):
			t.Errorf("%q: %v, want a usage error naming %s", args, err, tt.flag)
		}
	}
}
