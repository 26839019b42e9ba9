package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// The journal part (issue 11): push --journal beside the bare
// `journalctl -f -o short-iso | ssh -C loghost 'cat >> f'`, at full speed
// and paced, on real journal files written by systemd-journal-remote.

const journalBareName = "bare journalctl | ssh -C"

// journalModes are the readers compared, the bare pipe first.
func (l *lab) journalModes() []string {
	modes := []string{journalBareName, "push --journal"}
	if l.has.PushReliable {
		modes = append(modes, "push --journal --reliable")
	}
	return modes
}

// journalEntry is entry i of the throughput journal: an sshd line of
// about size bytes (bench's numbered lines), at facility auth.
func journalEntry(i, size int) testlab.JournalEntry {
	return testlab.JournalEntry{"MESSAGE": string(bytes.TrimSuffix(streamLines(size).Line(i), []byte("\n"))),
		"SYSLOG_IDENTIFIER": "sshd", "_PID": "812", "_HOSTNAME": "web1", "SYSLOG_FACILITY": "4", "PRIORITY": "6"}
}

// journalCorpus writes n entries into a new journal directory.
func (l *lab) journalCorpus(n, size int) string {
	l.tb.Helper()
	dir := l.path("journal")
	if err := os.Mkdir(dir, 0o755); err != nil {
		l.tb.Fatal(err)
	}
	w := testlab.StartJournalWriter(l.tb, filepath.Join(dir, "system.journal"))
	const batch = 5000
	es := make([]testlab.JournalEntry, 0, batch)
	for i := 0; i < n; i++ {
		es = append(es, journalEntry(i, size))
		if len(es) == batch || i == n-1 {
			w.Write(es...)
			es = es[:0]
		}
	}
	w.Close()
	return dir
}

// journalReader is a running reader of one mode: the bare pipe's two
// processes, or push and the journalctl it runs.
type journalReader struct {
	push       *proc
	jc, ssh    *exec.Cmd
	jcPID      func() int
	sshPID     func() int
	stopReader func()
}

// startJournalReader starts mode reading dir into remote.
func (l *lab) startJournalReader(mode, dir, remote string) (*journalReader, error) {
	if mode == journalBareName {
		return l.startBareJournal(dir, remote)
	}
	args := []string{"push", "--journal", "--journal-dir", dir, "--journal-priority", "debug",
		"--spool", l.path("spool"), "--mark", "0", "--stats", "0"}
	if mode == "push --journal --reliable" {
		args = append(append(args, "--reliable"), l.reliableRemote(remote)...)
	}
	p := l.start(append(args, l.sshd.Alias+":"+remote)...)
	child := func(comm string) func() int {
		return func() int {
			if pids := testlab.ChildPIDs(p.pid(), comm); len(pids) > 0 {
				return pids[0]
			}
			return 0
		}
	}
	return &journalReader{push: p, jcPID: child("journalctl"), sshPID: child("ssh"),
		stopReader: func() { p.stop(15 * time.Second) }}, nil
}

// startBareJournal starts `journalctl --follow -o short-iso | ssh -C
// loghost 'cat >> remote'` as two processes joined by a pipe.
func (l *lab) startBareJournal(dir, remote string) (*journalReader, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	jc := exec.Command(testlab.JournalctlPath, "--directory="+dir, "--follow", "--no-tail", "--output=short-iso")
	jc.Stdout = w
	ssh := exec.Command("ssh", l.sshArgs(true, nil, "cat >> "+shellQuote(remote))...)
	ssh.Stdin = r
	if err := jc.Start(); err != nil {
		return nil, err
	}
	if err := ssh.Start(); err != nil {
		jc.Process.Kill()
		jc.Wait()
		return nil, err
	}
	r.Close()
	w.Close()
	return &journalReader{jc: jc, ssh: ssh,
		jcPID: func() int { return jc.Process.Pid }, sshPID: func() int { return ssh.Process.Pid },
		stopReader: func() {
			jc.Process.Signal(syscall.SIGTERM)
			jc.Wait()
			ssh.Wait()
		}}, nil
}

// cpu is the CPU used so far by the reader's sshlogfwd, journalctl and ssh.
func (jr *journalReader) cpu() (self, jc, ssh time.Duration) {
	if jr.push != nil {
		self, _ = testlab.ProcessCPU(jr.push.pid())
	}
	if pid := jr.jcPID(); pid > 0 {
		jc, _ = testlab.ProcessCPU(pid)
	}
	if pid := jr.sshPID(); pid > 0 {
		ssh, _ = testlab.ProcessCPU(pid)
	}
	return self, jc, ssh
}

func (jr *journalReader) tail() string {
	if jr.push != nil {
		return "\n" + jr.push.tail()
	}
	return ""
}

// journalArrivals counts the entries' lines in the remote file by the
// index in their message ("L00000042 " or "S00000042 T… "), and the time
// of the last one.
type journalArrivals struct {
	mu         sync.Mutex
	seen       []int
	last       int
	disorder   int
	lastAt     time.Time
	latency    []float64 // paced: ms from the entry's stamp
	arrivedAll chan struct{}
	count      int
}

