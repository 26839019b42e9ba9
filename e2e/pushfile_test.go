package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestPushFileRestart: push --file is stopped and started again three
// times while a writer appends, and the file is rotated once meanwhile; the
// remote file ends with every line exactly once, in order.
func TestPushFileRestart(t *testing.T) {
	t.Parallel()
	l := newPushLab(t, "remote.log")
	src := filepath.Join(l.Dir, "app.log")
	const n, size, rate = 12000, 80, 2000 // 6 s
	ln := testlab.Numbered(size)
	w := testlab.OpenWriter(t, src, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644, ln, testlab.WriterOptions{})
	rotated := false
	w.Start(t, n, rate, func(next int) {
		if next > n/2 && !rotated {
			// logrotate's default: rename, create, the writer reopens
			// (here: at once).
			rotated = true
			os.Rename(src, src+".1")
			w.Reopen()
		}
	})
	args := []string{"--file", src, "--from", "start", "--spool", l.Spool, "loghost:" + l.Remote}
	for round := range 4 {
		p := startPush(t, l.SSHD, fmt.Sprintf("%s.%d", l.Log, round), args...)
		if round == 3 {
			break
		}
		testlab.WaitFor(t, 20*time.Second, func() bool {
			return int64(len(readFile(l.Remote))) >= int64((round+1)*n/4*size)
		}, "round %d to deliver its share", round)
		if err := p.Stop(t, 20*time.Second); err != nil {
			t.Fatalf("round %d: push exit %v", round, err)
		}
	}
	w.Wait(t, 60*time.Second)
	_, r := waitLines(t, ln, func() []byte { return readFile(l.Remote) }, n, 60*time.Second)
	t.Logf("push --file stopped and restarted 3 times, file rotated once: %s", r)
	if r.Lost != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn != 0 || len(r.Other) != 0 {
		t.Errorf("want every line exactly once: %s", r)
	}
}
