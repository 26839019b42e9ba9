package journal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// TestMeasureThroughput reads a journal of realistic sshd entries through
// Follow and reports entries/s and the CPU of journalctl and of our reader,
// beside journalctl alone printing short-iso-precise and json. It writes
// SSHLOGFWD_MEASURE entries (e.g. 200000) and runs only when that is set.
func TestMeasureThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SSHLOGFWD_MEASURE"))
	if n <= 0 {
		t.Skip("set SSHLOGFWD_MEASURE=ENTRIES to measure")
	}
	dir := t.TempDir()
	w := testlab.StartJournalWriter(t, filepath.Join(dir, "system.journal"))
	boot := testlab.BootID(t)
	start := time.Now().Add(-time.Hour).UnixMicro()
	batch := make([]testlab.JournalEntry, 0, 1000)
	for i := range n {
		batch = append(batch, testlab.JournalEntry{
			"__REALTIME_TIMESTAMP": strconv.FormatInt(start+int64(i), 10), "__MONOTONIC_TIMESTAMP": strconv.Itoa(1000 + i), "_BOOT_ID": boot,
			"_MACHINE_ID": "0123456789abcdef0123456789abcdef", "_HOSTNAME": "web1", "_TRANSPORT": "syslog", "PRIORITY": "6", "SYSLOG_FACILITY": "4",
			"SYSLOG_IDENTIFIER": "sshd", "_PID": strconv.Itoa(1000 + i%30000), "_UID": "0", "_GID": "0", "_COMM": "sshd", "_EXE": "/usr/sbin/sshd",
			"_CMDLINE": "sshd: root [priv]", "_SYSTEMD_UNIT": "ssh.service", "_SYSTEMD_CGROUP": "/system.slice/ssh.service",
			"MESSAGE": fmt.Sprintf("Accepted publickey for root from 192.0.2.%d port %d ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", i%256, i%65536),
		})
		if len(batch) == cap(batch) || i == n-1 {
			w.Write(batch...)
			batch = batch[:0]
		}
	}
	w.Close()

	for _, f := range []Format{FormatShort, FormatRFC5424} {
		measureFollow(t, dir, n, f)
	}
	for _, o := range []string{"export", "export --output-fields=MESSAGE,SYSLOG_IDENTIFIER,_COMM,_PID,SYSLOG_PID,_HOSTNAME,PRIORITY,SYSLOG_FACILITY", "short-iso-precise", "json"} {
		measureJournalctl(t, dir, n, o)
	}
}

// cpu returns the user+system CPU time of this process and of its reaped
// children.
func cpu() (self, children time.Duration) {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return tv(s), tv(c)
}

func measureFollow(t *testing.T, dir string, n int, f Format) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	self0, child0 := cpu()
	t0 := time.Now()
	var got, bytes int
	var elapsed time.Duration
	err := Follow(ctx, Options{Journalctl: testlab.JournalctlPath, Directory: dir, Format: f}, Handler{Entry: func(e Entry) error {
		got++
		bytes += len(e.Line) + 1
		if got == n {
			elapsed = time.Since(t0)
			cancel()
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	self1, child1 := cpu()
	jc, us := child1-child0, self1-self0
	t.Logf("Follow %-17s %d entries (%d MB of lines) in %v: %.0f entries/s; journalctl CPU %v (%.0f%% of wall, %.1f µs/entry), reader CPU %v (%.1f µs/entry); journalctl's share of the CPU %.0f%%",
		f, got, bytes>>20, elapsed.Round(time.Millisecond), float64(got)/elapsed.Seconds(), jc.Round(time.Millisecond), 100*jc.Seconds()/elapsed.Seconds(),
		float64(jc.Microseconds())/float64(n), us.Round(time.Millisecond), float64(us.Microseconds())/float64(n), 100*jc.Seconds()/(jc+us).Seconds())
}

func measureJournalctl(t *testing.T, dir string, n int, output string) {
	_, child0 := cpu()
	t0 := time.Now()
	cmd := exec.Command(testlab.JournalctlPath, append([]string{"--directory=" + dir, "--merge", "--no-pager", "--output=" + output[:strings.IndexByte(output+" ", ' ')]}, strings.Fields(output)[1:]...)...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(t0)
	_, child1 := cpu()
	jc := child1 - child0
	t.Logf("journalctl -o %.17s > /dev/null: %.0f entries/s, CPU %v (%.1f µs/entry)", output, float64(n)/elapsed.Seconds(), jc.Round(time.Millisecond), float64(jc.Microseconds())/float64(n))
}
