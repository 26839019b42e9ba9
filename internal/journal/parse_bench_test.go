package journal

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// benchEntries is how many entries the benchmarks' journal holds.
const benchEntries = 20000

var benchExport struct {
	once sync.Once
	out  []byte
	err  error
}

// benchExportOutput returns what the follower's journalctl prints for a
// journal of benchEntries sshd entries shaped like the bench harness's (a
// 124-byte message, identifier, pid, host, facility, priority), written by
// the real systemd-journal-remote and read by the real journalctl with
// Argv's options. SSHLOGFWD_EXPORT=FILE reads a captured output instead.
func benchExportOutput(b *testing.B) []byte {
	b.Helper()
	if f := os.Getenv("SSHLOGFWD_EXPORT"); f != "" {
		out, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	testlab.RequireBinary(b, testlab.JournalRemotePath)
	testlab.RequireBinary(b, testlab.JournalctlPath)
	benchExport.once.Do(func() {
		dir, err := os.MkdirTemp("", "journalbench")
		if err != nil {
			benchExport.err = err
			return
		}
		defer os.RemoveAll(dir)
		w := testlab.StartJournalWriter(b, filepath.Join(dir, "system.journal"))
		start := time.Now().Add(-time.Hour).UnixMicro()
		for i := 0; i < benchEntries; i += 1000 {
			batch := make([]testlab.JournalEntry, 0, 1000)
			for k := i; k < i+1000; k++ {
				msg := fmt.Sprintf("Accepted publickey for u%d from 10.%d.%d.%d port %d SHA256:", k%500, k%7, k%256, k%251, 1024+k%64000)
				for len(msg) < 124 {
					msg += "AbCdEfGhIj"
				}
				batch = append(batch, testlab.JournalEntry{"MESSAGE": msg[:124], "__REALTIME_TIMESTAMP": strconv.FormatInt(start+int64(k), 10),
					"SYSLOG_IDENTIFIER": "sshd", "_PID": "812", "_HOSTNAME": "web1", "SYSLOG_FACILITY": "4", "PRIORITY": "6"})
			}
			w.Write(batch...)
		}
		w.Close()
		argv, err := Argv(Spec{Program: testlab.JournalctlPath, Directory: dir})
		if err != nil {
			benchExport.err = err
			return
		}
		// Without --follow, so that it ends after the last entry.
		var args []string
		for _, a := range argv[1:] {
			if a != "--follow" {
				args = append(args, a)
			}
		}
		benchExport.out, benchExport.err = exec.Command(argv[0], args...).Output()
	})
	if benchExport.err != nil {
		b.Fatal(benchExport.err)
	}
	return benchExport.out
}

// BenchmarkParseFormat measures the reader's own work per entry: parsing
// journalctl's export output and rendering the line, as the follower does
// (without the handler, the spool and the pipe from journalctl).
func BenchmarkParseFormat(b *testing.B) {
	out := benchExportOutput(b)
	n := bytes.Count(out, []byte("\n__CURSOR=")) + 1
	for _, f := range []Format{FormatShort, FormatRFC5424} {
		b.Run(f.String(), func(b *testing.B) {
			fo, err := newFollower(Options{Directory: "x", Format: f, Location: time.UTC}, Handler{Entry: func(Entry) error { return nil }})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			rd := bytes.NewReader(out)
			for b.Loop() {
				rd.Reset(out)
				r := newExportReader(rd, DefaultMaxMessage)
				got := 0
				for {
					e, err := r.next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if err := fo.deliver(e); err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != n {
					b.Fatalf("%d entries, want %d", got, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}
