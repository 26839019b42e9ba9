package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pubKeyFile writes a well-formed ed25519 public key file.
func pubKeyFile(t *testing.T) string {
	t.Helper()
	var blob []byte
	blob = binary.BigEndian.AppendUint32(blob, uint32(len("ssh-ed25519")))
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	blob = append(blob, bytes.Repeat([]byte{7}, 32)...)
	p := filepath.Join(t.TempDir(), "k.pub")
	if err := os.WriteFile(p, []byte("ssh-ed25519 "+base64.StdEncoding.EncodeToString(blob)+" test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAuthorizedKeyErrors: each refusal is a usage error naming the flag
// it belongs to, told apart by error type, not by message.
func TestAuthorizedKeyErrors(t *testing.T) {
	key := pubKeyFile(t)
	for _, tt := range []struct {
		cmd  AuthorizedKeyCmd
		flag string
	}{
		{AuthorizedKeyCmd{Role: "push", Path: "/etc/cron.d/loguser"}, "PATH"},
		{AuthorizedKeyCmd{Role: "push", Path: "/var/log/a\u0085b.log"}, "PATH"},
		{AuthorizedKeyCmd{Role: "pull", Path: "/var/log/x.log", SSHLogFwdPath: "sshlogfwd"}, "--sshlogfwd-path"},
		{AuthorizedKeyCmd{Role: "pull", Path: "/var/log/x.log", SSHLogFwdPath: "/opt/\u0085/sshlogfwd"}, "--sshlogfwd-path"},
		{AuthorizedKeyCmd{Role: "push", Path: "/var/log/x.log", Key: filepath.Join(t.TempDir(), "missing.pub")}, "--key"},
		{AuthorizedKeyCmd{Role: "push", Path: "/var/log/x.log", Key: t.TempDir()}, "--key"}, // EISDIR
	} {
		tt.cmd.From = []string{"192.0.2.1"}
		if tt.cmd.Key == "" {
			tt.cmd.Key = key
		}
		if tt.cmd.SSHLogFwdPath == "" {
			tt.cmd.SSHLogFwdPath = "/usr/local/bin/sshlogfwd"
		}
		err := tt.cmd.Run()
		if exitCode(err) != exitUsage || !strings.HasPrefix(err.Error(), tt.flag+": ") {
			t.Errorf("authorized-key %s %q (sshlogfwd %q): %v; want a usage error for %s", tt.cmd.Role, tt.cmd.Path, tt.cmd.SSHLogFwdPath, err, tt.flag)
		}
	}
}
