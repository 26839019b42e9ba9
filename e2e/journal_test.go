package e2e

// push --journal end to end: real journal files written by
// systemd-journal-remote (testlab.JournalWriter), followed by the real
// journalctl that push runs, delivered through the lab's real sshd to
// `cat >>` and to `sshlogfwd receive`.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// jlLines are the numbered messages of the entries the tests write (as
// lines; a message is a line without its newline). jlLineBytes is the size
// of an entry's line at the log host ("TIME h t: MESSAGE").
var jlLines = testlab.Numbered(80)

const jlLineBytes = len("2006-01-02T15:04:05.000000+00:00 h t: ") + 80

// jlLab is a log host whose key may only append to one file (cat >>, or
// receive with reliable), and a journal directory that one
// systemd-journal-remote keeps writing, as journald would.
type jlLab struct {
	sshd           *testlab.SSHD
	bin, dir, jdir string
	remote, spool  string
	reliable       bool
	w              *testlab.JournalWriter
	runs           int
}

func newJLLab(t *testing.T, reliable bool) *jlLab {
	t.Helper()
	testlab.RequireBinary(t, "/usr/sbin/sshd")
	testlab.RequireBinary(t, "/usr/bin/ssh")
	testlab.RequireBinary(t, testlab.JournalctlPath)
	dir := t.TempDir()
	l := &jlLab{bin: testlab.Binary(t), dir: dir, jdir: filepath.Join(dir, "journal"),
		remote: filepath.Join(dir, "remote", "web1.log"), spool: filepath.Join(dir, "spool"), reliable: reliable}
	for _, d := range []string{l.jdir, filepath.Dir(l.remote)} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l.sshd = testlab.StartSSHD(t, testlab.SSHDOptions{})
	cmd := "cat >> " + shellQuote(l.remote)
	if reliable {
		cmd = l.bin + " receive " + shellQuote(l.remote)
	}
	l.sshd.SetAuthorizedKeys(t, testlab.RestrictedKeyLine(l.sshd.ClientPub, "127.0.0.1", cmd))
	l.w = testlab.StartJournalWriter(t, filepath.Join(l.jdir, "system.journal"))
	// A journalctl of a push killed -9 gets SIGTERM from the kernel, but
	// may still be exiting; the journal directory is about to go away.
	t.Cleanup(func() {
		for _, pid := range jlJournalctls(l.jdir) {
			testlab.Kill(pid)
		}
	})
	return l
}

// mode is the row name of the lab's push in the fault table.
func (l *jlLab) mode() string {
	if l.reliable {
		return "push --journal --reliable"
	}
	return "push --journal"
}

// push starts `push --journal` on the lab's journal directory, with the
// default selection.
func (l *jlLab) push(t *testing.T, extra ...string) *pushProc {
	t.Helper()
	l.runs++
	args := []string{"--journal", "--journal-dir", l.jdir, "--spool", l.spool}
	if l.reliable {
		args = append(args, "--reliable", "--ack-timeout", "10s")
	}
	args = append(append(args, extra...), l.sshd.Alias+":"+l.remote)
	return startPush(t, l.sshd, filepath.Join(l.dir, fmt.Sprintf("push.%d.log", l.runs)), args...)
}

// jlEntry is numbered message i, selected by the default matches
// (facility auth), from host h, program t.
func jlEntry(i int) testlab.JournalEntry {
	return testlab.JournalEntry{"MESSAGE": string(bytes.TrimSuffix(jlLines.Line(i), []byte("\n"))),
		"SYSLOG_FACILITY": "4", "PRIORITY": "6", "SYSLOG_IDENTIFIER": "t", "_HOSTNAME": "h"}
}

// jlRotator is an entry with more field names than a fresh journal file's
// field table takes: journal-remote rotates the file before the next entry
// (the old one becomes system@….journal, the new one continues its
// seqnums), as journald does when a file is full.
func jlRotator(i int) testlab.JournalEntry {
	e := jlEntry(i)
	for k := range 300 {
		e[fmt.Sprintf("X_FIELD_%03d", k)] = "x"
	}
	return e
}

