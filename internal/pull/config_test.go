package pull

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// TestValidate: each rule between pull's settings refuses with a usage
// error naming the flag to change, in these words; the defaults pass.
func TestValidate(t *testing.T) {
	ok := Options{From: "end", RemoteBinary: "sshlogfwd", Fsync: time.Second, IdleTimeout: 15 * time.Second, BackoffMax: 30 * time.Second, DrainTimeout: 10 * time.Second}
	for _, tt := range []struct {
		name       string
		change     func(*Options)
		cursorFile string
		want       string // the error; "" none
	}{
		{"defaults", func(*Options) {}, "", ""},
		{"a cursor file", func(*Options) {}, "/x.cursor", ""},
		{"compat from end", func(o *Options) { o.Compat = true }, "", ""},
		{"compat from start", func(o *Options) { o.Compat, o.From = true, "start" }, "", "--from: start needs the reliable mode: tail -F -n 0 cannot resume, and reading the whole file on every reconnect would repeat it"},
		{"compat cursor file", func(o *Options) { o.Compat = true }, "/x.cursor", "--cursor-file: has no effect with --compat, which keeps no position"},
		{"reliable from start", func(o *Options) { o.From = "start" }, "", ""},
		{"negative size", func(o *Options) { o.MaxSize, o.Output = -1, "/out" }, "", "--max-size: negative size -1"},
		{"size of stdout", func(o *Options) { o.MaxSize = 1 << 20 }, "", "--max-size: bounds --output; standard output has no size to bound"},
		{"size of output", func(o *Options) { o.MaxSize, o.Output = 1<<20, "/out" }, "", ""},
		{"no remote binary", func(o *Options) { o.RemoteBinary = "" }, "", `--remote-sshlogfwd: "" is not a program path`},
		{"newline in remote binary", func(o *Options) { o.RemoteBinary = "a\nb" }, "", `--remote-sshlogfwd: "a\nb" is not a program path`},
		{"negative fsync", func(o *Options) { o.Fsync = -time.Second }, "", "--fsync: negative duration -1s"},
		{"negative backoff", func(o *Options) { o.BackoffMax = -time.Second }, "", "--backoff-max: negative duration -1s"},
		{"negative drain", func(o *Options) { o.DrainTimeout = -time.Second }, "", "--drain-timeout: negative duration -1s"},
		{"idle off", func(o *Options) { o.IdleTimeout = 0 }, "", ""},
		{"idle short", func(o *Options) { o.IdleTimeout = 999 * time.Millisecond }, "", "--idle-timeout: 999ms is too short: serve sends a heartbeat every 500ms (at least 1s)"},
		{"idle 1s", func(o *Options) { o.IdleTimeout = time.Second }, "", ""},
	} {
		o := ok
		tt.change(&o)
		err := o.Validate(tt.cursorFile)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !usage.Is(err)):
			t.Errorf("%s: %v, want the usage error %q", tt.name, err, tt.want)
		}
	}
}

// TestCursorPath: --cursor-file wins, then FILE.cursor beside --output,
// then the state directory, which is said (pull creates it, check
// inspects it); without any state directory the error says so.
func TestCursorPath(t *testing.T) {
	state := t.TempDir()
	t.Setenv("STATE_DIRECTORY", state)
	src := execssh.Dest{User: "log", Host: "web1", Path: "/var/log/auth.log"}
	for _, tt := range []struct {
		cursorFile, output string
		path, stateDir     string
	}{
		{"/c/x.cursor", "/o/out.log", "/c/x.cursor", ""},
		{"", "/o/out.log", "/o/out.log.cursor", ""},
		{"", "", filepath.Join(state, "pull-log@web1__var_log_auth.log.cursor"), state},
	} {
		path, dir, err := CursorPath(tt.cursorFile, tt.output, src)
		if err != nil || path != tt.path || dir != tt.stateDir {
			t.Errorf("CursorPath(%q, %q) = %q, %q, %v; want %q, %q", tt.cursorFile, tt.output, path, dir, err, tt.path, tt.stateDir)
		}
	}
	for _, v := range []string{"STATE_DIRECTORY", "XDG_STATE_HOME", "HOME"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	if path, dir, err := CursorPath("", "", src); err == nil {
		t.Errorf("no state directory: %q, %q", path, dir)
	}
	if path, _, err := CursorPath("", "/o/out.log", src); err != nil || path != "/o/out.log.cursor" {
		t.Errorf("beside --output without a state directory: %q, %v", path, err)
	}
}
