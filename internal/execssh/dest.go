package execssh

import (
	"fmt"
	"strings"
)

// Dest is a remote file: [user@]host:/path. Host may be an alias from the
// user's ~/.ssh/config.
type Dest struct {
	User string
	Host string
	Path string
}

// ParseDest parses "[user@]host:/path". It rejects a user or host that begins
// with "-": ssh would read it as an option (cf. git CVE-2017-1000117), and a
// destination containing whitespace or control characters, which no ssh
// host name can hold.
func ParseDest(s string) (Dest, error) {
	hostPart, path, ok := strings.Cut(s, ":")
	if !ok {
		return Dest{}, fmt.Errorf("destination %q: want [user@]host:/path/file", s)
	}
	var d Dest
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		d.User, d.Host = hostPart[:at], hostPart[at+1:]
		if d.User == "" {
			return Dest{}, fmt.Errorf("destination %q: empty user before @", s)
		}
	} else {
		d.Host = hostPart
	}
	d.Path = path
	if d.Host == "" {
		return Dest{}, fmt.Errorf("destination %q: empty host", s)
	}
	if d.Path == "" {
		return Dest{}, fmt.Errorf("destination %q: empty path after ':'", s)
	}
	if err := d.Validate(); err != nil {
		return Dest{}, err
	}
	return d, nil
}

// Validate reports a user or host that ssh could misread as an option or
// that contains characters no host or user name has.
func (d Dest) Validate() error {
	for _, f := range []struct{ what, v string }{{"host", d.Host}, {"user", d.User}} {
		if strings.HasPrefix(f.v, "-") {
			return fmt.Errorf("%s %q begins with '-': refusing it, ssh would read it as an option", f.what, f.v)
		}
		if strings.ContainsFunc(f.v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%s %q contains whitespace or control characters", f.what, f.v)
		}
		// ssh puts host and user into ProxyCommand, LocalCommand and Match
		// exec (%h, %r) for the shell; OpenSSH before 9.6 did not refuse
		// shell syntax there (CVE-2023-51385). No host or user name has it.
		if i := strings.IndexAny(f.v, "'`\"$\\;&<>|(){}"); i >= 0 {
			return fmt.Errorf("%s %q contains %q: refusing shell syntax in a %s name", f.what, f.v, f.v[i:i+1], f.what)
		}
	}
	if strings.ContainsRune(d.Host, '@') {
		return fmt.Errorf("host %q contains '@'", d.Host)
	}
	if strings.ContainsRune(d.Path, 0) {
		return fmt.Errorf("path %q contains a NUL byte", d.Path)
	}
	return nil
}

// Target is the ssh destination argument: "user@host" or "host".
func (d Dest) Target() string {
	if d.User != "" {
		return d.User + "@" + d.Host
	}
	return d.Host
}

// String gives the destination back as [user@]host:path, the name used in
// our log lines.
func (d Dest) String() string { return d.Target() + ":" + d.Path }
