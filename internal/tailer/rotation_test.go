package tailer

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRotationOf(t *testing.T) {
	t.Parallel()
	const base = "fwd.log"
	for _, tc := range []struct {
		suffix string
		want   rotationKind
	}{
		// logrotate's numbers, savelog's .0 and its -d date.
		{".1", rotation},
		{".0", rotation},
		{".12", rotation},
		{".20261125103000", rotation},
		// dateext: the default, hourly, with minutes and seconds, with %s.
		{"-20261125", rotation},
		{"-2026112510", rotation},
		{"-202611251030", rotation},
		{"-20261125103000", rotation},
		{"-20261125-1764066600", rotation},
		{"-20261125-2", rotation},
		{"-2026-11-25", rotation},
		// Compressed generations: known, never read.
		{".1.gz", compressedRotation},
		{".2.xz", compressedRotation},
		{".3.bz2", compressedRotation},
		{".4.Z", compressedRotation},
		{".5.zst", compressedRotation},
		{"-20261125.gz", compressedRotation},
		// Everything else.
		{"", notRotation},
		{".private", notRotation},
		{".pos", notRotation},
		{".bak", notRotation},
		{"-backup", notRotation},
		{".1.bak", notRotation},
		{".1~", notRotation},
		{".1.swp", notRotation},
		{".dpkg-old", notRotation},
		{".gz", notRotation},
		{".private.gz", notRotation},
		{".", notRotation},
		{"-", notRotation},
		{".1a", notRotation},
		{".-1", notRotation},
		{".1.2", notRotation},
		{"-1", notRotation},
		{"-2026112", notRotation},
		{"-202611251", notRotation},
		{"-20261125-", notRotation},
		{"-2026-11-25x", notRotation},
		{".2026-11-25", notRotation},
		{"_1", notRotation},
		{"x.1", notRotation},
	} {
		if got := rotationOf(base, base+tc.suffix); got != tc.want {
			t.Errorf("rotationOf(%q, %q) = %v, want %v", base, base+tc.suffix, got, tc.want)
		}
	}
	for _, name := range []string{"other.log.1", ".fwd.log.1", ".fwd.log.sshlogfwd.tmp", "fwd.lo.1"} {
		if got := rotationOf(base, name); got != notRotation {
			t.Errorf("rotationOf(%q, %q) = %v, want notRotation", base, name, got)
		}
	}
}

// fakeInfo is a FileInfo with the fields checkSibling looks at.
type fakeInfo struct {
	mode fs.FileMode
	st   syscall.Stat_t
}

func newFakeInfo(mode fs.FileMode, uid int, links uint64) fakeInfo {
	fi := fakeInfo{mode: mode}
	fi.st.Uid = uint32(uid)
	// Nlink's type differs between platforms.
	reflect.ValueOf(&fi.st.Nlink).Elem().SetUint(links)
	return fi
}

func (f fakeInfo) Name() string       { return "x" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return &f.st }