func jlEntries(from, to int) []testlab.JournalEntry {
	var es []testlab.JournalEntry
	for i := from; i < to; i++ {
		es = append(es, jlEntry(i))
	}
	return es
}

// jlWriter appends numbered entries at a rate (testlab.Pacer) until
// stopped; with rotateEvery, every so many entries one rotates the
// journal file.
type jlWriter struct {
	cancel  context.CancelFunc
	done    chan struct{}
	written int
}

func startJLWriter(t *testing.T, w *testlab.JournalWriter, rate, rotateEvery int) *jlWriter {
	ctx, cancel := context.WithCancel(context.Background())
	jw := &jlWriter{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(jw.done)
		p := testlab.Pacer{Rate: rate, Tick: 5 * time.Millisecond}
		jw.written, _ = p.Run(ctx, 0, 0, func(from, to int) (int, error) {
			es := make([]testlab.JournalEntry, 0, to-from)
			for i := from; i < to; i++ {
				if rotateEvery > 0 && i > 0 && i%rotateEvery == 0 {
					es = append(es, jlRotator(i))
				} else {
					es = append(es, jlEntry(i))
				}
			}
			w.Write(es...)
			return to, nil
		})
	}()
	t.Cleanup(func() { jw.Stop() })
	return jw
}

// Stop ends the writer and returns how many entries it wrote.
func (jw *jlWriter) Stop() int {
	jw.cancel()
	<-jw.done
	return jw.written
}

// jlRemote is what the log host got: the messages of the numbered entries
// as a stream of numbered lines, and every other line (our notices and
// marks).
type jlRemote struct {
	messages []byte
	notices  []string
}

// readJLRemote splits the log host's file into messages (after "h t: ")
// and our own lines ("HOST sshlogfwd: ...").
func readJLRemote(path string) jlRemote {
	var r jlRemote
	sc := bufio.NewScanner(bytes.NewReader(readFile(path)))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, []byte(" sshlogfwd: ")) {
			r.notices = append(r.notices, string(line))
			continue
		}
		if _, msg, ok := bytes.Cut(line, []byte(" h t: ")); ok {
			r.messages = append(append(r.messages, msg...), '\n')
		} else {
			r.messages = append(append(r.messages, line...), '\n') // torn: the check counts it
		}
	}
	return r
}

// waitJL waits until the log host has message n-1 and has then stopped
// growing (waitLines), and reports on messages 0..n-1. Lost entries are
// logged with whether the journal itself has them, which tells our loss
// from the writer's.
func waitJL(t *testing.T, l *jlLab, n int, timeout time.Duration) (testlab.Report, jlRemote) {
	t.Helper()
	_, r := waitLines(t, jlLines, func() []byte { return readJLRemote(l.remote).messages }, n, timeout)
	if r.Lost > 0 {
		out, _ := exec.Command(testlab.JournalctlPath, "--directory="+l.jdir, "--merge", "--output=cat").Output()
		t.Logf("missing entries: %s (missing from the journal itself: %s)", r.Gaps(8), jlLines.Check(out, n).Gaps(8))
	}
	return r, readJLRemote(l.remote)
}

// jlJournalctls are the journalctl processes reading dir, whoever their
// parent (those of a push killed -9 are orphans).
func jlJournalctls(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && (bytes.HasPrefix(cmdline, []byte(testlab.JournalctlPath+"\x00")) || bytes.HasPrefix(cmdline, []byte("journalctl\x00"))) {
			if bytes.Contains(cmdline, []byte("\x00--directory="+dir+"\x00")) {
				pid, _ := strconv.Atoi(e.Name())
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// killTimes kills what find returns, n times, a random lo..hi apart
// (testlab.Killer: only kills that happened count), and returns how many
// kills happened before the deadline.
func killTimes(find func() int, n int, lo, hi, deadline time.Duration) int {
	k := testlab.StartKiller(testlab.Between(lo, hi), testlab.One(find))
	testlab.Poll(deadline, func() bool { return k.Kills() >= n })
	return k.Stop()
}

// bothModes runs f as two parallel subtests, against cat >> and receive.
func bothModes(t *testing.T, f func(t *testing.T, l *jlLab)) {
	for _, reliable := range []bool{false, true} {
		name := map[bool]string{false: "cat", true: "receive"}[reliable]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, newJLLab(t, reliable))
		})
	}
}

