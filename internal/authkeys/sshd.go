package authkeys

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// keyFileKeywords are the sshd_config keywords naming files whose lines
// grant access: keys, principals, certificate authorities.
var keyFileKeywords = map[string]bool{"authorizedkeysfile": true, "authorizedprincipalsfile": true, "trustedusercakeys": true}

// defaultKeyFiles is OpenSSH's AuthorizedKeysFile default.
var defaultKeyFiles = []string{".ssh/authorized_keys", ".ssh/authorized_keys2"}

// ParseKeyFiles returns the key file patterns a configuration names: the
// values of AuthorizedKeysFile, AuthorizedPrincipalsFile and
// TrustedUserCAKeys, "none" left out, wherever they appear (in a Match
// block too: the caller wants every file that may hold keys). It reads
// `sshd -T` output as well as sshd_config text, and returns the Include
// patterns of the latter.
func ParseKeyFiles(config string) (patterns, includes []string) {
	for _, line := range strings.Split(config, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// sshd_config allows "Keyword value" and "Keyword=value".
		keyword, rest, _ := strings.Cut(strings.Replace(line, "=", " ", 1), " ")
		keyword = strings.ToLower(keyword)
		for _, v := range configArgs(rest) {
			switch {
			case keyword == "include":
				includes = append(includes, v)
			case keyFileKeywords[keyword] && v != "none":
				patterns = append(patterns, v)
			}
		}
	}
	return patterns, includes
}

// configArgs splits the arguments of an sshd_config line: separated by
// white space, each may be "double quoted" to hold spaces (misc.c,
// argv_split).
func configArgs(s string) []string {
	var args []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return args
		}
		end := strings.IndexAny(s, " \t")
		if s[0] == '"' {
			s = s[1:]
			end = strings.IndexByte(s, '"')
		}
		if end < 0 {
			return append(args, s)
		}
		args = append(args, s[:end])
		s = s[end+1:]
	}
}

// sshdTimeout bounds `sshd -T`.
const sshdTimeout = 5 * time.Second

// SSHDKeyFiles returns the key file patterns of this host's sshd, for
// CheckTarget: OpenSSH's default, those of `sshd -T` (the effective
// configuration; it needs root) and every one in /etc/ssh/sshd_config and
// the files it includes (Match blocks too, which `sshd -T` leaves out). It
// is a best effort for the host where the line will be used, which is
// often this one; what cannot be read adds nothing.
func SSHDKeyFiles() []string {
	patterns := slices.Clone(defaultKeyFiles)
	ctx, cancel := context.WithTimeout(context.Background(), sshdTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "/usr/sbin/sshd", "-T").Output(); err == nil {
		p, _ := ParseKeyFiles(string(out))
		patterns = append(patterns, p...)
	}
	return append(patterns, readKeyFiles("/etc/ssh/sshd_config", 0)...)
}

// readKeyFiles reads the key file patterns of one sshd_config file and of
// the files it includes (relative names are under /etc/ssh, as for sshd).
func readKeyFiles(name string, depth int) []string {
	data, err := os.ReadFile(name)
	if err != nil || depth > 4 {
		return nil
	}
	patterns, includes := ParseKeyFiles(string(data))
	for _, inc := range includes {
		if !filepath.IsAbs(inc) {
			inc = filepath.Join("/etc/ssh", inc)
		}
		names, _ := filepath.Glob(inc)
		for _, n := range names {
			patterns = append(patterns, readKeyFiles(n, depth+1)...)
		}
	}
	return patterns
}
