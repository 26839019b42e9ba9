package push

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/clock"
	"github.com/sshlogfwd/sshlogfwd/internal/execssh"
	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/journal"
	"github.com/sshlogfwd/sshlogfwd/internal/spool"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// syncBuffer is a log that tests read while the run writes it.
type syncBuffer = testlab.SyncBuffer

// warnings are the WARN lines of a text log.
func warnings(log string) []string {
	var w []string
	for l := range strings.Lines(log) {
		if strings.Contains(l, "level=WARN") {
			w = append(w, l)
		}
	}
	return w
}

// leaveSpool makes dir what a push to dests (in mode reliable) leaves
// when it stops: n lines spooled, of which each destination had
// acknowledged[dest] delivered.
func leaveSpool(t *testing.T, dir string, reliable bool, n int, acknowledged map[string]int, dests ...string) {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, Max: 64 << 20, Durable: reliable})
	if err != nil {
		t.Fatal(err)
	}
	var cs []*spool.Consumer
	for _, d := range dests {
		cs = append(cs, sp.Consumer(d))
	}
	if err := sp.Append(lines(0, n)); err != nil {
		t.Fatal(err)
	}
	for i, d := range dests {
		cs[i].Ack(int64(acknowledged[d] * lineLen))
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := writeRecord(dir, Record{Dests: dests, Reliable: reliable, SpoolMax: 64 << 20}); err != nil {
		t.Fatal(err)
	}
}

func dest(t *testing.T, s string) Dest {
	t.Helper()
	d, err := execssh.ParseDest(s)
	if err != nil {
		t.Fatal(err)
	}
	return Dest{Dest: d}
}

// TestRunWarnsAboutStrandedSpools: a push to B that finds, beside its
// spool, one no push runs on with lines for A (a DEST since dropped or
// corrected) warns once, naming A, what is held and the commands that
// deliver or discard it; it says nothing of a spool that holds nothing, of
// one a push runs on, or of a directory that is no spool. Lines for B in
// another spool are named too. And it records its own destinations.
func TestRunWarnsAboutStrandedSpools(t *testing.T) {
	root := t.TempDir()
	leaveSpool(t, filepath.Join(root, "old"), true, 100, nil, "loghots:/var/log/a.log")
	leaveSpool(t, filepath.Join(root, "done"), false, 50, map[string]int{"loghost:/var/log/c.log": 50}, "loghost:/var/log/c.log")
	leaveSpool(t, filepath.Join(root, "busy"), true, 10, nil, "loghost:/var/log/d.log")
	busy, err := fsutil.TryLockFile(filepath.Join(root, "busy", "lock"), "pid 42 sshlogfwd push")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	leaveSpool(t, filepath.Join(root, "both"), false, 20, map[string]int{"loghost:/var/log/e.log": 20, "loghost:/var/log/b.log": 15}, "loghost:/var/log/e.log", "loghost:/var/log/b.log")
	os.Mkdir(filepath.Join(root, "plain"), 0o700)
	os.WriteFile(filepath.Join(root, "plain", "state.json"), []byte("{}"), 0o600)

	clk := clock.NewFake(t0)
	var log syncBuffer
	remote := filepath.Join(t.TempDir(), "b.log")
	opts := Options{
		Dests:    []Dest{dest(t, "loghost:/var/log/b.log")},
		SpoolDir: filepath.Join(root, "own"), SpoolMax: 64 << 20,
		Reliable: true, AckTimeout: time.Hour, Hostname: "testhost",
		Input: bytes.NewReader(lines(0, 10)),
		Reach: &Reach{Identity: "/etc/sshlogfwd/key", Port: 2222, SSHOptions: []string{"UserKnownHostsFile=/etc/sshlogfwd/known_hosts"}},
		Clock: clk, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		supervise: fakeSupervisor(t, clk, func(l *pipeLink) func() {
			served := serveReceiver(t, l, remote)
			return func() { <-served }
		}),
	}
	select {
	case err := <-startRun(context.Background(), opts):
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(hang):
		t.Fatalf("hang: Run did not end within %v", hang)
	}
	w := warnings(log.String())
	if len(w) != 2 {
		t.Fatalf("want 2 warnings (old's a.log, both's b.log), got %d:\n%s", len(w), log.String())
	}
	old := filepath.Join(root, "old")
	for _, want := range []string{"dest=loghots:/var/log/a.log", "lines=100", "bytes=1400", "spool=" + old, "mode=reliable",
		`deliver="sshlogfwd spool deliver ` + old + `"`, `discard="sshlogfwd spool discard ` + old + `"`, `deliver_elsewhere="sshlogfwd spool deliver --to DEST ` + old + `"`} {
		if !strings.Contains(w[1]+w[0], want) {
			t.Errorf("the warnings do not say %s:\n%s", want, strings.Join(w, ""))
		}
	}
	bothWarn := w[0]
	if !strings.Contains(bothWarn, "both") {
		bothWarn = w[1]
	}
	if !strings.Contains(bothWarn, "dest=loghost:/var/log/b.log") || !strings.Contains(bothWarn, "lines=5 ") || !strings.Contains(bothWarn, "in another spool") {
		t.Errorf("the lines for b.log in another spool: %s", bothWarn)
	}
	r, err := ReadRecord(opts.SpoolDir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Dests, []string{"loghost:/var/log/b.log"}) || !r.Reliable || r.Reach.Port != 2222 || r.Reach.Identity != "/etc/sshlogfwd/key" {
		t.Errorf("recorded %+v", r)
	}
}