// TestJournalSSHKilled: push's ssh is killed 20 times while entries are
// written. Through receive every entry arrives exactly once, in order;
// through cat >> what was inside a dying ssh is lost (the compatible
// mode's known limit), but nothing is repeated or reordered.
func TestJournalSSHKilled(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, l *jlLab) {
		const rate = 1000
		p := l.push(t)
		w := startJLWriter(t, l.w, rate, 0)
		kills := killTimes(p.sshChild, 20, 150*time.Millisecond, 450*time.Millisecond, 40*time.Second)
		// A last second without kills: through cat >>, entries inside
		// the last ssh killed are lost, and the test waits for the last.
		time.Sleep(time.Second)
		n := w.Stop()
		r, got := waitJL(t, l, n, 60*time.Second)
		t.Logf("%d entries, ssh killed %d times: %s", n, kills, r)
		recordFault(t, faultRow{Table: "journal", Mode: l.mode(), Fault: "ssh child killed -9 20 times, 0.15-0.45 s apart, 1,000 entries/s", Lines: n, Faults: kills, Report: r})
		if kills < 20 {
			t.Errorf("only %d of 20 kills happened", kills)
		}
		if l.reliable {
			exactlyOnce(t, r, n)
		} else if r.Duplicated != 0 || r.OutOfOrder != 0 || r.Lost > kills*rate {
			t.Errorf("cat >>: want nothing repeated or reordered and at most a second of entries lost per kill: %s", r)
		}
		if len(got.notices) != 0 {
			t.Errorf("notices on the log host: %q", got.notices)
		}
	})
}

// TestJournalPushKilled: push itself is killed -9 and restarted 5 times,
// at random moments, while entries are written: the cursor goes with
// every spooled line, so no entry is skipped or read twice. Through
// receive the log host has every entry exactly once, in order. Through
// cat >> nothing is repeated: the killed push's ssh delivers what it was
// given, and the next push starts after exactly that (the kernel counts
// what ssh took, see push's handOver); nothing is lost but a line torn
// where the killed push's ssh and the next one's append at once (not
// seen so far; the FIFO tests saw it, see docs/guarantees.md).
func TestJournalPushKilled(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, l *jlLab) {
		w := startJLWriter(t, l.w, 1000, 0)
		kills := 0
		for range 5 {
			p := l.push(t)
			time.Sleep(300*time.Millisecond + rand.N(1200*time.Millisecond))
			if testlab.Kill(p.Pid()) == nil {
				kills++
			}
			<-p.done
		}
		p := l.push(t)
		time.Sleep(500 * time.Millisecond)
		n := w.Stop()
		r, got := waitJL(t, l, n, 60*time.Second)
		t.Logf("%d entries, push killed -9 and restarted %d times: %s", n, kills, r)
		recordFault(t, faultRow{Table: "journal", Mode: l.mode(), Fault: "push killed -9 and restarted 5 times, 0.3-1.5 s apart, 1,000 entries/s", Lines: n, Faults: kills, Report: r})
		if kills != 5 {
			t.Errorf("%d of 5 kills happened", kills)
		}
		if l.reliable {
			exactlyOnce(t, r, n)
		} else if r.Duplicated != 0 || r.Lost > r.Torn+len(r.Other) {
			t.Errorf("cat >>: want nothing repeated, and nothing lost but torn lines: %s; missing %s", r, r.Gaps(8))
		}
		if len(got.notices) != 0 {
			t.Errorf("notices on the log host: %q", got.notices)
		}
		if err := p.Stop(t, 20*time.Second); err != nil {
			t.Errorf("push exit: %v", err)
		}
	})
}

