package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/onewriter"
)

// checkKeyFile checks a private key as ssh would use it unattended: no
// other user may read or replace it, ssh must not ignore it, and it must
// not ask for a passphrase. sshPath is the ssh client; the ssh-keygen
// beside it tells whether the key has a passphrase.
func checkKeyFile(r *report, path, sshPath string) {
	name := "key " + path
	fi, err := os.Stat(path)
	if err != nil {
		r.fail(name, err.Error(), "give the private key with -i FILE")
		return
	}
	if !fi.Mode().IsRegular() {
		r.fail(name, "not a regular file", "give the private key file with -i FILE")
		return
	}
	mode := fi.Mode().Perm()
	owner, known := fsutil.Owner(fi)
	switch {
	case mode&0o004 != 0:
		r.fail(name, fmt.Sprintf("readable by every user on this host (mode %04o): anyone here can copy it and write to the far side as you", mode),
			"chmod 600 "+path+", then consider the key stolen: make a new one and replace its line in authorized_keys")
		return
	case mode&0o022 != 0:
		r.fail(name, fmt.Sprintf("writable by others (mode %04o): they could swap in their own key", mode), "chmod 600 "+path)
		return
	case mode&0o077 != 0 && known && owner == os.Getuid():
		r.fail(name, fmt.Sprintf("group can read it (mode %04o), and ssh ignores a private key of yours that others can access", mode), "chmod 600 "+path)
		return
	}
	if err := unix.Access(path, unix.R_OK); err != nil {
		r.fail(name, fmt.Sprintf("cannot be read by user %s: %v", currentUser(), err), "give the user that runs sshlogfwd read access (chown it, mode 0600)")
		return
	}
	if pass, err := hasPassphrase(path, sshPath); err == nil && pass {
		r.fail(name, "has a passphrase, which nobody is there to type when sshlogfwd runs unattended",
			"make a dedicated key without passphrase: ssh-keygen -t ed25519 -N '' -f "+path)
		return
	}
	r.ok(name, "mode %04o, owner %s, no passphrase", mode, ownerName(fi))
}

// hasPassphrase asks ssh-keygen to derive the public key with an empty
// passphrase: it refuses, and says "passphrase", when the key has one.
func hasPassphrase(path, sshPath string) (bool, error) {
	keygen := "ssh-keygen"
	if strings.Contains(sshPath, "/") {
		if p := filepath.Join(filepath.Dir(sshPath), "ssh-keygen"); fileExists(p) {
			keygen = p
		}
	}
	var out bytes.Buffer
	cmd := exec.Command(keygen, "-y", "-P", "", "-f", path)
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	err := cmd.Run()
	if err == nil {
		return false, nil
	}
	if strings.Contains(out.String(), "passphrase") {
		return true, nil
	}
	return false, err
}

// checkFIFO checks the FIFO syslog writes into: a FIFO, readable by us,
// writable by the syslog daemon, readable by nobody else, writable by no
// stranger. A FIFO that does not exist yet is judged by the mode push
// would create it with (createMode).
func checkFIFO(r *report, path string, createMode fs.FileMode, syslogUser string) {
	name := "--fifo " + path
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		checkFIFOToCreate(r, name, path, createMode, syslogUser)
		return
	case err != nil:
		r.fail(name, err.Error(), "")
		return
	case fi.Mode().Type() != fs.ModeNamedPipe:
		r.fail(name, fmt.Sprintf("is not a FIFO but %s; push refuses it", fsutil.DescribeMode(fi.Mode())),
			"give the FIFO's path, or remove what is there and let push create the FIFO")
		return
	}
	mode := fi.Mode().Perm()
	switch {
	case mode&0o044 != 0:
		r.fail(name, fmt.Sprintf("others can read it (mode %04o) and take lines out of it before push sees them", mode), "chmod go-r "+path)
		return
	case mode&0o002 != 0:
		r.fail(name, fmt.Sprintf("every user can write it (mode %04o) and slip forged lines past the syslog daemon", mode), "chmod o-w "+path)
		return
	}
	if err := unix.Access(path, unix.R_OK); err != nil {
		r.fail(name, fmt.Sprintf("user %s (who runs push) cannot read it: %v", currentUser(), err), "chown it to the user that runs push")
		return
	}
	uid, _ := fsutil.Owner(fi)
	gid, _ := fsutil.Group(fi)
	if !syslogCanWrite(r, name, path, syslogUser, uid, gid, mode) {
		return
	}
	r.ok(name, "a FIFO, mode %04o, owner %s, writable by %s, readable only by its owner", mode, ownerName(fi), syslogUser)
}

