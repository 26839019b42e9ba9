package push

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// What `sshlogfwd spool list` and `spool discard` print: a paragraph per
// spool directory, with the commands that deliver or discard the lines
// left in one no push runs on.

// WriteList writes what List found in root.
func WriteList(w io.Writer, root string, spools []SpoolInfo) {
	if len(spools) == 0 {
		fmt.Fprintf(w, "no spool directories of push in %s\n", root)
		return
	}
	for _, s := range spools {
		if s.Err != nil {
			fmt.Fprintf(w, "%s\n  cannot read it: %v%s\n", s.Dir, s.Err, OwnerHint(s.Dir))
			continue
		}
		if s.Unrecorded {
			writeUnrecorded(w, s)
			continue
		}
		fmt.Fprintf(w, "%s\n  %s, %s mode\n", s.Dir, s.state(), s.Record.Mode())
		for _, d := range s.Record.Dests {
			h := s.Held[d]
			fmt.Fprintf(w, "  %s: %d lines (%d bytes) held\n", d, h.Lines, h.Bytes)
		}
		if !s.Running && s.HeldBytes() > 0 {
			fmt.Fprintf(w, "  deliver: %s\n  deliver elsewhere: %s\n", DeliverCommand(s.Dir, ""), DeliverCommand(s.Dir, "DEST"))
		}
		if !s.Running {
			fmt.Fprintf(w, "  discard: %s\n", DiscardCommand(s.Dir))
		}
	}
}

// writeUnrecorded writes the paragraph of a spool of an older sshlogfwd,
// which recorded no destination, mode or ssh settings.
func writeUnrecorded(w io.Writer, s SpoolInfo) {
	fmt.Fprintf(w, "%s\n  %s, no destination recorded (no %s: an older sshlogfwd)\n", s.Dir, s.state(), recordFile)
	for _, name := range s.Holding() {
		h := s.Held[name]
		if name == "" {
			name = "(no destination remembered)"
		}
		fmt.Fprintf(w, "  %s: %d lines (%d bytes) held\n", name, h.Lines, h.Bytes)
	}
	if !s.Running && s.HeldBytes() > 0 {
		fmt.Fprintf(w, "  deliver (compatible mode, ssh's defaults): %s\n", DeliverCommand(s.Dir, "DEST"))
	}
	if !s.Running {
		fmt.Fprintf(w, "  discard: %s\n", DiscardCommand(s.Dir))
	}
}

// state says whether a push runs on the spool, and if not whether lines
// wait in it.
func (s SpoolInfo) state() string {
	switch {
	case s.Running:
		return "running: " + s.Holder
	case s.HeldBytes() == 0:
		return "stopped, empty"
	}
	return "stopped: nothing delivers its lines"
}

// Write writes what Discard removed from dir: the lines held for each
// destination, then the files and whether the directory went too.
func (d Discarded) Write(w io.Writer, dir string) {
	for _, dest := range d.Record.Dests {
		h := d.Held[dest]
		fmt.Fprintf(w, "discarded %d lines (%d bytes) held for %s\n", h.Lines, h.Bytes, dest)
	}
	if d.DirRemoved {
		fmt.Fprintf(w, "removed %s (%d files)\n", dir, len(d.Files))
	} else {
		fmt.Fprintf(w, "removed the spool's %d files; %s stays: it holds other files: %s\n", len(d.Files), dir, strings.Join(d.Left, ", "))
	}
}

// OwnerHint tells how to run a spool command as the owner of dir, when
// that is not the user we run as ("" when it is, or dir is gone).
func OwnerHint(dir string) string {
	fi, err := os.Stat(dir)
	if err != nil {
		return ""
	}
	uid, ok := fsutil.Owner(fi)
	if !ok || uid == os.Geteuid() {
		return ""
	}
	name := fsutil.UserName(uid)
	return fmt.Sprintf("; the spool belongs to %s: run the command as that user, e.g. runuser -u %s -- sshlogfwd spool ...", name, name)
}
