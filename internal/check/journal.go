package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
)

// journalGroups may read the whole system journal (besides root).
var journalGroups = []string{"systemd-journal", "adm"}

// journalWindow is how far back the selection is counted.
const journalWindow = 24 * time.Hour

// journalWait bounds each journalctl run of the journal checks.
const journalWait = time.Minute

// checkJournal checks the journal input of push --journal (o: the options
// push would follow it with) as the user that runs it: journalctl is there
// and reads the journal (the system journal only in group systemd-journal
// or adm, or as root), the selection finds entries of the last 24 hours,
// and the entry push would resume after, the position saved in spoolDir,
// is still in the journal. It only reads.
func checkJournal(ctx context.Context, r *report, o journal.Options, spoolDir string, clk clock.Clock) {
	c := &journalCheck{r: r, o: o, clk: clk, wait: journalWait}
	if spoolDir != "" {
		pos, err := spool.ReadInputMark(spoolDir)
		c.cursor, c.cursorErr = journal.ResumeCursor(pos), err
	}
	c.run(ctx)
}

// journalCheck is one check of push --journal's input.
type journalCheck struct {
	r   *report
	o   journal.Options
	clk clock.Clock
	// cursor is the journal cursor push resumes after, from its spool; ""
	// when it starts at the oldest entry. cursorErr says why the spool's
	// position could not be read.
	cursor    string
	cursorErr error
	wait      time.Duration // bounds each journalctl run
}

func (c *journalCheck) run(ctx context.Context) {
	prog := c.o.Journalctl
	if prog == "" {
		prog = "journalctl"
	}
	if _, err := exec.LookPath(prog); err != nil {
		c.r.fail("journalctl", err.Error(), "install journalctl (Debian: package systemd)")
		return
	}
	if c.readable(ctx) {
		c.resume(ctx)
	}
}

// source names what is read, as the report calls it.
func (c *journalCheck) source() string {
	switch {
	case c.o.Directory != "":
		return "--journal-dir " + c.o.Directory
	case len(c.o.Files) > 0:
		return "--journal-file " + strings.Join(c.o.Files, " ")
	}
	return "system journal"
}

func (c *journalCheck) system() bool { return c.o.Directory == "" && len(c.o.Files) == 0 }

// readable lists the selected entries of the last 24 hours, exactly as
// push selects them, and reports whether journalctl could read the
// journal; then whether the selection found anything.
func (c *journalCheck) readable(ctx context.Context) bool {
	name := c.source()
	if c.system() && !c.systemReader() {
		c.r.fail(name, fmt.Sprintf("user %s is in neither group %s: journalctl shows it only its own entries, none of the system's", currentUser(), strings.Join(journalGroups, " nor ")),
			fmt.Sprintf("usermod -a -G systemd-journal %s (the unit sshlogfwd-journal@ has SupplementaryGroups=systemd-journal)", currentUser()))
		return false
	}
	spec := c.spec()
	spec.Since = c.clk.Now().Add(-journalWindow)
	argv, err := journal.Argv(spec)
	if err != nil {
		c.r.fail(name, err.Error(), "fix the journal flags")
		return false
	}
	res := c.list(ctx, argv)
	switch {
	case res.err != nil:
		c.r.fail(name, "journalctl cannot read it: "+res.why(), c.accessFix())
		return false
	case res.denied():
		c.r.fail(name, fmt.Sprintf("user %s may not read all of it: %s", currentUser(), res.stderr), c.accessFix())
		return false
	}
	c.r.ok(name, "journalctl reads it as user %s", currentUser())
	sel := c.selection()
	if res.cursors == 0 {
		c.r.fail("journal selection", fmt.Sprintf("no entry of the last 24 hours matches %s", sel),
			"see what push would select with: "+journalCommand(argv)+"; widen --journal-match, --journal-priority or --journal-unit")
	} else {
		c.r.ok("journal selection", "%d entries of the last 24 hours match %s", res.cursors, sel)
	}
	return true
}

// journalCommand is a one-shot command line in journalctl's own output format,
// for the administrator to run.
func journalCommand(argv []string) string {
	out := argv[:0:0]
	for _, a := range argv {
		if a != "--output=export" && !strings.HasPrefix(a, "--output-fields=") {
			out = append(out, a)
		}
	}
	return strings.Join(out, " ")
}

// systemReader reports whether we may read the whole system journal:
// root, or a member of one of journalGroups.
func (c *journalCheck) systemReader() bool {
	if os.Geteuid() == 0 {
		return true
	}
	gids, _ := unix.Getgroups()
	gids = append(gids, os.Getegid())
	for _, name := range journalGroups {
		if g, err := user.LookupGroup(name); err == nil {
			if gid, err := strconv.Atoi(g.Gid); err == nil && slices.Contains(gids, gid) {
				return true
			}
		}
	}
	return false
}

