package request

import (
	"errors"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

var hostilePaths = []string{
	"/var/log/remote/web1.log", "/var/log/with space.log", "/var/log/it's.log",
	"/var/log/$(id).log", "/var/log/a;b.log", "/var/log/`x`.log", "/var/log/ünï.log",
}

// What push --reliable sends is exactly what receive accepts, for every
// path, and nothing else is.
func TestReceiveRoundTrip(t *testing.T) {
	for _, p := range hostilePaths {
		if err := ParseReceive(p, Receive("sshlogfwd", p)); err != nil {
			t.Errorf("receive refuses its own request for %q: %v", p, err)
		}
		if err := ParseReceive(p, Receive("/usr/bin/sshlogfwd", p)); err != nil {
			t.Errorf("receive refuses a program path for %q: %v", p, err)
		}
		if err := ParseReceive(p, Receive("sshlogfwd", p+".other")); err == nil {
			t.Errorf("receive accepts another path than %q", p)
		}
	}
	var fe *forcedcmd.Error
	if err := ParseReceive("/x", Receive("sshlogfwd", "/x", "--max-size", "1")); !errors.As(err, &fe) {
		t.Errorf("receive accepts a flag from the client: %v", err)
	}
}

func TestServeRoundTrip(t *testing.T) {
	c := tailer.Cursor{Dev: 2049, Ino: 1312, Offset: 48213}
	for _, p := range hostilePaths {
		for _, want := range []ServeRequest{{Cursor: &c, From: "end"}, {From: "start"}, {From: "end"}} {
			got, err := ParseServe(p, Serve("sshlogfwd", p, want))
			if err != nil {
				t.Fatalf("serve refuses its own request %+v for %q: %v", want, p, err)
			}
			if got.From != want.From || (got.Cursor == nil) != (want.Cursor == nil) || (got.Cursor != nil && *got.Cursor != *want.Cursor) {
				t.Errorf("%q: sent %+v, parsed %+v", p, want, got)
			}
		}
	}
	if got, err := ParseServe("/x", "sshlogfwd serve -- /x"); err != nil || got.From != "end" || got.Cursor != nil {
		t.Errorf("bare request = %+v, %v; want a start at the end", got, err)
	}
	for _, bad := range []string{
		"sshlogfwd serve -- /y", "sshlogfwd serve --from middle -- /x", "sshlogfwd serve --cursor 1:2 -- /x",
		"sshlogfwd serve --poll -- /x", "sshlogfwd serve -- /x /y", "sshlogfwd receive -- /x",
	} {
		if _, err := ParseServe("/x", bad); err == nil {
			t.Errorf("serve accepts %q", bad)
		}
	}
}

func TestCompatCommands(t *testing.T) {
	if got := Append("/var/log/x y.log"); got != "cat >> '/var/log/x y.log'" {
		t.Errorf("Append = %q", got)
	}
	if got := Tail("/var/log/x y.log"); got != "tail -F -n 0 -- '/var/log/x y.log'" {
		t.Errorf("Tail = %q", got)
	}
}

// push's remote command: the user's own, else receive's request in the
// reliable mode, else cat >> PATH, the path quoted for the remote shell.
func TestPush(t *testing.T) {
	for _, tt := range []struct {
		custom   string
		reliable bool
		want     string
	}{
		{"", false, "cat >> '/var/log/it'\\''s.log'"},
		{"", true, "/opt/sshlogfwd receive -- '/var/log/it'\\''s.log'"},
		{"logger -t web1", true, "logger -t web1"},
		{"logger -t web1", false, "logger -t web1"},
	} {
		if got := Push(tt.custom, tt.reliable, "/opt/sshlogfwd", "/var/log/it's.log"); got != tt.want {
			t.Errorf("Push(%q, %v) = %q, want %q", tt.custom, tt.reliable, got, tt.want)
		}
	}
}

// A request is what sshd set in SSH_ORIGINAL_COMMAND; none when unset or
// blank.
func TestOriginal(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
		ok   bool
	}{
		{map[string]string{}, "", false},
		{map[string]string{"SSH_ORIGINAL_COMMAND": ""}, "", false},
		{map[string]string{"SSH_ORIGINAL_COMMAND": " \t "}, "", false},
		{map[string]string{"SSH_ORIGINAL_COMMAND": "sshlogfwd serve -- /x"}, "sshlogfwd serve -- /x", true},
		{map[string]string{"SSH_ORIGINAL_COMMAND": " ls "}, " ls ", true},
	} {
		got, ok := original(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q: %q, %v; want %q, %v", tt.env, got, ok, tt.want, tt.ok)
		}
	}
}