// TestDeliverSendsWhatTheSpoolHoldsOnce: Deliver sends a stranded
// spool's lines to its destination through the receiver, exactly once,
// and returns once they are acknowledged; a second Deliver finds nothing
// to do and starts no ssh.
func TestDeliverSendsWhatTheSpoolHoldsOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old")
	leaveSpool(t, dir, true, 1000, nil, "loghost:/var/log/a.log")
	remote := filepath.Join(t.TempDir(), "a.log")
	clk := clock.NewFake(t0)
	opts := Options{
		Dests: []Dest{dest(t, "loghost:/var/log/a.log")}, SpoolDir: dir, SpoolMax: 64 << 20,
		Reliable: true, AckTimeout: time.Hour, Mark: time.Minute, Reach: &Reach{},
		Clock: clk, Logger: slog.New(&logRecorder{t: t}),
		supervise: fakeSupervisor(t, clk, func(l *pipeLink) func() {
			served := serveReceiver(t, l, remote)
			return func() { <-served }
		}),
	}
	// Deliver reads no input: a journal is not even looked for.
	opts.Journal = &journal.Options{Journalctl: filepath.Join(t.TempDir(), "journalctl")}
	done := make(chan error, 1)
	go func() { done <- Deliver(context.Background(), opts) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(hang):
		t.Fatalf("hang: Deliver did not end within %v", hang)
	}
	if got, _ := os.ReadFile(remote); !bytes.Equal(got, lines(0, 1000)) {
		t.Errorf("the log host has %d bytes, want the 1000 lines once (%d bytes)", len(got), 1000*lineLen)
	}
	if c, _ := spool.Inspect(dir); c.Held["loghost:/var/log/a.log"].Bytes != 0 {
		t.Errorf("still held: %+v", c.Held)
	}
	if r, _ := ReadRecord(dir); r.Reach.Port != 0 || !r.Reliable {
		t.Errorf("Deliver rewrote the record: %+v", r)
	}
	opts.supervise = func(context.Context, *destination, func(context.Context, Link) bool, func(error)) error {
		t.Error("a second Deliver started ssh")
		return nil
	}
	if err := Deliver(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
}

// TestDeliverStoppedSaysWhatIsLeft: a Deliver stopped before the far side
// took anything fails, saying what stays in the spool.
func TestDeliverStoppedSaysWhatIsLeft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old")
	leaveSpool(t, dir, true, 30, nil, "loghots:/var/log/a.log")
	ctx, cancel := context.WithCancel(context.Background())
	opts := Options{
		Dests: []Dest{dest(t, "loghots:/var/log/a.log")}, SpoolDir: dir, SpoolMax: 64 << 20, Reliable: true,
		Clock: clock.NewFake(t0), Logger: slog.New(&logRecorder{t: t}),
		supervise: func(ctx context.Context, _ *destination, _ func(context.Context, Link) bool, _ func(error)) error {
			cancel() // the host never answers; the administrator gives up
			<-ctx.Done()
			return nil
		},
	}
	err := Deliver(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "30 lines (420 bytes) for loghots:/var/log/a.log") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want what stays in the spool", err)
	}
}

