package onewriter

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// Program is one of our writers.
type Program string

// The writers.
const (
	Receive Program = "receive"
	Pull    Program = "pull"
)

// PullCursorPrefix starts every pull cursor file (the version follows).
const PullCursorPrefix = "sshlogfwd-pull-cursor "

// HiddenPath is the hidden name beside path under which our writers keep
// their files: the receiver's state file, and with ".lock" the lock file.
func HiddenPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".sshlogfwd")
}

// LockPath is the lock file every writer of path takes.
func LockPath(path string) string { return HiddenPath(path) + ".lock" }

// Holder is a writer as its lock file records it.
type Holder struct {
	Program Program
	Pid     int
	// Of is what it writes: the sender's stream (receive) or the remote
	// file (pull).
	Of string
}

// String is the line stored in the lock file: "receive PID STREAM" or
// "pull PID SOURCE".
func (h Holder) String() string { return fmt.Sprintf("%s %d %s", h.Program, h.Pid, h.Of) }

// Describe names the writer for an administrator, e.g.
// "sshlogfwd receive (stream 3f2a..., pid 4242)".
func (h Holder) Describe() string {
	var what []string
	switch {
	case h.Of == "":
	case h.Program == Pull:
		what = append(what, "from "+h.Of)
	default:
		what = append(what, "stream "+h.Of)
	}
	if h.Pid > 0 {
		what = append(what, "pid "+strconv.Itoa(h.Pid))
	}
	if h.Program == "" {
		return "another sshlogfwd process"
	}
	if len(what) == 0 {
		return "sshlogfwd " + string(h.Program)
	}
	return "sshlogfwd " + string(h.Program) + " (" + strings.Join(what, ", ") + ")"
}

// ParseHolder reads what Holder.String writes, and the receiver's older
// "PID STREAM"; ok is false for anything else.
func ParseHolder(s string) (h Holder, ok bool) {
	first, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	switch Program(first) {
	case Receive, Pull:
		pidS, of, _ := strings.Cut(rest, " ")
		pid, err := strconv.Atoi(pidS)
		if err != nil || pid <= 1 {
			return Holder{}, false
		}
		return Holder{Program: Program(first), Pid: pid, Of: of}, true
	}
	pid, err := strconv.Atoi(first)
	if err != nil || pid <= 1 || rest == "" {
		return Holder{}, false
	}
	return Holder{Program: Receive, Pid: pid, Of: rest}, true
}

// ReadHolder is the holder recorded in path's lock file; ok is false when
// there is none (no lock file, not ours, not a holder line).
func ReadHolder(path string) (Holder, bool) {
	return ParseHolder(fsutil.Holder(LockPath(path)))
}

// OtherWriterError is a file another writer of ours writes.
type OtherWriterError struct {
	Path  string
	Me    Program
	Other Holder
	// Mark is the file beside Path that says so.
	Mark string
	// Running: the other holds the lock now.
	Running bool
}

func (e *OtherWriterError) Error() string {
	var fix string
	switch e.Me {
	case Pull:
		fix = "give pull its own --output"
	default:
		fix = "give this key's sshlogfwd receive its own PATH in authorized_keys"
	}
	s := fmt.Sprintf("%s is written by %s; %s", e.Path, e.Other.Describe(), fix)
	if !e.Running && e.Mark != "" {
		s += fmt.Sprintf(" (if that no longer writes it, remove %s)", e.Mark)
	}
	return s
}

// conflicts reports whether a writer me must not write a file other
// writes.
func conflicts(me, other Holder) bool {
	switch {
	case me.Program != other.Program:
		return true
	case me.Program == Pull:
		return me.Of != other.Of
	}
	// Receivers of different streams: the receiver decides (it starts
	// the new stream, or refuses while the other runs).
	return false
}

// Check looks for the marks of another writer of path that me must not
// share it with, and returns an *OtherWriterError naming it; nil when
// there is none.
func Check(path string, me Holder) error {
	lock := LockPath(path)
	if h, ok := ReadHolder(path); ok && conflicts(me, h) {
		return &OtherWriterError{Path: path, Me: me.Program, Other: h, Mark: lock}
	}
	switch me.Program {
	case Pull:
		if state := HiddenPath(path); exists(state) {
			return &OtherWriterError{Path: path, Me: Pull, Other: Holder{Program: Receive}, Mark: state}
		}
	case Receive:
		if src, ok := pullCursorSource(path + ".cursor"); ok {
			return &OtherWriterError{Path: path, Me: Receive, Other: Holder{Program: Pull, Of: src}, Mark: path + ".cursor"}
		}
	}
	return nil
}

// exists reports whether something is at path (a symlink counts, and is
// not followed).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// pullCursorSource reads the source named in a pull cursor file of ours at
// path; ok is false when there is none.
func pullCursorSource(path string) (string, bool) {
	b, err := fsutil.ReadOwned(path, 64<<10)
	if err != nil || !strings.HasPrefix(string(b), PullCursorPrefix) {
		return "", false
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if src, ok := strings.CutPrefix(l, "source "); ok {
			return src, true
		}
	}
	return "", true
}

// Claim takes the lock beside path for me, a writer that holds it as long
// as it runs: it refuses (an *OtherWriterError) when Check finds another
// writer, or when another process holds the lock now. Close the lock to
// release it.
func Claim(path string, me Holder) (*fsutil.Lock, error) {
	if err := Check(path, me); err != nil {
		return nil, err
	}
	lp := LockPath(path)
	l, err := fsutil.OpenLock(lp)
	if err != nil {
		return nil, err
	}
	ok, err := l.TryLock()
	if err == nil && !ok {
		other, _ := ReadHolder(path)
		err = &OtherWriterError{Path: path, Me: me.Program, Other: other, Mark: lp, Running: true}
	}
	if err == nil {
		err = l.SetHolder(me.String())
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