// TestJournalctlKilled: push's journalctl is killed 10 times while
// entries are written and the journal file is rotated every 700 entries:
// push restarts it after the last entry spooled, and every entry arrives
// exactly once, in order, in both modes.
func TestJournalctlKilled(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, l *jlLab) {
		p := l.push(t)
		w := startJLWriter(t, l.w, 1000, 700)
		find := func() int {
			if pids := testlab.ChildPIDs(p.Pid(), "journalctl"); len(pids) > 0 {
				return pids[0]
			}
			return 0
		}
		kills := killTimes(find, 10, 200*time.Millisecond, 500*time.Millisecond, 40*time.Second)
		n := w.Stop()
		r, _ := waitJL(t, l, n, 60*time.Second)
		rotated, _ := filepath.Glob(filepath.Join(l.jdir, "system@*.journal"))
		t.Logf("%d entries, journalctl killed %d times, journal file rotated %d times: %s", n, kills, len(rotated), r)
		recordFault(t, faultRow{Table: "journal", Mode: l.mode(), Fault: "journalctl killed -9 10 times, 0.2-0.5 s apart; the journal file rotated every 700 entries", Lines: n, Faults: kills, Report: r,
			Note: fmt.Sprintf("%d rotations", len(rotated))})
		if kills < 10 {
			t.Errorf("only %d of 10 kills happened", kills)
		}
		if len(rotated) == 0 {
			t.Errorf("the journal file was never rotated")
		}
		exactlyOnce(t, r, n)
		// Every kill happened (testlab.Kill) and is a journalctl that
		// ended, which push logs before it starts the next.
		if log := string(readFile(p.Log)); strings.Count(log, "restarting journalctl") < kills {
			t.Errorf("the log tells %d restarts of journalctl after %d kills", strings.Count(log, "restarting journalctl"), kills)
		}
	})
}

// TestJournalGap: while push is stopped, entries it has not read yet are
// vacuumed (the archived file they are in is deleted after a rotation):
// the log host gets a notice with their number in their place, then the
// entries that survived. When the journal is wiped and started afresh,
// the number is unknown, and the notice says so. Both cases in both
// modes.
func TestJournalGap(t *testing.T) {
	t.Parallel()
	for _, wipe := range []bool{false, true} {
		name := map[bool]string{false: "vacuumed", true: "wiped"}[wipe]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bothModes(t, func(t *testing.T, l *jlLab) { journalGap(t, l, wipe) })
		})
	}
}

func journalGap(t *testing.T, l *jlLab, wipe bool) {
	l.w.Write(jlEntries(0, 30)...)
	p := l.push(t)
	waitJL(t, l, 30, 30*time.Second)
	if err := p.Stop(t, 20*time.Second); err != nil {
		t.Fatalf("push exit: %v", err)
	}
	first, want, fault := 41, "11 entries were lost", "the archived journal file with 11 unread entries deleted while push was down"
	if !wipe {
		// Entries 30..40 go into the file that is rotated away.
		l.w.Write(jlEntries(30, 40)...)
		l.w.Write(jlRotator(40))
		l.w.Write(jlEntries(41, 60)...)
		l.w.Close()
		old, _ := filepath.Glob(filepath.Join(l.jdir, "system@*.journal"))
		if len(old) != 1 {
			t.Fatalf("archived journal files %q, want one (the rotation)", old)
		}
		os.Remove(old[0])
	} else {
		first, want, fault = 30, "an unknown number of entries were lost", "the journal wiped and started afresh while push was down"
		l.w.Write(jlEntries(30, 45)...)
		l.w.Close()
		os.RemoveAll(l.jdir)
		os.Mkdir(l.jdir, 0o755)
		testlab.WriteJournal(t, filepath.Join(l.jdir, "system.journal"), jlEntries(30, 60)...)
	}
	l.push(t)
	r, got := waitJL(t, l, 60, 30*time.Second)
	recordFault(t, faultRow{Table: "journal", Mode: l.mode(), Fault: fault, Lines: 60, Faults: 1, Report: r,
		Note: fmt.Sprintf("%d notice(s) on the log host: %q", len(got.notices), want)})
	if len(got.notices) != 1 || !strings.Contains(got.notices[0], want) {
		t.Fatalf("notices on the log host %q, want one saying %q", got.notices, want)
	}
	lost := first - 30
	if r.Received != 60-lost || r.Lost != lost || r.Duplicated+r.OutOfOrder+r.Torn != 0 {
		t.Errorf("want entries 0-29 and %d-59 once, in order: %s", first, r)
	}
	// The notice stands where the entries were missing.
	file := string(readFile(l.remote))
	at := strings.Index(file, got.notices[0])
	if at < strings.Index(file, string(jlLines.Line(29)[:9])) || at > strings.Index(file, string(jlLines.Line(first)[:9])) {
		t.Errorf("the notice is not between entry 29 and entry %d:\n%s", first, file)
	}
}