func TestCheckSibling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		mode         fs.FileMode
		uid, owner   int
		links, names int
		want         error
	}{
		{"plain rotation", 0o640, 7, 7, 1, 1, nil},
		{"root's rotation of root's log", 0o640, 0, 0, 1, 1, nil},
		{"every link a rotation name (savelog's PATH and PATH.0)", 0o640, 7, 7, 2, 2, nil},
		{"other owner", 0o640, 8, 7, 1, 1, errOtherOwner},
		{"root's file beside a user's log", 0o600, 0, 7, 1, 1, errOtherOwner},
		{"hard link with a name elsewhere", 0o640, 7, 7, 2, 1, errOtherNames},
		{"followed file missing", 0o640, 7, -1, 1, 1, errNoOwner},
		{"symlink", fs.ModeSymlink | 0o777, 7, 7, 1, 1, errNotRegular},
		{"FIFO", fs.ModeNamedPipe | 0o600, 7, 7, 1, 1, errNotRegular},
		{"directory", fs.ModeDir | 0o755, 7, 7, 2, 1, errNotRegular},
	} {
		err := checkSibling(newFakeInfo(tc.mode, tc.uid, uint64(tc.links)), tc.owner, tc.names)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: checkSibling = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// resumeLab is a directory with the followed file fwd.log and whatever
// neighbours a test puts there, and the logs a resume writes.
type resumeLab struct {
	t        *testing.T
	name     string // the followed file
	pub, prv *syncBuffer
}

func newResumeLab(t *testing.T) *resumeLab {
	return &resumeLab{t: t, name: filepath.Join(t.TempDir(), "fwd.log"), pub: &syncBuffer{}, prv: &syncBuffer{}}
}

// open resumes at cur as serve does (LostFail), with the private notices
// in their own log.
func (l *resumeLab) open(cur Cursor) (*Tailer, error) {
	tl, err := Open(Options{Path: l.name, Start: &cur, IfLost: LostFail, Poll: true,
		Logger: testLogger(l.t, l.pub), PrivateLogger: testLogger(l.t, l.prv)})
	if err == nil {
		l.t.Cleanup(func() { tl.Close() })
	}
	return tl, err
}

// wantRead resumes at cur and wants the first bytes to be want.
func (l *resumeLab) wantRead(cur Cursor, want string) {
	l.t.Helper()
	tl, err := l.open(cur)
	if err != nil {
		l.t.Fatalf("resume at %v: %v, want it to read %q", cur, err, want)
	}
	c := &collector{tl: tl}
	c.untilLen(l.t, len(want))
	if got := string(c.data[:len(want)]); got != want {
		l.t.Fatalf("resume at %v read %q, want %q", cur, got, want)
	}
}

// wantLost resumes at cur and wants ErrCursorLost; the private log, and
// only that, must name file (if given) with why.
func (l *resumeLab) wantLost(cur Cursor, file string, why error) {
	l.t.Helper()
	tl, err := l.open(cur)
	if err == nil {
		c := &collector{tl: tl}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		ch, _ := tl.Next(ctx)
		c.add(ch)
		l.t.Fatalf("resume at %v into %s succeeded and read %q; want the position lost", cur, file, c.data)
	}
	if !errors.Is(err, ErrCursorLost) {
		l.t.Fatalf("resume at %v: %v, want ErrCursorLost", cur, err)
	}
	if file == "" {
		return
	}
	if s := l.prv.String(); !strings.Contains(s, "file="+file+" ") || !strings.Contains(s, why.Error()) {
		l.t.Errorf("private log does not say that %s was refused because %v:\n%s", file, why, s)
	}
	if strings.Contains(l.pub.String(), file) {
		l.t.Errorf("the log that may reach the client names %s:\n%s", file, l.pub)
	}
}

// Only names that are rotations are resumed into; a cursor for any other
// neighbour's inode is lost.
func TestResumeOnlyIntoRotations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		suffix string
		why    error // nil: read
	}{
		{".1", nil},
		{".0", nil},
		{"-20261125", nil},
		{"-2026112510", nil},
		{"-20261125-1764066600", nil},
		{"-2026-11-25", nil},
		{".private", errNotRotation},
		{".pos", errNotRotation},
		{"-backup", errNotRotation},
		{".1.bak", errNotRotation},
		{".1.gz", errCompressed},
	} {
		t.Run(tc.suffix, func(t *testing.T) {
			t.Parallel()
			l := newResumeLab(t)
			writeFile(t, l.name+tc.suffix, "NEIGHBOUR\n")
			cur := idCursor(t, l.name+tc.suffix, 0)
			writeFile(t, l.name, "current\n")
			if tc.why == nil {
				l.wantRead(cur, "NEIGHBOUR\n")
				return
			}
			l.wantLost(cur, l.name+tc.suffix, tc.why)
		})
	}
}

// chown gives name to uid; it needs root.
func chown(t *testing.T, name string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	if err := os.Lchown(name, uid, -1); err != nil {
		t.Fatal(err)
	}
}

const nobody = 65534

