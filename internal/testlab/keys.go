package testlab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KeyPair generates a throwaway passphrase-less ed25519 key named name in dir
// and returns the private key's path and the public key line (no newline).
func KeyPair(t testing.TB, dir, name string) (privPath, pubLine string) {
	t.Helper()
	privPath = filepath.Join(dir, name)
	cmd := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", privPath)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("generate key %s: %v\n%s", privPath, err, out.Bytes())
	}
	pub, err := os.ReadFile(privPath + ".pub")
	if err != nil {
		t.Fatalf("generate key %s: %v", privPath, err)
	}
	return privPath, strings.TrimSpace(string(pub))
}

// RestrictedKeyLine returns the authorized_keys line our README recommends:
//
//	restrict,from="<from>",command="<command>" <pubLine>
//
// with from="…" left out when from is empty.
//
// Quoting follows sshd's parser (auth-options.c, opt_dequote), which knows a
// single escape: \" stands for ". Every other backslash is taken literally,
// so only double quotes are escaped here; doubling backslashes would double
// them in the command sshd runs. A command ending in a backslash cannot be
// written at all (its last backslash would escape the closing quote), and a
// newline would end the line: both panic, as they are bugs in the test.
func RestrictedKeyLine(pubLine, from, command string) string {
	var b strings.Builder
	b.WriteString("restrict")
	if from != "" {
		b.WriteString(`,from=`)
		b.WriteString(quoteOption(from))
	}
	b.WriteString(`,command=`)
	b.WriteString(quoteOption(command))
	b.WriteString(" ")
	b.WriteString(pubLine)
	return b.String()
}

// quoteOption quotes s as the value of an authorized_keys option.
func quoteOption(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		panic("testlab: authorized_keys option value contains a newline: " + s)
	}
	if strings.HasSuffix(s, `\`) {
		panic(`testlab: authorized_keys option value ends in a backslash, which sshd cannot parse: ` + s)
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