func newJournalArrivals(n int) *journalArrivals {
	return &journalArrivals{seen: make([]int, n), last: -1, arrivedAll: make(chan struct{})}
}

// add takes one line; stamped lines carry the entry's time.
func (a *journalArrivals) add(line []byte) {
	now := time.Now()
	i, stamp, ok := journalIndex(line)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok || i < 0 || i >= len(a.seen) {
		return
	}
	a.seen[i]++
	if a.seen[i] > 1 {
		return
	}
	if i < a.last {
		a.disorder++
	}
	a.last, a.lastAt = i, now
	if stamp > 0 {
		a.latency = append(a.latency, float64(now.UnixMicro()-stamp)/1000)
	}
	if a.count++; a.count == len(a.seen) {
		close(a.arrivedAll)
	}
}

// journalIndex finds the entry index (and, for a stamped entry, its stamp
// in µs) in a line: the message follows the first ": ".
func journalIndex(line []byte) (i int, stamp int64, ok bool) {
	_, msg, found := bytes.Cut(line, []byte(": "))
	if !found || len(msg) < 9 || (msg[0] != 'L' && msg[0] != 'S') {
		return 0, 0, false
	}
	n, err := strconv.Atoi(string(msg[1:9]))
	if err != nil {
		return 0, 0, false
	}
	if msg[0] == 'S' && len(msg) >= 27 && msg[10] == 'T' {
		stamp, _ = strconv.ParseInt(string(msg[11:27]), 10, 64)
	}
	return n, stamp, true
}

func (a *journalArrivals) result(j *JournalRun) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.seen {
		switch {
		case s == 0:
			j.Lost++
		case s > 1:
			j.Dup += s - 1
		}
	}
	j.OutOfOrder = a.disorder
	if len(a.latency) > 0 {
		j.MS = Summarize(append([]float64(nil), a.latency...), "ms", false)
	}
}

// wait waits until every entry arrived, or nothing arrived for quiet.
func (a *journalArrivals) wait(quiet time.Duration) error {
	seen := -1
	for {
		select {
		case <-a.arrivedAll:
			return nil
		case <-time.After(quiet):
		}
		a.mu.Lock()
		n := a.count
		a.mu.Unlock()
		if n == seen {
			return fmt.Errorf("%d of %d entries arrived; nothing more for %v", n, len(a.seen), quiet)
		}
		seen = n
	}
}

// journalThroughput runs every mode once per round over a journal of n
// entries written beforehand.
func (l *lab) journalThroughput(n, size, rounds int) []JournalRun {
	dir := l.journalCorpus(n, size)
	defer os.RemoveAll(dir)
	var runs []JournalRun
	for round := range rounds {
		for _, mode := range l.journalModes() {
			j := l.journalFullSpeed(mode, dir, n)
			j.Round = round
			l.tb.Logf("journal %-26s full speed: %.0f entries/s, journalctl %.2f s/M, sshlogfwd %.2f s/M, lost %d dup %d %s",
				mode, j.PerSec(), j.perM(j.JournalctlCPU), j.perM(j.CPU), j.Lost, j.Dup, j.Err)
			runs = append(runs, j)
		}
	}
	return runs
}

// journalFullSpeed reads the whole journal in dir with mode, from starting
// the reader to the last line at the log host.
func (l *lab) journalFullSpeed(mode, dir string, n int) JournalRun {
	j := JournalRun{Name: mode, Bare: mode == journalBareName, Entries: n}
	remote := l.path("journal.out")
	defer os.Remove(remote)
	os.WriteFile(remote, nil, 0o644)
	arr := newJournalArrivals(n)
	watch, err := watchLines(remote, func(line []byte, _ int64) { arr.add(line) })
	if err != nil {
		l.tb.Fatal(err)
	}
	start := time.Now()
	jr, err := l.startJournalReader(mode, dir, remote)
	if err != nil {
		watch.Stop()
		j.Err = err.Error()
		return j
	}
	if err := arr.wait(stall); err != nil {
		j.Err = err.Error() + jr.tail()
	}
	self, jc, ssh := jr.cpu()
	j.CPU, j.JournalctlCPU, j.SSHCPU = Seconds(self.Seconds()), Seconds(jc.Seconds()), Seconds(ssh.Seconds())
	jr.stopReader()
	watch.Stop()
	arr.mu.Lock()
	j.Seconds = Seconds(arr.lastAt.Sub(start).Seconds())
	arr.mu.Unlock()
	arr.result(&j)
	return j
}

