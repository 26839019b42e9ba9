package check

import (
	"path/filepath"

	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// The paths push's and pull's command lines name, refused before anything
// is created when the command cannot use them: the wrong kind of file, a
// missing or unwritable directory, an unreadable file, a file of another
// user. Those are mistakes in the command line, or in the permissions it
// relies on (a *usage.Error naming the flag); what fails after them is
// not. (check push and check pull report the same things as findings.)

// PushPaths are the paths push's flags name.
type PushPaths struct {
	FIFO, File   string
	Journal      bool
	JournalDir   string
	JournalFiles []string
	Spool        string
	MetricsFile  string
}

// Check refuses a --fifo, --file, --journal-dir, --journal-file, --spool
// or --metrics-file push cannot use.
func (p PushPaths) Check() error {
	var err error
	switch {
	case p.FIFO != "":
		err = usage.Flag("--fifo", FIFOPath(p.FIFO))
	case p.File != "":
		err = usage.Flag("--file", Followable(p.File))
	case p.Journal:
		err = journalPaths(p.JournalDir, p.JournalFiles)
	}
	if err == nil && p.Spool != "" {
		err = usage.Flag("--spool", NeedCreatable(p.Spool, 0o700))
	}
	return usage.First(err, MetricsPath(p.MetricsFile))
}

// journalPaths refuses a --journal-dir that is no directory we may read,
// and a --journal-file (other than a glob) that is no readable file.
func journalPaths(dir string, files []string) error {
	if dir != "" {
		if err := JournalDir(dir); err != nil {
			return usage.Flag("--journal-dir", err)
		}
	}
	for _, f := range files {
		if err := JournalFile(f); err != nil {
			return usage.Flag("--journal-file", err)
		}
	}
	return nil
}

// PullPaths refuses an --output or --cursor-file (unused with compat) that
// pull cannot write.
func PullPaths(output, cursorFile string, compat bool) error {
	for flag, path := range map[string]string{"--output": output, "--cursor-file": cursorFile} {
		if path == "" || flag == "--cursor-file" && compat {
			continue
		}
		if err := WritableFile(path); err != nil {
			return usage.Flag(flag, err)
		}
	}
	return nil
}

// MetricsPath refuses a --metrics-file whose directory we cannot write
// in, with the fix (a directory node_exporter can read: 0755).
func MetricsPath(file string) error {
	if file == "" {
		return nil
	}
	return usage.Flag("--metrics-file", NeedDir(filepath.Dir(file), 0o755))
}