// A file under a rotation name is still refused when it is not what a
// rotation of the followed file is: owned by another user, a hard link
// with a name elsewhere, a symlink, not a regular file, or when there is
// no followed file to compare it with.
func TestResumeRefusesFile(t *testing.T) {
	t.Parallel()
	t.Run("other owner", func(t *testing.T) {
		t.Parallel()
		l := newResumeLab(t)
		writeFile(t, l.name, "current\n")
		writeFile(t, l.name+".1", "NOBODY'S\n")
		chown(t, l.name+".1", nobody)
		l.wantLost(idCursor(t, l.name+".1", 0), l.name+".1", errOtherOwner)
	})
	t.Run("same owner, not ours", func(t *testing.T) {
		t.Parallel()
		l := newResumeLab(t)
		writeFile(t, l.name, "current\n")
		writeFile(t, l.name+".1", "rotated\n")
		chown(t, l.name, nobody)
		chown(t, l.name+".1", nobody)
		l.wantRead(idCursor(t, l.name+".1", 0), "rotated\n")
	})
	t.Run("hard link to a private file", func(t *testing.T) {
		t.Parallel()
		l := newResumeLab(t)
		writeFile(t, l.name, "current\n")
		private := filepath.Join(filepath.Dir(l.name), "private")
		writeFile(t, private, "SECRET\n")
		if err := os.Link(private, l.name+".1"); err != nil {
			t.Fatal(err)
		}
		l.wantLost(idCursor(t, private, 0), l.name+".1", errOtherNames)
	})
	t.Run("hard links that are all rotations", func(t *testing.T) {
		t.Parallel()
		l := newResumeLab(t)
		writeFile(t, l.name, "current\n")
		writeFile(t, l.name+".1", "rotated\n")
		if err := os.Link(l.name+".1", l.name+"-20261125"); err != nil {
			t.Fatal(err)
		}
		l.wantRead(idCursor(t, l.name+".1", 0), "rotated\n")
	})
	t.Run("symlink", func(t *testing.T) {
		t.Parallel()
		l := newResumeLab(t)
		writeFile(t, l.name, "current\n")
		private := filepath.Join(t.TempDir(), "private")
		writeFile(t, private, "SECRET\n")
		if err := os.Symlink(private, l.name+".1"); err != nil {
			t.Fatal(err)
		}
		l.wantLost(idCursor(t, private, 0), "", nil)
	})
	t.Run("FIFO", func(t *testing.T) {
		t.Parallel()
		l := newResumeLab(t)
		writeFile(t, l.name, "current\n")
		if err := syscall.Mkfifo(l.name+".1", 0o600); err != nil {
			t.Fatal(err)
		}
		l.wantLost(idCursor(t, l.name+".1", 0), l.name+".1", errNotRegular)
	})
	t.Run("followed file missing", func(t *testing.T) {
		t.Parallel()
		l := newResumeLab(t)
		writeFile(t, l.name+".1", "rotated\n")
		l.wantLost(idCursor(t, l.name+".1", 0), l.name+".1", errNoOwner)
	})
}

// A generation written after the resume position's file is read only if
// it passes the same checks; a refused one is skipped and the private log
// says why.
func TestResumeSkipsRefusedGeneration(t *testing.T) {
	t.Parallel()
	l := newResumeLab(t)
	writeFile(t, l.name+".2", lines(0, 10))
	cur := idCursor(t, l.name+".2", int64(len(line(0))*5))
	writeFile(t, l.name+".1", "NOBODY'S\n")
	chown(t, l.name+".1", nobody)
	writeFile(t, l.name, lines(10, 20))
	ageInOrder(t, time.Now().Add(-time.Hour), l.name+".2", l.name+".1", l.name)
	tl, err := l.open(cur)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{tl: tl}
	c.untilLen(t, 15*len(line(0)))
	if want := lines(5, 20); string(c.data) != want {
		t.Fatalf("read %q, want %q", c.data, want)
	}
	if s := l.prv.String(); !strings.Contains(s, l.name+".1") || !strings.Contains(s, errOtherOwner.Error()) {
		t.Errorf("private log does not say why %s.1 was skipped:\n%s", l.name, s)
	}
}

// renameCreate rotates name as logrotate's dateext does: it renames it to
// rotated and creates name with next in it.
func renameCreate(t *testing.T, name, rotated, next string) {
	t.Helper()
	if err := os.Rename(name, rotated); err != nil {
		t.Fatal(err)
	}
	writeFile(t, name, next)
}

// A followed file (push --file) is followed through dateext rotations as
// through numbered ones: a dated generation that was at the name only
// while the Tailer was not looking is found and read in order.
func TestMissedGenerationDateext(t *testing.T) {
	eachMode(t, func(t *testing.T, poll bool) {
		name := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, name, lines(0, 10))
		c := follow(t, Options{Path: name}, poll, 10*len(line(0)))

		appendFile(t, name, lines(10, 20)) // unread when the rotations happen
		renameCreate(t, name, name+"-20261124", lines(20, 30))
		renameCreate(t, name, name+"-20261125", lines(30, 40))
		ageInOrder(t, time.Now().Add(-2*time.Minute), name+"-20261124", name+"-20261125")

		c.untilLines(t, 40)
		c.wantEvents(t, EventRotated, EventRotated)
	})
}
