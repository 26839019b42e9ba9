package journal

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultMatches is the article's syslog selector (`auth,authpriv.*;
// kern.*;*.crit`) as journalctl matches. Terms for the same field are ORed,
// terms for different fields ANDed, and "+" separates groups that are ORed:
//
//	facility kern (0), auth (4) or authpriv (10)
//	+ anything the kernel logged (_TRANSPORT=kernel; its entries carry facility 0 too)
//	+ priority crit (2), alert (1) or emerg (0) from anything
//
// Three PRIORITY terms, because a match compares whole values: there are no
// ranges in matches (--priority has them, but it is ANDed with everything).
var DefaultMatches = []string{
	"SYSLOG_FACILITY=0", "SYSLOG_FACILITY=4", "SYSLOG_FACILITY=10",
	"+", "_TRANSPORT=kernel",
	"+", "PRIORITY=0", "PRIORITY=1", "PRIORITY=2",
}

// stdbufSize is the output buffer journalctl gets through stdbuf (see
// Spec.Stdbuf and the package doc).
const stdbufSize = "1M"

// Spec is everything that decides journalctl's command line.
type Spec struct {
	Program   string   // the journalctl binary ("" = "journalctl", found in PATH)
	Directory string   // read the journal files in this directory
	Files     []string // or these journal files (globs allowed); neither = the system journal
	// Stdbuf, if set, is coreutils' stdbuf, through which the follower's
	// journalctl runs with a 1 MiB stdout buffer (stdbufSize).
	Stdbuf string
	// MachineID, for the system journal only, keeps the entries to this
	// machine's: --merge (see Argv) would also show the journals of
	// containers and of hosts received by journal-remote.
	MachineID string
	Matches   []string // FIELD=value terms and "+"; empty = every entry
	Priority  string   // --priority: "crit", "0..2", "warning"; ANDed with Matches
	Units     []string // --unit: ANDed with Matches
	Cursor    string   // start at this entry, inclusive; "" = at the oldest entry
	// Probe asks for a one-shot command instead of a follower: print the
	// entry at Cursor (or, when it is gone, the next one) and exit. It
	// ignores Matches, Priority and Units: it asks whether the entry
	// exists, not whether it is selected.
	Probe bool
	// Since, when set, asks for a one-shot listing instead of a follower:
	// the selected entries from that time on, with their cursors only
	// (check push counts what the selection finds). Cursor is ignored.
	Since time.Time
}

// Argv returns the journalctl command line for s.
//
// Always --merge: `--follow` otherwise implies the current boot, and then
// entries of the previous boot after a saved cursor (the last minutes
// before a reboot or crash) are silently never shown, even with --cursor
// (measured with systemd 252). With --directory and --file, --merge changes
// nothing else.
//
// Always --cursor, never --after-cursor: when the cursor's entry is gone,
// --after-cursor seeks to where it was and then skips one entry anyway,
// losing the oldest one that survived (measured). The follower drops the
// first entry itself when it is the cursor's.
func Argv(s Spec) ([]string, error) {
	prog := s.Program
	if prog == "" {
		prog = "journalctl"
	}
	argv := []string{prog, "--no-pager", "--merge", "--output=export"}
	follower := !s.Probe && s.Since.IsZero()
	if follower && s.Stdbuf != "" {
		argv = append([]string{s.Stdbuf, "--output=" + stdbufSize}, argv...)
	}
	switch {
	case s.Directory != "" && len(s.Files) > 0:
		return nil, errors.New("journal: both a directory and files given")
	case s.Directory != "":
		argv = append(argv, "--directory="+s.Directory)
	default:
		for _, f := range s.Files {
			if f == "" {
				return nil, errors.New("journal: empty file name")
			}
			argv = append(argv, "--file="+f)
		}
	}
	if s.Probe {
		if s.Cursor == "" {
			return nil, errors.New("journal: probe without a cursor")
		}
		return append(argv, "--output-fields=__CURSOR", "--lines=1", "--cursor="+s.Cursor), nil
	}
	switch {
	case !s.Since.IsZero():
		argv = append(argv, "--output-fields=__CURSOR", "--since=@"+strconv.FormatInt(s.Since.Unix(), 10))
	default:
		// --no-tail always: --follow implies --lines=10, which without a
		// cursor starts at the last 10 entries and with one prints only
		// 10 entries from it, the rest not before the journal changes
		// again (measured: stuck with 1,182 entries unread).
		argv = append(argv, "--follow", "--no-tail")
		if s.Cursor != "" {
			argv = append(argv, "--cursor="+s.Cursor)
		}
	}
	if s.Priority != "" {
		if err := checkPriority(s.Priority); err != nil {
			return nil, err
		}
		argv = append(argv, "--priority="+s.Priority)
	}
	for _, u := range s.Units {
		if u == "" {
			return nil, errors.New("journal: empty unit name")
		}
		argv = append(argv, "--unit="+u)
	}
	matches, err := machineMatches(s)
	if err != nil {
		return nil, err
	}
	if len(matches) > 0 {
		// "--": a term is never taken for an option.
		argv = append(append(argv, "--"), matches...)
	}
	return argv, nil
}