func (c *journalCheck) accessFix() string {
	if c.system() {
		return fmt.Sprintf("usermod -a -G systemd-journal %s", currentUser())
	}
	return fmt.Sprintf("give user %s read access to the journal files (their group, mode 0640) and their directory", currentUser())
}

// spec is journalctl's command line as push builds it, for a one-shot run.
func (c *journalCheck) spec() journal.Spec {
	s := journal.Spec{Program: c.o.Journalctl, Directory: c.o.Directory, Files: c.o.Files,
		Matches: c.o.Matches, Priority: c.o.Priority, Units: c.o.Units}
	if c.system() {
		// As push does: keep to this machine's entries (see journal.Spec).
		if b, err := os.ReadFile("/etc/machine-id"); err == nil {
			s.MachineID = strings.TrimSpace(string(b))
		}
	}
	return s
}

// selection says in words what push selects.
func (c *journalCheck) selection() string {
	var parts []string
	if len(c.o.Matches) > 0 {
		parts = append(parts, strings.Join(c.o.Matches, " "))
	}
	if c.o.Priority != "" {
		parts = append(parts, "priority "+c.o.Priority)
	}
	for _, u := range c.o.Units {
		parts = append(parts, "unit "+u)
	}
	if len(parts) == 0 {
		return "(every entry)"
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

// resume checks that the entry push resumes after still exists: if it
// was vacuumed or rotated away, push reports a gap on the log host.
func (c *journalCheck) resume(ctx context.Context) {
	const name = "journal cursor"
	switch {
	case c.cursorErr != nil:
		c.r.fail(name, "the position saved in push's spool cannot be read: "+c.cursorErr.Error(), "run check as the user that runs push, with the same --spool")
		return
	case c.cursor == "":
		c.r.ok(name, "none saved: push starts at the oldest entry")
		return
	}
	spec := c.spec()
	spec.Probe, spec.Cursor = true, c.cursor
	argv, err := journal.Argv(spec)
	if err != nil {
		c.r.fail(name, err.Error(), "")
		return
	}
	res := c.list(ctx, argv)
	switch {
	case res.err != nil:
		c.r.fail(name, fmt.Sprintf("journalctl refuses the cursor saved in push's spool (%s): push will say on the log host that an unknown number of entries were lost, and start at the oldest entry", res.why()),
			"if this spool served --fifo or --file before, give push --journal a --spool of its own")
	case res.first == c.cursor:
		c.r.ok(name, "the entry push resumes after is still in the journal")
	default:
		c.r.fail(name, "the entry push resumes after is gone (vacuumed or rotated away while push was not reading): push will say on the log host how many entries were lost, and continue at the oldest entry",
			"keep push running, or keep the journal longer (SystemMaxUse=, MaxRetentionSec= in journald.conf)")
	}
}

// journalRun is what a one-shot journalctl printed.
type journalRun struct {
	cursors int    // entries listed
	first   string // cursor of the first
	stderr  string // its last line of complaint
	err     error
}

func (r journalRun) why() string {
	if r.stderr != "" {
		return r.stderr
	}
	return r.err.Error()
}

// denied: journalctl exits 0 when it can open some files but not all (or
// only the user's own), and says so on stderr.
func (r journalRun) denied() bool {
	return strings.Contains(r.stderr, "insufficient permissions") || strings.Contains(r.stderr, "not seeing messages")
}

// list runs a one-shot journalctl (export format), counting the entries
// it lists, within c.wait.
func (c *journalCheck) list(ctx context.Context, argv []string) journalRun {
	ctx, cancel := context.WithTimeout(ctx, c.wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return journalRun{err: err}
	}
	if err := cmd.Start(); err != nil {
		return journalRun{err: err}
	}
	var res journalRun
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		if cur, ok := bytes.CutPrefix(sc.Bytes(), []byte("__CURSOR=")); ok {
			if res.cursors == 0 {
				res.first = string(cur)
			}
			res.cursors++
		}
	}
	res.err = cmd.Wait()
	if ctx.Err() != nil && res.err != nil {
		res.err = fmt.Errorf("journalctl did not finish within %v", c.wait)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	res.stderr = lines[len(lines)-1]
	if res.err == nil && res.cursors == 0 && errors.Is(sc.Err(), bufio.ErrTooLong) {
		res.err = sc.Err()
	}
	return res
}