// syslogCanWrite checks that the syslog daemon's user may write a FIFO at
// path with this owner, group and mode, and reach it: enter every
// directory above it. If not, it reports why with the fix.
func syslogCanWrite(r *report, name, path, syslogUser string, uid, gid int, mode fs.FileMode) bool {
	u, err := user.Lookup(syslogUser)
	if err != nil {
		r.fail(name, fmt.Sprintf("the syslog daemon's user %s: %v", syslogUser, err), "give --syslog-user, the user the syslog daemon runs as")
		return false
	}
	if ok, why := permits(u, uid, gid, mode, 0o2); !ok {
		r.fail(name, fmt.Sprintf("the syslog daemon (user %s) cannot write it: %s", syslogUser, why),
			fixSyslogAccess(syslogUser, path, groupName(gid), mode, false, inGroup(u, gid)))
		return false
	}
	if dir, fi := closedDir(u, filepath.Dir(path)); dir != "" {
		gid, _ := fsutil.Group(fi)
		r.fail(name, fmt.Sprintf("the syslog daemon (user %s) cannot reach it: it may not enter %s (owner %s, group %s, mode %04o)", syslogUser, dir, ownerName(fi), groupName(gid), fi.Mode().Perm()),
			fixSyslogAccess(syslogUser, dir, groupName(gid), fi.Mode().Perm(), true, inGroup(u, gid)))
		return false
	}
	return true
}

// checkFIFOToCreate checks a FIFO that push will create: it must be able
// to, and the mode it is given must keep strangers out.
func checkFIFOToCreate(r *report, name, path string, createMode fs.FileMode, syslogUser string) {
	dir := filepath.Dir(path)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		r.fail(name, fmt.Sprintf("does not exist, and push cannot create it in %s: %v", dir, err),
			FixDir(dir, 0o750)+" (or give another --fifo)")
		return
	}
	if createMode&0o044 != 0 || createMode&0o002 != 0 {
		r.fail(name, fmt.Sprintf("does not exist yet, and --fifo-mode %04o would let others read or write it", createMode), "--fifo-mode 0620")
		return
	}
	// The FIFO will be ours, with our group (or the directory's, if it
	// is set-group-ID).
	gid := os.Getgid()
	if fi, err := os.Stat(dir); err == nil && fi.Mode()&fs.ModeSetgid != 0 {
		gid, _ = fsutil.Group(fi)
	}
	if !syslogCanWrite(r, name+" (to be created)", path, syslogUser, os.Getuid(), gid, createMode) {
		return
	}
	r.ok(name, "does not exist yet; push creates it with mode %04o (start push before the syslog daemon)", createMode)
}

// permits reports whether user u may do want (0o2 write, 0o1 search) to
// a file with this owner, group and mode, judging by them alone (not
// ACLs), and if not, why. root may do anything.
func permits(u *user.User, uid, gid int, mode fs.FileMode, want fs.FileMode) (bool, string) {
	if u.Uid == "0" {
		return true, ""
	}
	what := map[fs.FileMode]string{0o2: "w", 0o1: "x"}[want]
	if u.Uid == strconv.Itoa(uid) {
		return mode&(want<<6) != 0, "it is the owner but the mode lacks u+" + what
	}
	if inGroup(u, gid) {
		return mode&(want<<3) != 0, "it is in the group but the mode lacks g+" + what
	}
	return mode&want != 0, "neither the owner nor in the group"
}

// inGroup reports whether u is a member of group gid (its primary group
// included), as the group database says now.
func inGroup(u *user.User, gid int) bool {
	groups, _ := u.GroupIds()
	return slices.Contains(groups, strconv.Itoa(gid))
}

// closedDir is the first directory on the way down to dir (dir included)
// that u may not enter, and its FileInfo; "" if u may enter them all.
func closedDir(u *user.User, dir string) (string, fs.FileInfo) {
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		fi, err := os.Stat(chain[i])
		if err != nil {
			return "", nil // judged elsewhere: a missing directory
		}
		uid, _ := fsutil.Owner(fi)
		gid, _ := fsutil.Group(fi)
		if ok, _ := permits(u, uid, gid, fi.Mode().Perm(), 0o1); !ok {
			return chain[i], fi
		}
	}
	return "", nil
}

