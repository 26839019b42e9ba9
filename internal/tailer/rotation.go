package tailer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

// This file is the one place that decides which neighbours of the followed
// file the Tailer reads: its rotated generations, when it resumes from a
// cursor and when it catches up with a generation it never saw at the
// name. A neighbour is read only if its name is a rotation of the followed
// name (rotationOf) and the file passes checkSibling. Whoever asks for a
// resume position chooses the inode, so everything else in the directory
// (PATH.private, a hard link named PATH.1 to someone's private file, a
// symlink) must be out of reach.

// rotationSuffix matches what logrotate and savelog append to a log's name
// when they rotate it (uncompressed):
//
//	.N                      logrotate's numbers (PATH.1, PATH.0 with "start 0"),
//	                        savelog's (PATH.0; PATH.YYYYMMDDhhmmss with -d)
//	-YYYYMMDD               logrotate's dateext, default dateformat -%Y%m%d
//	-YYYYMMDDHH             the default with hourly, -%Y%m%d%H; also %M and %S after it
//	-YYYYMMDD-N             dateformat -%Y%m%d-%s (several rotations a day)
//	-YYYY-MM-DD             dateformat -%Y-%m-%d
//
// A name is a rotation only if nothing but this follows the followed name:
// PATH.pos, PATH.private, PATH-old and PATH.bak are not.
var rotationSuffix = regexp.MustCompile(`^(?:` +
	`\.[0-9]+` +
	`|-[0-9]{8}(?:[0-9]{2}){0,3}(?:-[0-9]+)?` +
	`|-[0-9]{4}-[0-9]{2}-[0-9]{2}(?:-[0-9]+)?` +
	`)$`)

// compressedExt lists the suffixes of compressed rotated files. Compression
// writes a new inode, so a cursor can never point into one, and its bytes are
// not the log's bytes.
var compressedExt = map[string]bool{
	".gz": true, ".xz": true, ".bz2": true, ".zst": true, ".lz4": true,
	".lzma": true, ".lzo": true, ".z": true, ".zip": true,
}

// rotationKind is what an entry of the followed file's directory is to it.
type rotationKind int

const (
	// notRotation: any other name.
	notRotation rotationKind = iota
	// rotation: an uncompressed generation, read if checkSibling agrees.
	rotation
	// compressedRotation: a compressed generation, never read; only named
	// in the message about a lost resume position.
	compressedRotation
)

// rotationOf says what name, an entry in the followed file's directory, is
// to the followed file's base name (see rotationSuffix).
func rotationOf(base, name string) rotationKind {
	suffix, ok := strings.CutPrefix(name, base)
	if !ok || suffix == "" {
		return notRotation
	}
	if rotationSuffix.MatchString(suffix) {
		return rotation
	}
	ext := filepath.Ext(suffix)
	if compressedExt[strings.ToLower(ext)] && rotationSuffix.MatchString(strings.TrimSuffix(suffix, ext)) {
		return compressedRotation
	}
	return notRotation
}

// Why a file in the followed file's directory is not read.
var (
	errNotRotation = errors.New("its name is not a rotation of the followed file's")
	errOtherOwner  = errors.New("owned by another user than the followed file")
	errOtherNames  = errors.New("a hard link with names that are not rotations of the followed file")
	errNoOwner     = errors.New("the followed file does not exist, so the owner its rotations must have is unknown")
	errCompressed  = errors.New("a compressed rotation: its bytes are not the log's")
)

// checkSibling decides whether a file found under a rotation name of the
// followed file may be read as one of its generations. fi describes the
// file itself, never a symlink's target (Lstat, or Stat of a descriptor
// opened O_NOFOLLOW); owner is the followed file's uid (-1: unknown);
// names is how many names the file has in the directory among the followed
// name and its rotations.
//
// A rotated log is a regular file with the owner of the log (logrotate
// renames it, or creates the new file with the old one's attributes) and a
// single name. Hard links are refused when the file has a name we cannot
// see: a name elsewhere may be someone's private file. Links that are all
// accounted for are harmless, and savelog makes one for a moment (it links
// PATH to PATH.0 before it moves a new file to PATH).
func checkSibling(fi fs.FileInfo, owner, names int) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", fsutil.DescribeMode(fi.Mode()), errNotRegular)
	}
	if owner < 0 {
		return errNoOwner
	}
	if uid, ok := fsutil.Owner(fi); !ok || uid != owner {
		return fmt.Errorf("%w (uid %d, the followed file's is %d)", errOtherOwner, uid, owner)
	}
	if n := fsutil.Links(fi); n > uint64(names) {
		return fmt.Errorf("%w (%d links, %d of them here)", errOtherNames, n, names)
	}
	return nil
}

// sibling is an entry of the followed file's directory whose name is an
// uncompressed rotation of it (rotationOf).
type sibling struct {
	name  string // full path
	id    fsutil.ID
	mtime time.Time
	owner int // the followed file's owner at the scan, for checkSibling
	names int // the file's names among the followed name and its rotations
	// refused says why the file must not be read (checkSibling); nil: it
	// may be.
	refused error
}

