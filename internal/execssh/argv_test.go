package execssh

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDest(t *testing.T) {
	tests := []struct {
		in      string
		want    Dest
		wantErr string
	}{
		{in: "loghost:/var/log/remote.log", want: Dest{Host: "loghost", Path: "/var/log/remote.log"}},
		{in: "log@10.0.0.1:/var/log/a b.log", want: Dest{User: "log", Host: "10.0.0.1", Path: "/var/log/a b.log"}},
		{in: "a@b@host:/x", want: Dest{User: "a@b", Host: "host", Path: "/x"}},
		{in: "host:relative.log", want: Dest{Host: "host", Path: "relative.log"}},
		{in: "host:/p:with:colons", want: Dest{Host: "host", Path: "/p:with:colons"}},
		{in: "-oProxyCommand=evil:/x", wantErr: "begins with '-'"},
		{in: "-x@host:/x", wantErr: "begins with '-'"},
		{in: "user@-host:/x", wantErr: "begins with '-'"},
		{in: "host", wantErr: "want [user@]host:/path"},
		{in: ":/x", wantErr: "empty host"},
		{in: "host:", wantErr: "empty path"},
		{in: "@host:/x", wantErr: "empty user"},
		{in: "ho st:/x", wantErr: "whitespace"},
		{in: "host\n:/x", wantErr: "whitespace"},
		{in: "a;touch${IFS}x:/x", wantErr: "shell syntax"},
		{in: "$(id)@host:/x", wantErr: "shell syntax"},
		{in: "`id`:/x", wantErr: "shell syntax"},
	}
	for _, tt := range tests {
		got, err := ParseDest(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDest(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDest(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestArgv(t *testing.T) {
	d := Dest{User: "log", Host: "loghost", Path: "/var/log/x y.log"}
	defaults := []string{"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", "-o", "ConnectTimeout=10", "-o", "ControlMaster=no", "-o", "ControlPath=none"}
	join := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		opts Options
		cmd  string
		want []string
	}{
		{
			name: "defaults",
			cmd:  "cat >> '/var/log/x y.log'",
			want: join([]string{"ssh", "-C", "-T", "-e", "none"}, defaults, []string{"--", "log@loghost", "cat >> '/var/log/x y.log'"}),
		},
		{
			name: "user options first, no compression",
			opts: Options{Identity: "/k", Port: 2222, ConfigFile: "/dev/null", Extra: []string{"ServerAliveInterval=1", "StrictHostKeyChecking=yes"}, NoCompress: true},
			cmd:  "sshlogfwd receive",
			want: join([]string{"ssh", "-T", "-e", "none", "-o", "ServerAliveInterval=1", "-o", "StrictHostKeyChecking=yes", "-i", "/k", "-p", "2222", "-F", "/dev/null"}, defaults, []string{"--", "log@loghost", "sshlogfwd receive"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Argv("ssh", tt.opts, d, tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Argv:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestArgvRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		d    Dest
	}{
		{"host option", Options{}, Dest{Host: "-oProxyCommand=sh", Path: "/x"}},
		{"user option", Options{}, Dest{User: "-l", Host: "h", Path: "/x"}},
		{"bad -o", Options{Extra: []string{"-oFoo"}}, Dest{Host: "h", Path: "/x"}},
		{"-o without value", Options{Extra: []string{"Foo"}}, Dest{Host: "h", Path: "/x"}},
		{"-o with newline", Options{Extra: []string{"Foo=a\nHost *"}}, Dest{Host: "h", Path: "/x"}},
		{"port", Options{Port: 70000}, Dest{Host: "h", Path: "/x"}},
	}
	for _, tt := range tests {
		if got, err := Argv("ssh", tt.opts, tt.d, "cat"); err == nil {
			t.Errorf("%s: Argv accepted it: %q", tt.name, got)
		}
	}
}
