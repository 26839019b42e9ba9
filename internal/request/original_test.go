package request

import (
	"errors"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/forcedcmd"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

func env(v string, set bool) func(string) (string, bool) {
	return func(k string) (string, bool) { return v, set && k == "SSH_ORIGINAL_COMMAND" }
}

// TestServeOf: without a request serve's own command line decides; a
// request replaces it, and one that is not serve's own for the path is a
// usage error naming SSH_ORIGINAL_COMMAND, still a refusal of forcedcmd's.
func TestServeOf(t *testing.T) {
	c := tailer.Cursor{Dev: 1, Ino: 2, Offset: 3}
	own := ServeRequest{Cursor: &c, From: "start"}
	for _, lookup := range []func(string) (string, bool){env("", false), env(" ", true)} {
		if got, err := serveOf(lookup, "/x", own); err != nil || got.Cursor != &c || got.From != "start" {
			t.Errorf("no request: %+v, %v; want our own", got, err)
		}
	}
	got, err := serveOf(env("sshlogfwd serve --from end -- /x", true), "/x", own)
	if err != nil || got.Cursor != nil || got.From != "end" {
		t.Errorf("a request: %+v, %v; want the client's", got, err)
	}
	_, err = serveOf(env("sshlogfwd serve -- /etc/shadow", true), "/x", own)
	if !usage.Is(err) || !errors.As(err, new(*forcedcmd.Error)) || !strings.HasPrefix(err.Error(), "SSH_ORIGINAL_COMMAND: ") {
		t.Errorf("another path: %v, want a refusal naming SSH_ORIGINAL_COMMAND", err)
	}
}

// TestCheckReceive: no request, or receive's own, passes; any other is a
// usage error naming SSH_ORIGINAL_COMMAND.
func TestCheckReceive(t *testing.T) {
	for _, tt := range []struct {
		lookup func(string) (string, bool)
		ok     bool
	}{
		{env("", false), true},
		{env(Receive("sshlogfwd", "/x"), true), true},
		{env(Receive("sshlogfwd", "/y"), true), false},
		{env("cat >> /x", true), false},
	} {
		err := checkReceive(tt.lookup, "/x")
		if (err == nil) != tt.ok || err != nil && (!usage.Is(err) || !strings.HasPrefix(err.Error(), "SSH_ORIGINAL_COMMAND: ")) {
			t.Errorf("%v: want ok %v", err, tt.ok)
		}
	}
}

// TestUnderSSHD: either of sshd's variables, even set empty, means a
// session sshd started.
func TestUnderSSHD(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"SSH_CLIENT_X": "1", "HOME": "/root"}, false},
		{map[string]string{"SSH_CONNECTION": "192.0.2.1 5022 192.0.2.2 22"}, true},
		{map[string]string{"SSH_ORIGINAL_COMMAND": ""}, true},
	} {
		if got := UnderSSHD(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }); got != tt.want {
			t.Errorf("UnderSSHD(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}