// checkReadable checks a file push follows (--file).
func checkReadable(r *report, name, path string) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.fail(name, "does not exist (push would wait for it)", "check the path")
	case err != nil:
		r.fail(name, err.Error(), "")
	case !fi.Mode().IsRegular():
		r.fail(name, "not a regular file but "+fsutil.DescribeMode(fi.Mode()), "give the log file itself")
	default:
		if err := unix.Access(path, unix.R_OK); err != nil {
			r.fail(name, fmt.Sprintf("user %s cannot read it: %v", currentUser(), err), "add that user to the file's group (e.g. adm)")
			return
		}
		r.ok(name, "a regular file, readable")
	}
}

// checkPrivateDir checks a directory that holds log lines (spool, state):
// writable by us, or creatable, and not readable by others.
func checkPrivateDir(r *report, name, dir string) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := existingParent(dir)
		if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
			r.fail(name, fmt.Sprintf("does not exist, and user %s cannot create it under %s: %v", currentUser(), parent, err), FixDir(dir, 0o700))
			return
		}
		r.ok(name, "does not exist yet; it will be created with mode 0700")
	case err != nil:
		r.fail(name, err.Error(), "")
	case !fi.IsDir():
		r.fail(name, "not a directory but "+fsutil.DescribeMode(fi.Mode()), "give a directory")
	default:
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			r.fail(name, fmt.Sprintf("user %s cannot write it: %v", currentUser(), err), FixDir(dir, 0o700))
			return
		}
		if fi.Mode().Perm()&0o005 != 0 {
			r.fail(name, fmt.Sprintf("every user can read it (mode %04o): it holds log lines waiting to be sent", fi.Mode().Perm()), "chmod 700 "+dir)
			return
		}
		r.ok(name, "a directory, writable, mode %04o", fi.Mode().Perm())
	}
}

// checkOutput checks a file pull appends to (or a cursor file): a regular
// file we may write, or one we may create, that not every user can read.
func checkOutput(r *report, name, path string) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			r.fail(name, fmt.Sprintf("does not exist, and user %s cannot create it in %s: %v", currentUser(), dir, err), FixDir(dir, 0o750))
			return
		}
		r.ok(name, "does not exist yet; it will be created")
	case err != nil:
		r.fail(name, err.Error(), "")
	case !fi.Mode().IsRegular():
		r.fail(name, "not a regular file but "+fsutil.DescribeMode(fi.Mode()), "give a file")
	case unix.Access(path, unix.W_OK) != nil:
		r.fail(name, fmt.Sprintf("user %s cannot write it", currentUser()), fixOutputOwner(path))
	case fi.Mode().Perm()&0o004 != 0:
		r.fail(name, fmt.Sprintf("every user can read it (mode %04o)", fi.Mode().Perm()), "chmod o-r "+path)
	default:
		r.ok(name, "a regular file, writable, mode %04o", fi.Mode().Perm())
	}
}

// checkOneWriter fails an output that another writer of ours writes (a
// receiver, or a pull of another source): pull would refuse it at start,
// and sharing it is how acknowledged lines got cut.
func checkOneWriter(r *report, name, path, src string) {
	me := onewriter.Holder{Program: onewriter.Pull, Of: src}
	var other *onewriter.OtherWriterError
	switch err := onewriter.Check(path, me); {
	case errors.As(err, &other):
		r.fail(name, fmt.Sprintf("written by %s", other.Other.Describe()), "give pull its own --output, a file no other sshlogfwd writes")
	case err != nil:
		r.fail(name, err.Error(), "")
	default:
		r.ok(name, "no other sshlogfwd writes it")
	}
}

// ownerName is the name of the file's owner, or its uid.
func ownerName(fi fs.FileInfo) string {
	uid, ok := fsutil.Owner(fi)
	if !ok {
		return "unknown"
	}
	return userName(uid)
}

func userName(uid int) string { return fsutil.UserName(uid) }

func currentUser() string { return userName(os.Getuid()) }

func groupName(gid int) string { return fsutil.GroupName(gid) }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// expandHome expands a leading ~ as ssh -G prints identity files.
func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// existingParent is the nearest ancestor of p that exists: where a
// missing directory would be created.
func existingParent(p string) string {
	for {
		parent := filepath.Dir(p)
		if fileExists(parent) || parent == p {
			return parent
		}
		p = parent
	}
}
