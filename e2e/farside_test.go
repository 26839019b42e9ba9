package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/ackproto"
	"github.com/sshlogfwd/sshlogfwd/internal/receiver"
	"github.com/sshlogfwd/sshlogfwd/internal/request"
)

// farsideVictim is another log file in the receiver's directory. A parse
// error quoting its first byte would say "invalid character 'Z'".
const farsideVictim = "Zprecious line of another host\n"

// TestFarsideHiddenFilesDoNotFollowSymlinks plants, as another local user
// could in a shared log directory, a symlink at one of receive's hidden
// files, pointing at another host's log, and runs a reliable session
// through the real sshd and the forced command. The other log must stay
// byte for byte as it was, and the client must see nothing of it: no byte
// of its content, not even in a parse error.
func TestFarsideHiddenFilesDoNotFollowSymlinks(t *testing.T) {
	t.Parallel()
	l := newRelLab(t, relLabOptions{})
	state := receiver.StatePath(l.Remote)
	for _, tc := range []struct {
		name, link string
		refused    bool // receive must refuse the session
	}{
		{name: "state temp", link: state + ".tmp"},
		{name: "lock", link: receiver.LockPath(l.Remote), refused: true},
		{name: "state", link: state, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One at a time: they share the lab's file.
			for _, p := range []string{l.Remote, state, state + ".tmp", receiver.LockPath(l.Remote)} {
				os.Remove(p)
			}
			victim := filepath.Join(filepath.Dir(l.Remote), "other-host.log")
			if err := os.WriteFile(victim, []byte(farsideVictim), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, tc.link); err != nil {
				t.Fatal(err)
			}
			out := farsideSession(t, l, []byte("hello from web1\n"))
			if got := readFile(victim); string(got) != farsideVictim {
				t.Errorf("the other host's log was changed through the symlink: %q", got)
			}
			if fi, err := os.Lstat(tc.link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the planted link was replaced or followed: %v %v", fi, err)
			}
			if strings.Contains(out, "'Z'") || strings.Contains(out, "precious") || strings.Contains(out, "invalid character") {
				t.Errorf("the client saw the other log's content:\n%s", out)
			}
			got := string(readFile(l.Remote))
			switch {
			case tc.refused && !strings.Contains(out, "E io "):
				t.Errorf("receive did not refuse with an error frame:\n%s", out)
			case tc.refused && got != "":
				t.Errorf("refused, yet wrote %q", got)
			case !tc.refused && got != "hello from web1\n":
				t.Errorf("the planted temp link stopped the session: file %q, client saw:\n%s", got, out)
			}
		})
	}
}

// farsideSession sends one reliable session (hello, one data frame, end)
// through sshd to the lab's forced `receive`, and returns everything the
// client got back: stdout (the protocol replies) and stderr.
func farsideSession(t *testing.T, l *relLab, data []byte) string {
	t.Helper()
	in := ackproto.AppendHello(nil, ackproto.Hello{Version: 1, Stream: ackproto.NewStreamID()})
	in = ackproto.AppendData(in, 0, data)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := l.SSHD.Command(request.Receive("sshlogfwd", l.Remote))
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the session did not end within a minute (hang): %v\n%s", err, out.String())
	}
	return out.String()
}
