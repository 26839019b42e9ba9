package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// TestFlagPaths: each path push or pull cannot use is a usage error naming
// its flag; usable ones, a glob for journalctl and a --cursor-file that
// --compat ignores pass.
func TestFlagPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "system.journal")
	os.WriteFile(file, nil, 0o600)
	missing := filepath.Join(dir, "missing", "x")
	for _, tt := range []struct {
		name string
		err  error
		flag string // "" = ok
	}{
		{"nothing", PushPaths{}.Check(), ""},
		{"fifo to create", PushPaths{FIFO: filepath.Join(dir, "push.fifo")}.Check(), ""},
		{"fifo over a file", PushPaths{FIFO: file}.Check(), "--fifo"},
		{"file", PushPaths{File: file}.Check(), ""},
		{"file a directory", PushPaths{File: dir}.Check(), "--file"},
		{"journal", PushPaths{Journal: true}.Check(), ""},
		{"journal dir", PushPaths{Journal: true, JournalDir: dir}.Check(), ""},
		{"journal dir a file", PushPaths{Journal: true, JournalDir: file}.Check(), "--journal-dir"},
		{"journal dir missing", PushPaths{Journal: true, JournalDir: missing}.Check(), "--journal-dir"},
		{"journal file", PushPaths{Journal: true, JournalFiles: []string{file}}.Check(), ""},
		{"journal glob", PushPaths{Journal: true, JournalFiles: []string{filepath.Join(dir, "*.journal")}}.Check(), ""},
		{"journal file missing", PushPaths{Journal: true, JournalFiles: []string{missing}}.Check(), "--journal-file"},
		{"journal file a directory", PushPaths{Journal: true, JournalFiles: []string{dir}}.Check(), "--journal-file"},
		{"spool to create", PushPaths{Spool: filepath.Join(dir, "a", "b")}.Check(), ""},
		{"spool a file", PushPaths{Spool: file}.Check(), "--spool"},
		{"metrics", PushPaths{MetricsFile: filepath.Join(dir, "m.prom")}.Check(), ""},
		{"metrics in no directory", PushPaths{MetricsFile: missing}.Check(), "--metrics-file"},
		{"metrics alone", MetricsPath(missing), "--metrics-file"},
		{"output", PullPaths(filepath.Join(dir, "out.log"), "", false), ""},
		{"output a directory", PullPaths(dir, "", false), "--output"},
		{"output in no directory", PullPaths(missing, "", false), "--output"},
		{"cursor a directory", PullPaths("", dir, false), "--cursor-file"},
		{"cursor ignored by compat", PullPaths("", dir, true), ""},
	} {
		switch {
		case tt.flag == "" && tt.err != nil:
			t.Errorf("%s: %v", tt.name, tt.err)
		case tt.flag != "" && (!usage.Is(tt.err) || !strings.HasPrefix(tt.err.Error(), tt.flag+": ")):
			t.Errorf("%s: %v, want a usage error naming %s", tt.name, tt.err, tt.flag)
		}
	}
}
