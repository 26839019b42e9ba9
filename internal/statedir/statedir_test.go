package statedir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"loghost:/var/log/remote.log":  "loghost__var_log_remote.log",
		"log@10.0.0.1:/a b/../c;d$(e)": "log@10.0.0.1__a_b_.._c_d__e_",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

// unsetAll clears the variables Dir reads, for the test.
func unsetAll(t *testing.T) {
	t.Helper()
	for _, v := range []string{"STATE_DIRECTORY", "XDG_STATE_HOME", "HOME"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// Dir takes systemd's StateDirectory= first (its first entry), then
// XDG_STATE_HOME, then HOME.
func TestDir(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STATE_DIRECTORY": "/var/lib/sshlogfwd:/var/lib/other", "XDG_STATE_HOME": "/x", "HOME": "/home/u"}, "/var/lib/sshlogfwd"},
		{map[string]string{"XDG_STATE_HOME": "/x", "HOME": "/home/u"}, "/x/sshlogfwd"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/sshlogfwd"},
	} {
		unsetAll(t)
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		if got, err := Dir(); got != tt.want || err != nil {
			t.Errorf("%v: Dir() = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}

// Without any of the variables there is no state directory, and the error
// names no flag: push says --spool, pull --output or --cursor-file.
func TestNoDir(t *testing.T) {
	unsetAll(t)
	if _, err := Dir(); err == nil || strings.Contains(err.Error(), "--") {
		t.Errorf("Dir: %v, want an error naming no flag", err)
	}
	if _, err := Spool([]dest{"h:/x"}); err == nil {
		t.Error("Spool: no error")
	}
	if _, err := Cursor("h:/x"); err == nil {
		t.Error("Cursor: no error")
	}
}

type dest string

func (d dest) String() string { return string(d) }

// One spool directory per set of destinations; one cursor per source.
func TestSpoolAndCursor(t *testing.T) {
	unsetAll(t)
	t.Setenv("STATE_DIRECTORY", "/s")
	got, err := Spool([]dest{"loghost:/var/log/a.log", "log@b:/c"})
	if want := filepath.Join("/s", "loghost__var_log_a.log+log@b__c"); got != want || err != nil {
		t.Errorf("Spool = %q, %v; want %q", got, err, want)
	}
	got, err = Cursor("web1:/var/log/auth.log")
	if want := filepath.Join("/s", "pull-web1__var_log_auth.log.cursor"); got != want || err != nil {
		t.Errorf("Cursor = %q, %v; want %q", got, err, want)
	}
}