// machineMatches returns s.Matches checked, with a _MACHINE_ID term added
// to every group when reading the system journal.
func machineMatches(s Spec) ([]string, error) {
	groups, err := splitGroups(s.Matches)
	if err != nil {
		return nil, err
	}
	system := s.Directory == "" && len(s.Files) == 0
	if system && s.MachineID != "" {
		if len(groups) == 0 {
			groups = [][]string{nil}
		}
		for i, g := range groups {
			if !hasField(g, "_MACHINE_ID") {
				groups[i] = append(g, "_MACHINE_ID="+s.MachineID)
			}
		}
	}
	var out []string
	for i, g := range groups {
		if i > 0 {
			out = append(out, "+")
		}
		out = append(out, g...)
	}
	return out, nil
}

// splitGroups checks match terms and splits them at "+".
func splitGroups(terms []string) ([][]string, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	groups := [][]string{nil}
	for _, t := range terms {
		if t == "+" {
			if len(groups[len(groups)-1]) == 0 {
				return nil, errors.New("journal: empty match group around \"+\"")
			}
			groups = append(groups, nil)
			continue
		}
		if err := checkMatch(t); err != nil {
			return nil, err
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
	}
	if len(groups[len(groups)-1]) == 0 {
		return nil, errors.New("journal: empty match group around \"+\"")
	}
	return groups, nil
}

func hasField(group []string, field string) bool {
	for _, t := range group {
		if strings.HasPrefix(t, field+"=") {
			return true
		}
	}
	return false
}

// checkMatch accepts FIELD=value with a journal field name: upper-case
// letters, digits and "_", not starting with a digit. (journalctl also takes
// paths of executables and devices as matches; we do not, so that a term
// is always one field comparison.)
func checkMatch(t string) error {
	name, _, ok := strings.Cut(t, "=")
	if !ok || !validField(name) {
		return fmt.Errorf("journal: match %q: want FIELD=value (FIELD in upper case) or \"+\"", t)
	}
	return nil
}

func validField(name string) bool {
	if name == "" || len(name) > 64 || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// priorityNames are the syslog severities in order, as journalctl names them.
var priorityNames = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// checkPriority accepts what journalctl's --priority accepts: a name or
// number, or a range FROM..TO of them.
func checkPriority(p string) error {
	for _, part := range strings.SplitN(p, "..", 2) {
		if !validPriority(part) {
			return fmt.Errorf("journal: priority %q: want one of %s or 0-7, or a range like crit..emerg", p, strings.Join(priorityNames, ", "))
		}
	}
	return nil
}

func validPriority(s string) bool {
	if len(s) == 1 && s[0] >= '0' && s[0] <= '7' {
		return true
	}
	for _, n := range priorityNames {
		if s == n {
			return true
		}
	}
	return false
}
