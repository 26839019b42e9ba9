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
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
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
		checkFIFOToCreate(r, name, path, createMode)
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
	if ok, why := canWrite(fi, syslogUser); !ok {
		r.fail(name, fmt.Sprintf("the syslog daemon (user %s) cannot write it: %s", syslogUser, why), fixFIFOWriter(syslogUser, path))
		return
	}
	r.ok(name, "a FIFO, mode %04o, owner %s, writable by %s, readable only by its owner", mode, ownerName(fi), syslogUser)
}

// checkFIFOToCreate checks a FIFO that push will create: it must be able
// to, and the mode it is given must keep strangers out.
func checkFIFOToCreate(r *report, name, path string, createMode fs.FileMode) {
	dir := filepath.Dir(path)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		r.fail(name, fmt.Sprintf("does not exist, and push cannot create it in %s: %v", dir, err),
			fmt.Sprintf("create %s writable by user %s, or give another --fifo", dir, currentUser()))
		return
	}
	if createMode&0o044 != 0 || createMode&0o002 != 0 {
		r.fail(name, fmt.Sprintf("does not exist yet, and --fifo-mode %04o would let others read or write it", createMode), "--fifo-mode 0620")
		return
	}
	r.ok(name, "does not exist yet; push creates it with mode %04o (start push before the syslog daemon)", createMode)
}

// canWrite reports whether the named user may write the file, judging by
// owner, group and mode (not ACLs), and if not, why.
func canWrite(fi fs.FileInfo, name string) (bool, string) {
	u, err := user.Lookup(name)
	if err != nil {
		return false, err.Error()
	}
	if u.Uid == "0" {
		return true, ""
	}
	uid, uok := fsutil.Owner(fi)
	gid, gok := fsutil.Group(fi)
	if !uok || !gok {
		return false, "cannot read the owner"
	}
	mode := fi.Mode().Perm()
	if u.Uid == strconv.Itoa(uid) {
		return mode&0o200 != 0, "it is the owner but the mode lacks u+w"
	}
	groups, _ := u.GroupIds()
	for _, g := range groups {
		if g == strconv.Itoa(gid) {
			return mode&0o020 != 0, "it is in the group but the mode lacks g+w"
		}
	}
	return mode&0o002 != 0, "neither the owner nor in the group"
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
			r.fail(name, fmt.Sprintf("does not exist, and cannot be created under %s: %v", parent, err),
				fmt.Sprintf("create it for user %s (mode 0700)", currentUser()))
			return
		}
		r.ok(name, "does not exist yet; it will be created with mode 0700")
	case err != nil:
		r.fail(name, err.Error(), "")
	case !fi.IsDir():
		r.fail(name, "not a directory but "+fsutil.DescribeMode(fi.Mode()), "give a directory")
	default:
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			r.fail(name, fmt.Sprintf("user %s cannot write it: %v", currentUser(), err), "chown it to the user that runs sshlogfwd")
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
			r.fail(name, fmt.Sprintf("does not exist, and cannot be created in %s: %v", dir, err),
				fmt.Sprintf("create %s writable by user %s", dir, currentUser()))
			return
		}
		r.ok(name, "does not exist yet; it will be created")
	case err != nil:
		r.fail(name, err.Error(), "")
	case !fi.Mode().IsRegular():
		r.fail(name, "not a regular file but "+fsutil.DescribeMode(fi.Mode()), "give a file")
	case unix.Access(path, unix.W_OK) != nil:
		r.fail(name, fmt.Sprintf("user %s cannot write it", currentUser()), fixOutputOwner())
	case fi.Mode().Perm()&0o004 != 0:
		r.fail(name, fmt.Sprintf("every user can read it (mode %04o)", fi.Mode().Perm()), "chmod o-r "+path)
	default:
		r.ok(name, "a regular file, writable, mode %04o", fi.Mode().Perm())
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

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func currentUser() string { return userName(os.Getuid()) }

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