// TestDiscardRefusesWhileRunningThenRemoves: Discard refuses a spool a
// push holds, naming it; then removes the spool's files and the
// directory, and says what the spool held. A directory that is no spool
// is refused and left untouched.
func TestDiscardRefusesWhileRunningThenRemoves(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old")
	leaveSpool(t, dir, true, 100, nil, "loghots:/var/log/a.log")
	lock, err := fsutil.TryLockFile(filepath.Join(dir, "lock"), "pid 42 sshlogfwd push")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Discard(dir)
	var held *fsutil.HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "pid 42 sshlogfwd push") {
		t.Fatalf("Discard while held: %v, want a HeldError naming pid 42", err)
	}
	if !spool.IsSpool(dir) {
		t.Fatal("the refused Discard removed something")
	}
	lock.Close()
	d, err := Discard(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !d.DirRemoved || d.Held["loghots:/var/log/a.log"] != (spool.Held{Bytes: 1400, Lines: 100}) || !slices.Contains(d.Files, "push.json") {
		t.Errorf("Discard = %+v", d)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the directory is still there: %v", err)
	}

	plain := t.TempDir()
	os.WriteFile(filepath.Join(plain, "notes"), []byte("x"), 0o600)
	if _, err := Discard(plain); !errors.Is(err, ErrNotSpool) {
		t.Errorf("Discard of a plain directory: %v, want ErrNotSpool", err)
	}
	if ents, _ := os.ReadDir(plain); len(ents) != 1 {
		t.Errorf("the plain directory was touched: %v", ents)
	}
}

// TestDiscardLeavesForeignFiles: a file that is not the spool's stays,
// and with it the directory.
func TestDiscardLeavesForeignFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old")
	leaveSpool(t, dir, false, 5, nil, "loghost:/var/log/a.log")
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	d, err := Discard(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.DirRemoved || !slices.Equal(d.Left, []string{"notes.txt"}) {
		t.Errorf("Discard = %+v, want notes.txt left with the directory", d)
	}
}

// TestRetargetMovesTheLinesToAnotherDestination: the lines held for a
// DEST with a typo go to the corrected one, which the record then names;
// a spool with lines for two destinations, or a target it already
// delivers to, is refused.
func TestRetargetMovesTheLinesToAnotherDestination(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "old")
	leaveSpool(t, dir, true, 100, map[string]int{"loghost:/var/log/c.log": 100}, "loghots:/var/log/a.log", "loghost:/var/log/c.log")
	if _, err := Retarget(dir, "loghost:/var/log/c.log"); err == nil {
		t.Error("Retarget onto a destination the spool delivers to: no error")
	}
	from, err := Retarget(dir, "loghost:/var/log/a.log")
	if err != nil || from != "loghots:/var/log/a.log" {
		t.Fatalf("Retarget = %q, %v", from, err)
	}
	info := Describe(dir)
	if !slices.Equal(info.Record.Dests, []string{"loghost:/var/log/a.log", "loghost:/var/log/c.log"}) || info.Held["loghost:/var/log/a.log"].Lines != 100 {
		t.Errorf("after Retarget: %+v", info)
	}

	two := filepath.Join(t.TempDir(), "two")
	leaveSpool(t, two, false, 10, nil, "a:/x.log", "b:/y.log")
	if _, err := Retarget(two, "c:/z.log"); err == nil || !strings.Contains(err.Error(), "several destinations") {
		t.Errorf("Retarget with two destinations holding lines: %v", err)
	}
}

