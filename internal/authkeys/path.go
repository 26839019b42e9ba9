package authkeys

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// The kinds of a refused path, for errors.Is.
var (
	// ErrPathForm: a path that is not written as a forced command needs
	// it: empty, relative, naming a directory, going up with "..", or
	// holding what sshlogfwd's forced commands refuse in a request.
	ErrPathForm = errors.New("path not usable in a forced command")
	// ErrProtectedPath: a file where appended lines would become keys,
	// code or configuration (/etc, crontabs, home directories' dot files,
	// the files sshd reads keys from, ...).
	ErrProtectedPath = errors.New("protected path")
)

// PathError is a refused path. It wraps its kind, ErrPathForm or
// ErrProtectedPath.
type PathError struct {
	Path   string
	Reason string // what is wrong with it, for people
	Kind   error
}

func (e *PathError) Error() string { return fmt.Sprintf("path %q %s", e.Path, e.Reason) }
func (e *PathError) Unwrap() error { return e.Kind }

// CheckPath accepts an absolute path naming a file, without "..", that
// sshlogfwd's forced commands accept in a request exactly as they will
// receive it: the requests push and pull send are built by internal/request
// and checked by internal/forcedcmd (valid UTF-8, no control characters,
// C1 controls such as U+0085 included, a bounded length). A path they
// refuse would make a line whose key never works. authorized_keys is also a
// text file people read and edit, which such bytes have no place in.
func CheckPath(p string) error {
	refuse := func(reason string, a ...any) error {
		return &PathError{Path: p, Reason: fmt.Sprintf(reason, a...), Kind: ErrPathForm}
	}
	if p == "" {
		return refuse("is empty")
	}
	if _, err := forcedcmd.Split(forcedcmd.ShellQuote(p)); err != nil {
		return refuse("holds what sshlogfwd's forced commands refuse in a request (%v): a key for it would never work", err)
	}
	switch {
	case !path.IsAbs(p):
		return refuse("is not absolute; the forced command runs in the account's home directory, give the full path")
	case strings.HasSuffix(p, "/"):
		return refuse("names a directory; give the file")
	case slices.Contains(strings.Split(p, "/"), ".."):
		return refuse("goes up with '..', which a symbolic link on the way can lead anywhere; give the path without it")
	}
	// The longest requests push and pull send for p, parsed by the
	// grammars receive and serve use.
	far := tailer.Cursor{Dev: math.MaxUint64, Ino: math.MaxUint64, Offset: math.MaxInt64}
	if err := request.ParseReceive(p, request.Receive(request.Program, p)); err != nil {
		return refuse("cannot be asked for by push (%v)", err)
	}
	if _, err := request.ParseServe(p, request.Serve(request.Program, p, request.ServeRequest{Cursor: &far})); err != nil {
		return refuse("cannot be asked for by pull (%v)", err)
	}
	return nil
}

// protectedDirs hold files where appended lines become code, keys or
// configuration (cron tables, sudoers.d, profile.d, sshd's own files,
// root's home, programs and libraries), or where writing is not appending
// to a log at all (/proc, /sys, /dev).
var protectedDirs = []string{
	"/etc", "/root", "/var/spool/cron", "/var/spool/at", "/boot",
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/proc", "/sys", "/dev",
}

// CheckTarget checks the file a key may append to or read: CheckPath, and
// not a protected place. Whoever holds a push key chooses what is appended,
// so a file that sshd, cron, a shell or the system reads would turn lines
// into a new key or into code: refused are the protectedDirs, any hidden
// file or directory (a home directory's .ssh, .bashrc, .profile, which
// Debian's bash reads for every command sshd runs), and every file that
// matches one of keyFiles, sshd's AuthorizedKeysFile, AuthorizedPrincipalsFile
// and TrustedUserCAKeys patterns (see SSHDKeyFiles).
func CheckTarget(p string, keyFiles []string) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	refuse := func(reason string, a ...any) error {
		return &PathError{Path: p, Reason: fmt.Sprintf(reason, a...), Kind: ErrProtectedPath}
	}
	clean := path.Clean(p)
	for _, dir := range protectedDirs {
		if clean == dir || strings.HasPrefix(clean, dir+"/") {
			return refuse("is under %s, where appended lines could become code, keys or settings; use a log directory such as /var/log/remote", dir)
		}
	}
	for _, part := range strings.Split(clean, "/") {
		if strings.HasPrefix(part, ".") {
			return refuse("names a hidden file or directory (%s): appended lines must never land where sshd or a shell reads them; use a log directory", part)
		}
	}
	for _, pattern := range keyFiles {
		if keyFileRE(pattern).MatchString(clean) {
			return refuse("is where sshd reads keys (%s in its configuration): appended lines would become keys", pattern)
		}
	}
	return nil
}

// keyFileRE turns one of sshd's key file patterns into a regular
// expression matching every file it can name: %h is any home directory,
// %u any user name, %U any uid, and a relative pattern is relative to
// the home directory (sshd_config(5), TOKENS).
func keyFileRE(pattern string) *regexp.Regexp {
	if !strings.HasPrefix(pattern, "/") && !strings.HasPrefix(pattern, "%h") {
		pattern = "%h/" + pattern
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '%' || i+1 == len(pattern) {
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			continue
		}
		i++
		switch pattern[i] {
		case '%':
			b.WriteString("%")
		case 'h':
			b.WriteString("(/[^/]+)*")
		case 'U':
			b.WriteString("[0-9]+")
		default: // %u and any other token: one name
			b.WriteString("[^/]+")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
