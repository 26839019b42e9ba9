package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestEnvarsAllowed(t *testing.T) {
	session := map[string]string{"SSH_CONNECTION": "192.0.2.1 5022 192.0.2.2 22"}
	forced := map[string]string{"SSH_ORIGINAL_COMMAND": "x"}
	empty := map[string]string{"SSH_ORIGINAL_COMMAND": ""} // set, if empty: still sshd
	for _, tt := range []struct {
		command string
		env     map[string]string
		want    bool
	}{
		{"push <dest>", nil, true},
		{"pull <src>", nil, true},
		{"check push <dest>", nil, true},
		{"", nil, true}, // sshlogfwd --help
		{"receive <PATH>", nil, false},
		{"serve <PATH>", nil, false},
		{"receive <PATH>", session, false},
		{"push <dest>", session, false},
		{"push <dest>", forced, false},
		{"version", empty, false},
		{"authorized-key <role> <PATH>", session, false},
	} {
		if got := envarsAllowed(tt.command, lookupIn(tt.env)); got != tt.want {
			t.Errorf("envarsAllowed(%q, %v) = %v, want %v", tt.command, tt.env, got, tt.want)
		}
	}
}

// clearSSHD unsets sshd's variables for the test: it may itself run in an
// ssh session.
func clearSSHD(t *testing.T) {
	t.Helper()
	for _, v := range request.SSHDVariables {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// allEnvars sets every variable any flag of the CLI reads to a value that
// parses for few of them and differs from every default, and returns the
// names.
func allEnvars(t *testing.T) []string {
	t.Helper()
	parser, err := kong.New(&CLI{}, kong.DefaultEnvars(envPrefix))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			for _, name := range f.Envs {
				value := "/from/the/environment"
				switch f.Value.Target.Kind() {
				case reflect.Bool:
					value = "true"
				case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Float64:
					value = "7"
				}
				t.Setenv(name, value)
				names = append(names, name)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
	if !slices.Contains(names, "SSHLOGFWD_LOG") || !slices.Contains(names, "SSHLOGFWD_CURSOR") {
		t.Fatalf("the CLI's variables %q lack SSHLOGFWD_LOG or SSHLOGFWD_CURSOR", names)
	}
	return names
}

// TestNoVariableUnderSSHD: with every SSHLOGFWD_* variable the CLI knows
// set, receive and serve (anywhere) and every command under sshd parse to
// exactly what they parse to without them, and no flag keeps a variable
// name in the model.
func TestNoVariableUnderSSHD(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	cases := []struct {
		args   []string
		marker string // sshd's variable set, if any
	}{
		{[]string{"receive", path}, ""},
		{[]string{"serve", path}, ""},
		{[]string{"receive", "--max-size", "1GiB", path}, "SSH_ORIGINAL_COMMAND"},
		{[]string{"serve", path}, "SSH_CONNECTION"},
		{[]string{"push", "--spool", dir, "h:" + path}, "SSH_CONNECTION"},
		{[]string{"pull", "h:" + path}, "SSH_ORIGINAL_COMMAND"},
		{[]string{"authorized-key", "push", "--from", "192.0.2.1", path}, "SSH_CONNECTION"},
	}
	for _, tt := range cases {
		t.Run(tt.args[0]+" "+tt.marker, func(t *testing.T) {
			clearSSHD(t)
			if tt.marker != "" {
				t.Setenv(tt.marker, "192.0.2.1 5022 192.0.2.2 22")
			}
			var want CLI
			if _, err := parse(&want, tt.args); err != nil {
				t.Fatalf("%q without variables: %v", tt.args, err)
			}
			names := allEnvars(t)
			var got CLI
			kctx, err := parse(&got, tt.args)
			switch {
			case err != nil:
				t.Errorf("%q with every variable set: %v", tt.args, err)
			case !reflect.DeepEqual(got, want):
				t.Errorf("%q: the variables changed the command line:\nwithout: %+v\nwith:    %+v", tt.args, want, got)
			default:
				noEnvars(t, kctx.Model.Node)
			}

			// The global flags alone, with values that parse: the
			// attack of issue #10 (--log to another host's trail).
			for _, name := range names {
				os.Unsetenv(name)
			}
			for _, kv := range [][2]string{{"SSHLOGFWD_LOG", "/var/log/remote/web2.log"}, {"SSHLOGFWD_LOG_LEVEL", "error"}, {"SSHLOGFWD_LOG_FORMAT", "json"}} {
				t.Setenv(kv[0], kv[1])
			}
			got = CLI{}
			if _, err := parse(&got, tt.args); err != nil || got.LogFlags != want.LogFlags {
				t.Errorf("%q with SSHLOGFWD_LOG, _LOG_LEVEL, _LOG_FORMAT: %v %+v, want %+v", tt.args, err, got.LogFlags, want.LogFlags)
			}
		})
	}
}

// noEnvars fails the test if a flag of node or below still names a
// variable.
func noEnvars(t *testing.T, n *kong.Node) {
	t.Helper()
	for _, f := range n.Flags {
		if len(f.Envs) > 0 || len(f.Value.Tag.Envs) > 0 {
			t.Errorf("flag --%s still names %q", f.Name, f.Envs)
		}
	}
	for _, c := range n.Children {
		noEnvars(t, c)
	}
}

// TestVariablesStillWorkLocally: outside sshd the other commands keep
// taking flags from variables, the global ones included.
func TestVariablesStillWorkLocally(t *testing.T) {
	clearSSHD(t)
	t.Setenv("SSHLOGFWD_LOG", "/from/the/environment.log")
	t.Setenv("SSHLOGFWD_LOG_LEVEL", "debug")
	var cli CLI
	if _, err := parse(&cli, []string{"push", "--spool", t.TempDir(), "h:/x.log"}); err != nil {
		t.Fatal(err)
	}
	if cli.Log != "/from/the/environment.log" || cli.LogLevel != "debug" {
		t.Errorf("push outside sshd: --log %q --log-level %q, want them from SSHLOGFWD_LOG and SSHLOGFWD_LOG_LEVEL", cli.Log, cli.LogLevel)
	}
}

// TestDropEnvarsStrayTag: a flag or argument with its own env tag (not
// one DefaultEnvars made) is stripped too.
func TestDropEnvarsStrayTag(t *testing.T) {
	var cli struct {
		Flag string `env:"STRAY_FLAG"`
		Arg  string `arg:"" optional:"" env:"STRAY_ARG"`
	}
	t.Setenv("STRAY_FLAG", "flag from env")
	t.Setenv("STRAY_ARG", "arg from env")
	parser, err := kong.New(&cli, kong.DefaultEnvars(envPrefix))
	if err != nil {
		t.Fatal(err)
	}
	dropEnvars(parser.Model.Node)
	if _, err := parser.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cli.Flag != "" || cli.Arg != "" {
		t.Errorf("after dropEnvars: flag %q, arg %q; want both empty", cli.Flag, cli.Arg)
	}
}

func TestIgnoredEnvars(t *testing.T) {
	env := []string{"HOME=/root", "SSHLOGFWD_LOG=/x", "SSHLOGFWDX=1", "SSHLOGFWD_=", "PATH=/bin"}
	if got, want := ignoredEnvars(env), []string{"SSHLOGFWD_LOG", "SSHLOGFWD_"}; !slices.Equal(got, want) {
		t.Errorf("ignoredEnvars = %q, want %q", got, want)
	}
	var many []string
	for range 3 * maxIgnoredNames {
		many = append(many, "SSHLOGFWD_X=1")
	}
	if got := ignoredEnvars(many); len(got) != maxIgnoredNames+1 || got[maxIgnoredNames] != "..." {
		t.Errorf("ignoredEnvars of %d names = %q, want %d and ...", len(many), got, maxIgnoredNames)
	}
}

// TestProfileFlags: a profile is a new file or nothing (a usage error
// naming the flag), and never under sshd.
func TestProfileFlags(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "trail.log")
	os.WriteFile(existing, []byte("keep me\n"), 0o600)
	for _, tt := range []struct {
		flags ProfileFlags
		sshd  bool
		want  string // the flag the usage error names
	}{
		{ProfileFlags{MemProfile: existing}, false, "--memprofile"},
		{ProfileFlags{CPUProfile: existing}, false, "--cpuprofile"},
		{ProfileFlags{MemProfile: filepath.Join(dir, "new")}, true, "--cpuprofile, --memprofile"},
	} {
		stop, err := tt.flags.start(tt.sshd)
		stop()
		if !isUsage(err) || !strings.HasPrefix(err.Error(), tt.want+": ") {
			t.Errorf("%+v (sshd %v): %v, want a usage error naming %s", tt.flags, tt.sshd, err, tt.want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "new")); err == nil {
		t.Error("a profile refused under sshd was created")
	}
	mem := filepath.Join(dir, "mem.prof")
	stop, err := ProfileFlags{MemProfile: mem}.start(false)
	if err != nil || stop() != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(mem); err != nil || fi.Size() == 0 {
		t.Errorf("heap profile: %v %v", fi, err)
	}
}

func TestExitCode(t *testing.T) {
	refused := &forcedcmd.Error{Request: `"x"`, Reason: "no"}
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{usage.Flag("--fifo", errors.New("bad")), exitUsage},
		{errors.Join(errors.New("receive"), refused), exitUsage},
		{usage.Path("--log", &os.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}), exitUsage},
		{usage.Path("--log", &os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}), exitUsage},
		{usage.Path("--log", &os.PathError{Op: "open", Path: "/x", Err: syscall.ENOSPC}), exitFailure},
		{usage.Path("--log", &os.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}), exitFailure},
		{usage.Path("--log", &os.PathError{Op: "open", Path: "/x", Err: syscall.EIO}), exitFailure},
		{errors.New("lock held"), exitFailure},
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