// TestJournalMessagesAndSelection: through receive, the default selection
// forwards the article's facilities and priorities and nothing else, and
// the messages arrive byte-exact: a multi-line one (newlines as #012), one
// of 64 KiB, invalid UTF-8, a NUL.
func TestJournalMessagesAndSelection(t *testing.T) {
	t.Parallel()
	l := newJLLab(t, true)
	rt := time.Now().Add(-time.Minute).UnixMicro()
	var want bytes.Buffer
	add := func(msg string, selected bool, fields ...string) {
		rt += 1000 // a millisecond apart, each its own time
		e := testlab.JournalEntry{"MESSAGE": msg, "SYSLOG_IDENTIFIER": "t", "_HOSTNAME": "h",
			"__REALTIME_TIMESTAMP": strconv.FormatInt(rt, 10)}
		for i := 0; i+1 < len(fields); i += 2 {
			e[fields[i]] = fields[i+1]
		}
		l.w.Write(e)
		if selected {
			want.WriteString(time.UnixMicro(rt).Format("2006-01-02T15:04:05.000000-07:00") + " h t: ")
			want.WriteString(strings.ReplaceAll(msg, "\n", "#012") + "\n")
		}
	}
	for _, s := range []struct {
		fac, prio string
		selected  bool
	}{
		{"4", "6", true},   // auth.info
		{"10", "5", true},  // authpriv.notice
		{"0", "4", true},   // kern.warning
		{"3", "2", true},   // daemon.crit
		{"2", "1", true},   // mail.alert
		{"9", "0", true},   // cron.emerg
		{"3", "6", false},  // daemon.info
		{"1", "3", false},  // user.err
		{"16", "4", false}, // local0.warning
		{"1", "5", false},  // user.notice
	} {
		add(fmt.Sprintf("facility %s priority %s", s.fac, s.prio), s.selected, "SYSLOG_FACILITY", s.fac, "PRIORITY", s.prio)
	}
	add("from the kernel", true, "_TRANSPORT", "kernel", "PRIORITY", "6")
	add("stdout of a service", false, "_TRANSPORT", "stdout", "PRIORITY", "6")
	auth := []string{"SYSLOG_FACILITY", "4", "PRIORITY", "6"}
	add("first line\nsecond line\n\tindented third", true, auth...)
	add(strings.Repeat("0123456789abcdef", 4096), true, auth...) // 64 KiB
	add("invalid UTF-8: \xff\xfe\xc3(", true, auth...)
	add("a NUL: \x00 and after it", true, auth...)
	add("the last one", true, auth...)
	p := l.push(t)
	ok := testlab.Poll(30*time.Second, func() bool { return bytes.Contains(readFile(l.remote), []byte("the last one\n")) })
	got := readFile(l.remote)
	if !ok || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the log host has (%d bytes):\n%.3000q\nwant (%d bytes):\n%.3000q", len(got), got, want.Len(), want.Bytes())
	}
	if err := p.Stop(t, 20*time.Second); err != nil {
		t.Errorf("push exit: %v", err)
	}
}

