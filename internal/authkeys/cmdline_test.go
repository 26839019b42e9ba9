package authkeys

import (
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

func TestRoleFor(t *testing.T) {
	for _, tt := range []struct {
		side             string
		reliable, compat bool
		want             Role
	}{
		{"push", false, false, PushCompat}, {"push", false, true, PushCompat}, {"push", true, false, PushReliable},
		{"pull", false, false, PullReliable}, {"pull", true, false, PullReliable}, {"pull", false, true, PullCompat},
	} {
		if got := RoleFor(tt.side, tt.reliable, tt.compat); got != tt.want {
			t.Errorf("RoleFor(%s, reliable %v, compat %v) = %v, want %v", tt.side, tt.reliable, tt.compat, got, tt.want)
		}
	}
}

// TestSources: exactly one of --from and --any-source; a --from
// pattern CheckFrom refuses names --from; its warnings are passed on.
func TestSources(t *testing.T) {
	for _, tt := range []struct {
		from     []string
		any      bool
		flag     string // the usage error's; "" none
		warnings bool
	}{
		{nil, false, "--from", false},
		{[]string{"192.0.2.1"}, true, "--any-source", false},
		{nil, true, "", false},
		{[]string{"192.0.2.1"}, false, "", false},
		{[]string{"0.0.0.0/0"}, false, "--from", false},
		{[]string{"web1.example.org"}, false, "", true},
	} {
		warnings, err := Sources(tt.from, tt.any)
		switch {
		case tt.flag == "" && err != nil:
			t.Errorf("%q any=%v: %v", tt.from, tt.any, err)
		case tt.flag != "" && (!usage.Is(err) || !strings.HasPrefix(err.Error(), tt.flag+": ")):
			t.Errorf("%q any=%v: %v, want a usage error naming %s", tt.from, tt.any, err, tt.flag)
		case (len(warnings) > 0) != tt.warnings:
			t.Errorf("%q any=%v: warnings %q", tt.from, tt.any, warnings)
		}
	}
}

// TestReadKeyFile: a private key is refused with the way to its public
// half, named after the file it came from; a public key passes.
func TestReadKeyFile(t *testing.T) {
	private := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
	for _, tt := range []struct {
		data []byte
		file string
		want string // "" ok
	}{
		{[]byte(edKey), "/k.pub", ""},
		{private, "/home/u/.ssh/id", "--key: /home/u/.ssh/id holds a private key, not a public one: give /home/u/.ssh/id.pub (or print it with: ssh-keygen -y -f /home/u/.ssh/id). A private key never leaves the host that uses it"},
		{private, "-", "--key: standard input holds a private key, not a public one: give the .pub file. A private key never leaves the host that uses it"},
		{[]byte("ssh-ed25519 AAAA$$$$"), "-", "--key: standard input: "},
	} {
		k, err := ReadKeyFile(tt.data, tt.file)
		switch {
		case tt.want == "" && (err != nil || k.Type != "ssh-ed25519"):
			t.Errorf("%s: %v %v", tt.file, k, err)
		case tt.want != "" && (!usage.Is(err) || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s: %v, want the usage error %q", tt.file, err, tt.want)
		}
	}
}
