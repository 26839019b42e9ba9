package forcedcmd

import (
	"os/exec"
	"testing"
)

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/var/log/remote.log", "/var/log/remote.log"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"x;rm -rf /", "'x;rm -rf /'"},
		{"$(id)", "'$(id)'"},
		{"`id`", "'`id`'"},
		{"a\nb", "'a\nb'"},
		{"-n", "-n"},
		{"*", "'*'"},
		{"~root", "'~root'"},
	}
	for _, tt := range tests {
		if got := ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestShellQuoteRoundTrip runs every quoted word through a real /bin/sh, the
// way sshd does with the joined remote command, and checks it arrives as
// exactly one argument with the same bytes and that nothing else ran.
func TestShellQuoteRoundTrip(t *testing.T) {
	words := []string{
		"plain", "with space", "it's", `"double"`, "semi;colon", "$(echo INJECTED)", "`echo INJECTED`",
		"new\nline", "tab\there", "back\\slash", "$HOME", "!bang", "*glob?", "a'b'c'", "'", "''", "-leading",
		"ünïcödé", "\x01ctrl", "&& echo INJECTED", "| echo INJECTED", "> /tmp/x",
	}
	for _, w := range words {
		out, err := exec.Command("/bin/sh", "-c", "printf '[%s]' "+ShellQuote(w)).Output()
		if err != nil {
			t.Fatalf("sh with %q: %v", w, err)
		}
		if got, want := string(out), "["+w+"]"; got != want {
			t.Errorf("word %q arrived as %q, want %q", w, got, want)
		}
	}
	out, err := exec.Command("/bin/sh", "-c", "printf '[%s]' "+ShellJoin("a b", "c;d")).Output()
	if err != nil || string(out) != "[a b][c;d]" {
		t.Errorf("ShellJoin round trip = %q, %v", out, err)
	}
}