// TestCheckPushJournal: check push --journal with push's own flags reads
// the journal as push would, counts what the selection finds, and looks
// up the cursor push resumes after in push's spool: none before the first
// run, still there after it, gone (a FAIL, exit 1) once the journal was
// wiped.
func TestCheckPushJournal(t *testing.T) {
	t.Parallel()
	l := newJLLab(t, false)
	l.w.Write(jlEntries(0, 20)...)
	l.w.Write(testlab.JournalEntry{"MESSAGE": "not selected", "SYSLOG_FACILITY": "3", "PRIORITY": "6"})
	testlab.WaitJournalEntries(t, l.jdir, 21, 30*time.Second)
	check := func() cmdResult {
		return runBinary(t, runOpts{}, "check", "push", "-F", l.sshd.SSHConfig, "--journal", "--journal-dir", l.jdir,
			"--spool", l.spool, "--probe-wait", "2s", l.sshd.Alias+":"+l.remote)
	}
	res := check()
	ok, fail := reportLines(res.Stdout)
	if res.Code != 0 || len(fail) != 0 {
		t.Fatalf("check of a good setup: %s", res)
	}
	for _, want := range [][]string{
		{"OK    --journal-dir " + l.jdir, "journalctl reads it"},
		{"OK    journal selection", "20 entries of the last 24 hours match", "SYSLOG_FACILITY=4"},
		{"OK    journal cursor", "none saved"},
		{"OK    append"},
	} {
		if !hasLine(ok, want[0], want[1:]...) {
			t.Errorf("no line %q with %q:\n%s", want[0], want[1:], res.Stdout)
		}
	}

	p := l.push(t)
	waitJL(t, l, 20, 30*time.Second)
	if err := p.Stop(t, 20*time.Second); err != nil {
		t.Fatalf("push exit: %v", err)
	}
	if res := check(); !strings.Contains(res.Stdout, "OK    journal cursor: the entry push resumes after is still in the journal") {
		t.Errorf("after push ran: %s", res)
	}

	l.w.Close()
	os.RemoveAll(l.jdir)
	os.Mkdir(l.jdir, 0o755)
	testlab.WriteJournal(t, filepath.Join(l.jdir, "system.journal"), jlEntries(20, 25)...)
	res = check()
	_, fail = reportLines(res.Stdout)
	if res.Code != 1 || !hasLine(fail, "FAIL  journal cursor", "gone") {
		t.Errorf("after the journal was wiped: %s", res)
	}
}

// TestNotifyPushJournal: push --journal under a notification socket, as
// the Type=notify unit sshlogfwd-journal@ runs it: READY=1 first (journalctl
// found, the spool recovered), a state line naming the log host, watchdog
// pings, and the metrics count the entries read and delivered.
func TestNotifyPushJournal(t *testing.T) {
	t.Parallel()
	const n = 500
	l := newJLLab(t, false)
	notify := testlab.ListenNotify(t, true)
	prom := filepath.Join(l.dir, "sshlogfwd.prom")
	env := []string{"NOTIFY_SOCKET=" + notify.Socket, "WATCHDOG_USEC=2000000"}
	l.w.Write(jlEntries(0, n)...)
	p := startPushEnv(t, l.sshd.SSHConfig, filepath.Join(l.dir, "push.log"), env, "--journal", "--journal-dir", l.jdir,
		"--spool", l.spool, "--mark", "0", "--metrics-file", prom, "--metrics-interval", "1s", l.sshd.Alias+":"+l.remote)

	first := notify.Next(t, 30*time.Second)
	if st, _ := testlab.Assignment(first, "STATUS"); !strings.HasPrefix(first, "READY=1\n") || !strings.Contains(st, l.sshd.Alias+": ") {
		t.Fatalf("first message %q, want READY=1 with a state line naming %s", first, l.sshd.Alias)
	}
	r, _ := waitJL(t, l, n, 30*time.Second)
	exactlyOnce(t, r, n)
	notify.Await(t, 10*time.Second, "WATCHDOG=1", func(m string) bool { return strings.Contains(m, "WATCHDOG=1") })
	if err := p.Stop(t, 30*time.Second); err != nil {
		t.Fatalf("push exit: %v", err)
	}
	fams := parseMetrics(t, prom)
	dest := l.sshd.Alias + ":" + l.remote
	for _, name := range []string{"sshlogfwd_push_read_lines_total", "sshlogfwd_push_acknowledged_lines_total"} {
		if got, ok := metricValue(fams, name, "dest", dest); !ok || got != n {
			t.Errorf("%s{dest=%q} = %v (found: %v), want %d", name, dest, got, ok, n)
		}
	}
}