// journalLatency writes stamped entries one by one at rate for dur into a
// journal that mode reads, and measures each from its timestamp to its
// line at the log host.
func (l *lab) journalLatency(mode string, rate int, dur time.Duration) JournalRun {
	n := int(float64(rate) * dur.Seconds())
	j := JournalRun{Name: mode, Bare: mode == journalBareName, Rate: rate, Entries: n}
	dir, remote := l.path("journal"), l.path("journal-latency.out")
	defer os.RemoveAll(dir)
	defer os.Remove(remote)
	os.Mkdir(dir, 0o755)
	os.WriteFile(remote, nil, 0o644)
	// A first entry, in the journal before the reader starts (journalctl
	// --follow without --merge exits on a journal with nothing of this
	// boot): once its line is at the log host, the reader is connected.
	path := filepath.Join(dir, "system.journal")
	testlab.WriteJournal(l.tb, path, testlab.JournalEntry{"MESSAGE": "warm-up", "SYSLOG_IDENTIFIER": "bench", "PRIORITY": "6"})
	w := testlab.StartJournalWriter(l.tb, path)
	defer w.Close()
	jr, err := l.startJournalReader(mode, dir, remote)
	if err != nil {
		j.Err = err.Error()
		return j
	}
	defer jr.stopReader()
	if _, err := watchGrowth(remote, 0, 1, stall); err != nil {
		j.Err = err.Error() + jr.tail()
		return j
	}
	arr := newJournalArrivals(n)
	watch, err := watchLines(remote, func(line []byte, _ int64) { arr.add(line) })
	if err != nil {
		l.tb.Fatal(err)
	}
	self0, jc0, ssh0 := jr.cpu()
	written, _ := pace(context.Background(), rate, n, func(i int) error {
		now := time.Now().UnixMicro()
		msg := fmt.Sprintf("S%08d T%016d Accepted publickey for u%d from 10.0.0.%d port %d", i, now, i%500, i%256, 1024+i)
		w.Write(testlab.JournalEntry{"MESSAGE": msg, "__REALTIME_TIMESTAMP": strconv.FormatInt(now, 10),
			"SYSLOG_IDENTIFIER": "sshd", "_PID": "812", "_HOSTNAME": "web1", "SYSLOG_FACILITY": "4", "PRIORITY": "6"})
		return nil
	})
	if err := arr.wait(5 * time.Second); err != nil {
		j.Err = err.Error() + jr.tail()
	}
	self1, jc1, ssh1 := jr.cpu()
	watch.Stop()
	j.Entries = written
	j.CPU, j.JournalctlCPU, j.SSHCPU = Seconds((self1 - self0).Seconds()), Seconds((jc1 - jc0).Seconds()), Seconds((ssh1 - ssh0).Seconds())
	arr.result(&j)
	return j
}

// journal is the journal part of a run: every mode at full speed, once
// per round, then every mode paced at 1,000 entries/s.
func (l *lab) journal(c suiteConfig, notes *[]string) []JournalRun {
	for _, bin := range []string{testlab.JournalRemotePath, testlab.JournalctlPath} {
		if _, err := os.Stat(bin); err != nil {
			*notes = append(*notes, fmt.Sprintf("the journal input was not measured: %s is missing (Debian: systemd-journal-remote, systemd).", bin))
			return nil
		}
	}
	if out, err := exec.Command(l.bin, "push", "--help").CombinedOutput(); err != nil || !bytes.Contains(out, []byte("--journal")) {
		*notes = append(*notes, "push --journal is not in the binary: the journal input was not measured.")
		return nil
	}
	runs := l.journalThroughput(c.journalN, c.size, c.rounds)
	for _, mode := range l.journalModes() {
		j := l.journalLatency(mode, 1000, c.journalDur)
		l.tb.Logf("journal %-26s 1,000/s: p50 %.2f ms p99 %.2f ms, journalctl %.2f s/M, sshlogfwd %.2f s/M, lost %d dup %d %s",
			mode, j.MS.P50, j.MS.P99, j.perM(j.JournalctlCPU), j.perM(j.CPU), j.Lost, j.Dup, j.Err)
		runs = append(runs, j)
	}
	return runs
}

// TestJournalHarnessSmoke runs the journal part small, so that it stays
// working between benchmark runs; its figures mean nothing.
func TestJournalHarnessSmoke(t *testing.T) {
	testlab.RequireBinary(t, testlab.JournalRemotePath)
	testlab.RequireBinary(t, testlab.JournalctlPath)
	res := runSuite(t, suiteConfig{size: 124, rounds: 1, parts: "journal", journalN: 3000, journalDur: time.Second})
	if len(res.Journal) == 0 {
		t.Fatalf("nothing measured: %v", res.Notes)
	}
	for _, j := range res.Journal {
		if !j.OK() || (j.Rate == 0 && j.PerSec() == 0) || (j.Rate > 0 && j.MS.N == 0) {
			t.Errorf("%s at rate %d: %+v", j.Name, j.Rate, j)
		}
	}
	if md := Markdown(res, "results.png", ""); !bytes.Contains([]byte(md), []byte("push --journal")) {
		t.Errorf("the report has no journal section:\n%s", md)
	}
}