// scanSiblings lists the followed file's uncompressed rotations, each with
// checkSibling's verdict as it stands at the scan, and the names of the
// compressed ones (for log messages).
func (t *Tailer) scanSiblings() (sibs []sibling, compressed []string, err error) {
	entries, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s for rotated files: %w", t.dir, err)
	}
	names := map[fsutil.ID]int{}
	var infos []fs.FileInfo
	for _, e := range entries {
		kind := rotationOf(t.base, e.Name())
		if kind == compressedRotation {
			compressed = append(compressed, e.Name())
		}
		if kind != rotation && e.Name() != t.base {
			continue
		}
		fi, err := e.Info() // Lstat: a symlink stays a symlink
		if err != nil {
			continue // vanished since ReadDir
		}
		id, ok := fsutil.IDOf(fi)
		if !ok {
			continue
		}
		names[id]++
		if kind == rotation {
			sibs = append(sibs, sibling{name: filepath.Join(t.dir, e.Name()), id: id, mtime: fi.ModTime()})
			infos = append(infos, fi)
		}
	}
	owner := t.owner()
	for i := range sibs {
		s := &sibs[i]
		s.owner, s.names = owner, names[s.id]
		s.refused = checkSibling(infos[i], owner, s.names)
	}
	return sibs, compressed, nil
}

// owner is the uid the followed file's rotations must have: its owner at
// the name or, while the name is missing, the owner of the file being
// read. -1: unknown (nothing at the name, nothing read yet).
func (t *Tailer) owner() int {
	fi, err := os.Stat(t.path)
	if err != nil && t.cur != nil {
		fi, err = t.cur.f.Stat()
	}
	if err != nil {
		return -1
	}
	if uid, ok := fsutil.Owner(fi); ok {
		return uid
	}
	return -1
}

// openSibling opens a rotation found by scanSiblings and checks, on the
// open descriptor, that it is still the scanned file and still passes
// checkSibling: the name may have been given to another file or to a
// symlink (O_NOFOLLOW) since the scan. It returns a nil file when the
// name no longer holds that file, and when the file is refused; the
// refusal goes to the private log.
func (t *Tailer) openSibling(s sibling) (*file, fs.FileInfo, error) {
	if s.refused != nil {
		t.refuse(s.name, s.refused)
		return nil, nil, nil
	}
	f, fi, err := openFileFlag(s.name, syscall.O_NOFOLLOW)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, errNotRegular) {
		return nil, nil, nil // replaced by a symlink or a special file since the scan
	}
	if f == nil || err != nil {
		return nil, nil, err
	}
	if f.id != s.id {
		closeFile(f) // renamed again since the scan
		return nil, nil, nil
	}
	if err := checkSibling(fi, s.owner, s.names); err != nil {
		closeFile(f)
		t.refuse(s.name, err)
		return nil, nil, nil
	}
	return f, fi, nil
}

// refuse says in the private log that a file in the followed file's
// directory is not read, and why.
func (t *Tailer) refuse(name string, why error) {
	t.private.Warn("not reading a file next to the followed one as one of its rotations", "file", name, "reason", why)
}

// openResumed opens the rotation of the followed file that is the resume
// position's file, want. It returns a nil file when there is none the
// Tailer may read; if the directory holds want under some other name, the
// private log says which and why it is refused.
func (t *Tailer) openResumed(want fsutil.ID, sibs []sibling) (*file, fs.FileInfo, error) {
	for _, s := range sibs {
		if s.id == want {
			return t.openSibling(s)
		}
	}
	if name := findID(t.dir, want); name != "" {
		why := errNotRotation
		if rotationOf(t.base, filepath.Base(name)) == compressedRotation {
			why = errCompressed
		}
		t.refuse(name, why)
	}
	return nil, nil, nil
}

// maxExplain bounds how many directory entries findID looks at.
const maxExplain = 10000

// findID returns the path of the entry of dir that is the file id (not
// following symlinks), or "". It only serves a log message.
func findID(dir string, id fsutil.ID) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries[:min(len(entries), maxExplain)] {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if got, ok := fsutil.IDOf(fi); ok && got == id {
			return filepath.Join(dir, e.Name())
		}
	}
	return ""
}

// olderName orders two rotated names with equal modification times: name.2
// is older than name.1; otherwise the smaller name (an earlier date) is older.
func olderName(a, b string) bool {
	na, okA := generationNumber(a)
	nb, okB := generationNumber(b)
	if okA && okB {
		return na > nb
	}
	return a < b
}

func generationNumber(name string) (uint64, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return n, err == nil
}

// missedGenerations returns the rotated siblings that were written after
// after (strictly later modification time) and are not among known, oldest
// first. They are generations of the log that passed through the followed
// name while we were not looking: while we were down, or while we were still
// behind in an older generation. Refused ones are among them: openSibling
// says why and skips them.
//
// The comparison is strict so that an older generation is never read twice;
// the price is that a generation whose last write falls in the same
// timestamp tick as after's last write is not found.
func missedGenerations(sibs []sibling, after time.Time, known func(fsutil.ID) bool) []sibling {
	var out []sibling
	for _, s := range sibs {
		if s.mtime.After(after) && !known(s.id) {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].mtime.Equal(out[j].mtime) {
			return out[i].mtime.Before(out[j].mtime)
		}
		return olderName(out[i].name, out[j].name)
	})
	return out
}
