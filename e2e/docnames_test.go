package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsUseOneSetOfNames: the README, docs/ and contrib/ name one FIFO,
// one key and separate directories for what push and pull write (issue
// 13: the reliable section's auth.fifo and ~/.ssh/push_web1, copied
// literally, left push reading an empty FIFO; push's DEST and pull's
// --output were one file, and pull cut what receive had acknowledged).
// The walkthrough runs the marked blocks; this covers every other mention.
func TestDocsUseOneSetOfNames(t *testing.T) {
	files := []string{"../README.md"}
	for _, glob := range []string{"../docs/*.md", "../contrib/*/*"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	allowed := []struct {
		what string
		re   *regexp.Regexp
		ok   map[string]bool
	}{
		{"FIFO", regexp.MustCompile(`[A-Za-z0-9_./%-]*\.fifo\b`), map[string]bool{
			"/run/sshlogfwd/push.fifo": true, "/run/sshlogfwd/NAME.fifo": true, "/run/sshlogfwd/%i.fifo": true}},
		{"key", regexp.MustCompile(`[A-Za-z0-9_./~-]*/id_[a-z0-9_]+(\.pub)?\b`), map[string]bool{
			"/etc/sshlogfwd/id_ed25519": true, "/etc/sshlogfwd/id_ed25519.pub": true}},
		{"file in ~/.ssh", regexp.MustCompile(`~[a-z]*/\.ssh/[A-Za-z0-9_.-]+`), map[string]bool{
			"~/.ssh/config": true, "~/.ssh/rc": true, "~/.ssh/authorized_keys": true, "~/.ssh/known_hosts": true,
			"~loguser/.ssh/authorized_keys": true, "~logreader/.ssh/authorized_keys": true}},
	}
	// push writes below /var/log/remote on the log host, pull below
	// /var/log/sshlogfwd: never the same file.
	crossed := regexp.MustCompile(`(--output[ =]|SSHLOGFWD_OUTPUT=)/var/log/remote/|:/var/log/sshlogfwd/`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, a := range allowed {
				for _, name := range a.re.FindAllString(line, -1) {
					if !a.ok[name] {
						t.Errorf("%s:%d: %s %s is not one of the docs' names %v", f, i+1, a.what, name, slices.Sorted(maps.Keys(a.ok)))
					}
				}
			}
			if m := crossed.FindString(line); m != "" {
				t.Errorf("%s:%d: %q: push's files are below /var/log/remote, pull's below /var/log/sshlogfwd", f, i+1, m)
			}
		}
	}
}
