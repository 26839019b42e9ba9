package push

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// defaultConfig is push's command line with nothing but a DEST: the flags'
// defaults.
func defaultConfig() Config {
	return Config{
		Reach: Reach{SSH: "ssh", RemoteSSHLogfwd: "sshlogfwd", AckTimeout: 30 * time.Second},
		Dests: []string{"log@loghost:/var/log/a.log"}, FIFOMode: "0620", From: "end",
		Journal: JournalConfig{Format: "short-iso-precise"}, SpoolMax: 256 << 20, Fsync: time.Second,
		Mark: 20 * time.Minute, BackoffMax: 30 * time.Second, DrainTimeout: 10 * time.Second, Stats: 15 * time.Minute,
	}
}

// TestConfigValidate: each rule between push's settings refuses with a
// usage error naming the flag, in these words; the defaults and the
// settings each rule allows pass.
func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*Config)
		want   string // the error; "" none
	}{
		{"defaults", func(*Config) {}, ""},
		{"reliable", func(c *Config) { c.Reliable, c.Fsync, c.Reach.AckTimeout = true, 5*time.Second, 5*time.Second }, ""},
		{"fsync without reliable", func(c *Config) { c.Fsync = 2 * time.Second }, "--fsync: applies only with --reliable"},
		{"ack-timeout without reliable", func(c *Config) { c.Reach.AckTimeout = time.Minute }, "--ack-timeout: applies only with --reliable"},
		{"remote binary without reliable", func(c *Config) { c.Reach.RemoteSSHLogfwd = "/opt/s" }, "--remote-sshlogfwd: applies only with --reliable"},
		{"no remote binary", func(c *Config) { c.Reliable, c.Reach.RemoteSSHLogfwd = true, "" }, `--remote-sshlogfwd: "" is not a program path`},
		{"fsync zero", func(c *Config) { c.Reliable, c.Fsync = true, 0 }, "--fsync: 0s: must be positive"},
		{"ack-timeout short", func(c *Config) { c.Reliable, c.Reach.AckTimeout = true, 999*time.Millisecond }, "--ack-timeout: 999ms is too short (at least 1s)"},
		{"journal flag without journal", func(c *Config) { c.Journal.Priority = "crit" }, "--journal-priority: applies only with --journal"},
		{"journal format without journal", func(c *Config) { c.Journal.Format = "rfc5424" }, "--journal-format: applies only with --journal"},
		{"journal dir and file", func(c *Config) {
			c.Journal = JournalConfig{On: true, Dir: "/j", Files: []string{"/f"}, Format: "rfc5424"}
		}, "--journal-file: cannot be combined with --journal-dir"},
		{"journal bad priority", func(c *Config) { c.Journal.On, c.Journal.Priority = true, "loud" }, "--journal-priority: "},
		{"journal", func(c *Config) { c.Journal.On, c.Journal.Units = true, []string{"ssh.service"} }, ""},
		{"no DEST path", func(c *Config) { c.Dests = []string{"loghost"} }, "DEST: "},
		{"DEST twice", func(c *Config) { c.Dests = []string{"h:/a", "h:/a"} }, "DEST: h:/a given twice"},
		{"fifo mode not octal", func(c *Config) { c.FIFO, c.FIFOMode = "/f", "0680" }, `--fifo-mode: "0680" is not an octal permission like 0620`},
		{"fifo mode without fifo", func(c *Config) { c.FIFOMode = "0660" }, "--fifo-mode: applies only with --fifo"},
		{"fifo mode", func(c *Config) { c.FIFO, c.FIFOMode = "/f", "0660" }, ""},
		{"from without file", func(c *Config) { c.From = "start" }, "--from: applies only with --file"},
		{"from with file", func(c *Config) { c.File, c.From = "/f", "start" }, ""},
		{"spool too small", func(c *Config) { c.SpoolMax = 32 << 10 }, "--spool-max: 32KiB is too small (at least 64KiB)"},
		{"spool smallest", func(c *Config) { c.SpoolMax = 64 << 10 }, ""},
		{"negative mark", func(c *Config) { c.Mark = -time.Second }, "--mark: negative duration -1s"},
		{"negative stats", func(c *Config) { c.Stats = -time.Second }, "--stats: negative duration -1s"},
		{"marks off", func(c *Config) { c.Mark, c.Stats = 0, 0 }, ""},
	} {
		c := defaultConfig()
		tt.change(&c)
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !usage.Is(err) || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want):
			t.Errorf("%s: %v, want a usage error %q...", tt.name, err, tt.want)
		}
	}
}

