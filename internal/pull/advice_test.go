package pull

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/stream"
)

// A nologin account is named as such; any other first line keeps the
// advice about another forced command.
func TestNotStreamMessage(t *testing.T) {
	for _, tt := range []struct {
		first, want string
	}{
		{"This account is currently not available.", "usermod -s /bin/sh"},
		{"Nov 25 10:00:00 web1 sshd[1]: Accepted", "Use --compat"},
	} {
		err := fmt.Errorf("read: %w", &stream.NotStreamError{First: tt.first})
		if got := notStreamMessage(err); !strings.Contains(got, tt.want) {
			t.Errorf("first line %q: %q lacks %q", tt.first, got, tt.want)
		}
	}
}