// TestListDescribesEachSpool: List finds the spool directories of a root
// (and nothing else), says which one runs and what each holds.
func TestListDescribesEachSpool(t *testing.T) {
	root := t.TempDir()
	leaveSpool(t, filepath.Join(root, "a"), true, 7, nil, "h:/a.log")
	leaveSpool(t, filepath.Join(root, "b"), false, 3, nil, "h:/b.log")
	lock, err := fsutil.TryLockFile(filepath.Join(root, "b", "lock"), "pid 42 sshlogfwd push")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	os.Mkdir(filepath.Join(root, "c"), 0o700)
	os.WriteFile(filepath.Join(root, "pull-h.cursor"), nil, 0o600)
	got, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Running || got[0].Held["h:/a.log"].Lines != 7 || got[0].Record.Mode() != "reliable" ||
		!got[1].Running || got[1].Holder != "pid 42 sshlogfwd push" || got[1].Record.Mode() != "compatible" {
		t.Errorf("List = %+v", got)
	}
}

// leaveOldSpool makes dir what an older sshlogfwd leaves: a spool like
// leaveSpool's, without a record.
func leaveOldSpool(t *testing.T, dir string, n int, dests ...string) {
	t.Helper()
	leaveSpool(t, dir, false, n, nil, dests...)
	if err := os.Remove(filepath.Join(dir, recordFile)); err != nil {
		t.Fatal(err)
	}
}

// TestUnrecordedSpoolReported: a spool of an older sshlogfwd (no
// push.json) is neither skipped by List nor by the warning at start: both
// name the directory, the lines it holds and for whom its state says, and
// `spool deliver --to DEST`, since no DEST is recorded. A spool that
// remembers no consumer still counts its lines. Retarget records the DEST
// given, in compatible mode, and hands it the lines.
func TestUnrecordedSpoolReported(t *testing.T) {
	root := t.TempDir()
	old, anon := filepath.Join(root, "old"), filepath.Join(root, "anon")
	leaveOldSpool(t, old, 100, "loghots:/var/log/a.log")
	leaveOldSpool(t, anon, 10) // killed before it saved its consumers

	got, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Unrecorded || got[0].Held[""].Lines != 10 ||
		!got[1].Unrecorded || got[1].Err != nil || got[1].Held["loghots:/var/log/a.log"].Lines != 100 {
		t.Fatalf("List = %+v", got)
	}
	var b bytes.Buffer
	WriteList(&b, root, got[1:])
	want := old + `
  stopped: nothing delivers its lines, no destination recorded (no push.json: an older sshlogfwd)
  loghots:/var/log/a.log: 100 lines (1400 bytes) held
  deliver (compatible mode, ssh's defaults): sshlogfwd spool deliver --to DEST ` + old + `
  discard: sshlogfwd spool discard ` + old + `
`
	if b.String() != want {
		t.Errorf("WriteList:\n%s\nwant:\n%s", b.String(), want)
	}

	var log bytes.Buffer
	e := &engine{opts: Options{SpoolDir: filepath.Join(root, "own")}, log: slog.New(slog.NewTextHandler(&log, nil))}
	e.warnStranded()
	w := warnings(log.String())
	if len(w) != 2 {
		t.Fatalf("want 2 warnings (old, anon), got %d:\n%s", len(w), log.String())
	}
	for _, want := range []string{"spool=" + old, "held_for=loghots:/var/log/a.log", "lines=100", "bytes=1400", "no push.json",
		`deliver="sshlogfwd spool deliver --to DEST ` + old + `"`, `discard="sshlogfwd spool discard ` + old + `"`} {
		if !strings.Contains(w[1], want) {
			t.Errorf("the warning does not say %s:\n%s", want, w[1])
		}
	}
	if !strings.Contains(w[0], "spool="+anon) || !strings.Contains(w[0], "lines=10 ") {
		t.Errorf("the warning about a spool that remembers no consumer: %s", w[0])
	}

	for dir, from := range map[string]string{old: "loghots:/var/log/a.log", anon: ""} {
		f, err := Retarget(dir, "loghost:/var/log/a.log")
		if err != nil || f != from {
			t.Fatalf("Retarget(%s) = %q, %v", dir, f, err)
		}
		info := Describe(dir)
		if info.Unrecorded || !slices.Equal(info.Record.Dests, []string{"loghost:/var/log/a.log"}) || info.Record.Reliable ||
			info.Held["loghost:/var/log/a.log"].Bytes == 0 {
			t.Errorf("after Retarget of %s: %+v", dir, info)
		}
	}
}