// TestRecordConfig: what a spool's record says is valid push settings,
// the record's own where it has them and push's defaults elsewhere; its
// options reach the recorded destinations in the recorded mode and spool
// into the directory itself.
func TestRecordConfig(t *testing.T) {
	for _, rec := range []Record{
		{Dests: []string{"h:/a"}},
		{Dests: []string{"h:/a", "g:/b"}, Reliable: true, SpoolMax: 1 << 20,
			Reach: Reach{SSH: "/usr/bin/ssh", Identity: "/k", RemoteSSHLogfwd: "/opt/sshlogfwd", AckTimeout: 12 * time.Second}},
	} {
		c := RecordConfig(rec, "/var/lib/sshlogfwd/x")
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", rec, err)
		}
		opts, err := c.Options("/var/lib/sshlogfwd/x", "M", "web1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(opts.Dests) != len(rec.Dests) || opts.Reliable != rec.Reliable || opts.SpoolDir != "/var/lib/sshlogfwd/x" || opts.File != "" || opts.Journal != nil {
			t.Errorf("%+v: options %+v", rec, opts)
		}
		wantMax, wantAck := rec.SpoolMax, rec.Reach.AckTimeout
		if wantMax == 0 {
			wantMax, wantAck = 256<<20, 30*time.Second
		}
		if opts.SpoolMax != wantMax || c.Reach.AckTimeout != wantAck || c.Reach.SSH == "" {
			t.Errorf("%+v: spool max %d, ack timeout %s, ssh %q", rec, opts.SpoolMax, c.Reach.AckTimeout, c.Reach.SSH)
		}
	}
}

// TestConfigOptions: the far side's sshlogfwd and the acknowledgement
// timeout reach ssh and the record in reliable mode only; the record's
// paths are absolute; --from end starts a file at its end; the journal's
// default selection is the article's, and any selection replaces it.
func TestConfigOptions(t *testing.T) {
	t.Chdir(t.TempDir())
	c := defaultConfig()
	c.Reach.Identity, c.Reach.RemoteSSHLogfwd = "key", "/opt/sshlogfwd"
	opts, err := c.Options("/s", "M", "web1", nil)
	if err != nil {
		t.Fatal(err)
	}
	argv := opts.Dests[0].Argv
	if argv[len(argv)-1] != "cat >> /var/log/a.log" || opts.Reach.RemoteSSHLogfwd != "" || opts.Reach.AckTimeout != 0 {
		t.Errorf("compatible: argv %q, record %+v", argv, opts.Reach)
	}
	if wd, _ := os.Getwd(); opts.Reach.Identity != filepath.Join(wd, "key") || !opts.FromEnd || opts.Hostname != "web1" || opts.ReadyMarker != "M" {
		t.Errorf("options %+v", opts)
	}
	c.Reliable = true
	opts, _ = c.Options("/s", "M", "web1", nil)
	argv = opts.Dests[0].Argv
	if argv[len(argv)-1] != "/opt/sshlogfwd receive -- /var/log/a.log" || opts.Reach.AckTimeout != 30*time.Second {
		t.Errorf("reliable: argv %q, record %+v", argv, opts.Reach)
	}
	for _, tt := range []struct {
		j    JournalConfig
		want []string
	}{
		{JournalConfig{}, nil},
		{JournalConfig{On: true}, journal.DefaultMatches},
		{JournalConfig{On: true, Priority: "crit"}, nil},
		{JournalConfig{On: true, Units: []string{"ssh.service"}}, nil},
		{JournalConfig{On: true, Matches: []string{"PRIORITY=0"}}, []string{"PRIORITY=0"}},
	} {
		o := tt.j.Options()
		if (o == nil) != !tt.j.On || o != nil && !slices.Equal(o.Matches, tt.want) {
			t.Errorf("%+v: %+v, want matches %q", tt.j, o, tt.want)
		}
	}
}

// TestSpoolErrors: a DIR that is no directory, or no spool, or not ours, is
// a usage error naming DIR; one a push holds is a runtime refusal; other
// failures pass as they are.
func TestSpoolErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o600)
	if abs, err := SpoolArg(dir); err != nil || abs != dir {
		t.Errorf("SpoolArg(dir) = %q, %v", abs, err)
	}
	for _, arg := range []string{file, filepath.Join(dir, "missing")} {
		if _, err := SpoolArg(arg); !usage.Is(err) {
			t.Errorf("SpoolArg(%s): %v, want a usage error", arg, err)
		}
	}
	other := errors.New("disk on fire")
	for _, tt := range []struct {
		err   error
		usage bool
	}{
		{ErrNotSpool, true}, {os.ErrNotExist, true}, {fsutil.ErrUnsafe, true}, {os.ErrPermission, true},
		{&fsutil.HeldError{}, false}, {other, false},
	} {
		err := SpoolError(dir, tt.err)
		if usage.Is(err) != tt.usage || !errors.Is(err, tt.err) && !errors.As(err, new(*fsutil.HeldError)) {
			t.Errorf("SpoolError(%v) = %v, want usage %v", tt.err, err, tt.usage)
		}
	}
	if SpoolError(dir, nil) != nil {
		t.Error("SpoolError(nil) is not nil")
	}
}
