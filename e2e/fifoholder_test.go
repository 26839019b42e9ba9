package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/pipe"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// The FIFO outlives push: the fault tests of the socket unit
// (contrib/systemd/sshlogfwd-push@.socket). push is killed -9 at random
// moments, 0.5-1.5 s apart, at least holderKills times, and started again
// at once, while a writer that behaves like a syslog daemon that must not
// block goes on at holderRate lines/s: it opens the FIFO write-only and
// non-blocking, drops a line that finds the pipe full or no reader, and
// closes the pipe on EPIPE and opens it again (testlab Drop + Reopen).
// Nobody pauses, nobody waits for the FIFO to be read empty. With the
// holder, the test holds the FIFO read-write and never reads it, as
// systemd does for the socket unit, and passes it to each push the way
// systemd does (LISTEN_FDS, LISTEN_PID, descriptor 3).

const (
	holderKills = 30
	holderRate  = 2000
)

// fifoHolderCase varies the fault test.
type fifoHolderCase struct {
	reliable bool // push --reliable into receive (forced command), else cat >>
	holder   bool // the FIFO held and passed as the socket unit does
	// heldByPath: the FIFO held read-write for the whole test by something
	// that never reads (ListenFIFO= without the descriptor passed), push
	// opening it by path; the pipe keeps the size the first push gives it.
	heldByPath bool
}

// kills is how many times push is killed: TestPushFIFOKilled* (held by
// path) were measured with fifoKills, the holder tests with holderKills.
func (c fifoHolderCase) kills() int {
	if c.heldByPath {
		return fifoKills
	}
	return holderKills
}

// fifoHolderResult is what one run measured.
type fifoHolderResult struct {
	testlab.Report
	kills, lines, dropped int
	lost                  int // lines the writer put into the FIFO that never arrived
	early                 int // kills of a push whose ssh had not connected yet
}

// TestFIFOHolderReliable: with the FIFO held, reliable push loses nothing
// to its restarts, and drops, repeats, reorders and tears nothing. Its
// input is moved from the FIFO into the spool with splice(2) (pipe.Source),
// so no byte is ever only in push's memory, where a kill would take it
// along (docs/guarantees.md, "Reading a FIFO across a kill -9 of push").
func TestFIFOHolderReliable(t *testing.T) {
	// Not parallel: 30 kills at random moments measure push's restart, which
	// a machine loaded by the other e2e tests stretches past the pipe's room.
	r := runFIFOHolder(t, fifoHolderCase{reliable: true, holder: true})
	if r.dropped != 0 || r.lost != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Torn != 0 {
		t.Errorf("with the FIFO held: dropped %d, lost %d, duplicated %d, out of order %d, torn %d; want 0 each; missing %s",
			r.dropped, r.lost, r.Duplicated, r.OutOfOrder, r.Torn, r.Gaps(8))
	}
}

// TestFIFOHolderReliableWithoutHolder: the same without the holder (push
// opens --fifo by path, the writer is alone with it while push is dead).
// What the writer drops and what dies with the pipe is reported; only
// duplicates and reordering are failures.
func TestFIFOHolderReliableWithoutHolder(t *testing.T) {
	// Not parallel: 30 kills at random moments measure push's restart, which
	// a machine loaded by the other e2e tests stretches past the pipe's room.
	r := runFIFOHolder(t, fifoHolderCase{reliable: true})
	if r.Duplicated != 0 || r.OutOfOrder != 0 {
		t.Errorf("without a holder: duplicated %d, out of order %d; want 0 each", r.Duplicated, r.OutOfOrder)
	}
}

// TestFIFOHolderCompat: compatible push (cat >>) with the FIFO held: the
// writer drops nothing, and no line comes twice. A kill -9 of push leaves
// its ssh child running, which delivers what it had accepted and ends;
// what push had taken from the FIFO but not handed to ssh is in the spool's
// files (moved there with splice(2)), and how much of it ssh took is
// counted by the kernel (pipe.Feed). Lost lines, and lines torn where the
// dying session's cat and the next one append at once, are reported, not
// asserted (TestPushFIFOKilledCompat asserts no loss).
func TestFIFOHolderCompat(t *testing.T) {
	// Not parallel: 30 kills at random moments measure push's restart, which
	// a machine loaded by the other e2e tests stretches past the pipe's room.
	r := runFIFOHolder(t, fifoHolderCase{holder: true})
	if r.dropped != 0 || r.Duplicated != 0 {
		t.Errorf("with the FIFO held: the writer dropped %d lines, %d duplicated; want 0 each", r.dropped, r.Duplicated)
	}
}

// runFIFOHolder runs one fault test and reports what arrived.
func runFIFOHolder(t *testing.T, c fifoHolderCase) fifoHolderResult {
	t.Helper()
	l := newHolderLab(t, c)
	p := l.start(t)
	if c.heldByPath {
		// The first push enlarges the pipe; the holder keeps it that size.
		testlab.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(string(readFile(l.log)), "reading fifo") }, "push to open the fifo")
	}
	w := testlab.OpenWriter(t, l.fifo, os.O_WRONLY, 0, relLines, testlab.WriterOptions{Mode: testlab.Drop, Reopen: true, Tick: time.Millisecond})
	w.Start(t, 0, holderRate, nil)
	if c.holder {
		l.checkChildInheritsNothing(t, p)
	}
	res := fifoHolderResult{}
	connects := 0
	for res.kills < c.kills() {
		time.Sleep(500*time.Millisecond + rand.N(time.Second))
		if n := countLog(readFile(l.log), "connected to"); n == connects {
			res.early++
		} else {
			connects = n
		}
		syscall.Kill(p.Pid(), syscall.SIGKILL)
		<-p.done
		var ee *exec.ExitError
		if !errors.As(p.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("push ended by itself before kill %d: %v\n%s", res.kills+1, p.err, tail(readFile(l.log), 30))
		}
		res.kills++
		p = l.start(t)
	}
	time.Sleep(2 * time.Second) // the last push runs undisturbed
	w.Stop(t)
	res.lines, res.dropped = w.Next(), w.Dropped()
	_, res.Report = waitLines(t, relLines, func() []byte { return readFile(l.remote) }, res.lines, 90*time.Second)
	res.lost = res.Lost - res.dropped
	mode, held := "cat >>", "held read-write by a holder that never reads (the socket unit)"
	if c.reliable {
		mode = "--reliable"
	}
	switch {
	case c.heldByPath:
		held = "held read-write by a holder that never reads, push opening it by path"
	case !c.holder:
		held = "not held (push opens --fifo by path)"
	}
	t.Logf("push %s killed -9 %d times 0.5-1.5 s apart (%d before its ssh had connected) and restarted at once; FIFO %s; %d lines at %d/s from a non-blocking writer: writer dropped %d, lost %d, duplicated %d, out of order %d, torn %d, other %d; missing %s",
		mode, res.kills, res.early, held, res.lines, holderRate, res.dropped, res.lost, res.Duplicated, res.OutOfOrder, res.Torn, len(res.Other), res.Gaps(12))
	return res
}

// holderLab is a log host that receives one file and the local side of a
// push whose FIFO may be held.
type holderLab struct {
	c                             fifoHolderCase
	sshd                          *testlab.SSHD
	remote, fifo, spool, log, bin string
	args                          []string // push's flags and DEST
	holder                        *os.File // the socket unit's descriptor, if held
}

func newHolderLab(t *testing.T, c fifoHolderCase) *holderLab {
	t.Helper()
	l := &holderLab{c: c, bin: testlab.Binary(t)}
	if c.reliable {
		rl := newRelLab(t, relLabOptions{})
		l.sshd, l.remote, l.fifo, l.spool, l.log = rl.SSHD, rl.Remote, rl.FIFO, rl.Spool, rl.Log
		l.args = []string{"--reliable", "--ack-timeout", "10s", rl.dest()}
	} else {
		pl := newPushLab(t, "host.log")
		l.sshd, l.remote, l.fifo, l.spool, l.log = pl.SSHD, pl.Remote, pl.FIFO, pl.Spool, pl.Log
		l.args = []string{"loghost:" + pl.Remote}
	}
	l.args = append([]string{"--fifo", l.fifo, "--spool", l.spool, "--mark", "0"}, l.args...)
	switch {
	case c.holder:
		l.holder = holdFIFOAsSystemd(t, l.fifo)
	case c.heldByPath:
		holdFIFO(t, l.fifo)
	}
	return l
}

// holdFIFOAsSystemd makes the FIFO and holds it as the socket unit does:
// mkfifo with SocketMode=0620, opened O_RDWR|O_NONBLOCK, PipeSize=1M.
func holdFIFOAsSystemd(t *testing.T, path string) *os.File {
	t.Helper()
	if err := unix.Mkfifo(path, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o620)
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	pipe.Grow(f, 1<<20)
	return f
}

// holdFIFO makes the FIFO and holds it read-write until the test ends.
func holdFIFO(t *testing.T, path string) {
	t.Helper()
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// start starts a push: with the holder, as systemd starts the service of
// a socket unit (the FIFO as descriptor 3, LISTEN_FDS, LISTEN_PID of the
// process itself, LISTEN_FDNAMES); without, by path.
func (l *holderLab) start(t *testing.T) *pushProc {
	t.Helper()
	args := pushArgs(l.sshd, l.log, l.args...)
	if l.holder == nil {
		return runPush(t, exec.Command(l.bin, args...), l.log)
	}
	return runPush(t, systemdCommand(l.bin, args, l.holder), l.log)
}

// systemdCommand runs bin with args the way systemd runs a socket
// unit's service: passed as descriptor 3, with LISTEN_PID set to the pid
// of the process that runs bin (the shell execs it).
func systemdCommand(bin string, args []string, passed *os.File) *exec.Cmd {
	cmd := exec.Command("/bin/sh", append([]string{"-c", `export LISTEN_PID=$$; exec "$0" "$@"`, bin}, args...)...)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=sshlogfwd-push@test.socket")
	cmd.ExtraFiles = []*os.File{passed}
	return cmd
}

// checkChildInheritsNothing: push took the FIFO from the LISTEN_ variables
// and its ssh child has neither them nor a descriptor of the FIFO (which
// would hold the pipe open beyond push and its child's life).
func (l *holderLab) checkChildInheritsNothing(t *testing.T, p *pushProc) {
	t.Helper()
	testlab.WaitFor(t, 30*time.Second, func() bool { return p.sshChild() != 0 }, "push's first ssh child")
	if !strings.Contains(string(readFile(l.log)), "passed_by=systemd") {
		t.Errorf("push did not take the FIFO from systemd:\n%s", tail(readFile(l.log), 20))
	}
	ssh := p.sshChild()
	proc := fmt.Sprintf("/proc/%d/", ssh)
	env, _ := os.ReadFile(proc + "environ")
	if strings.Contains(string(env), "LISTEN_") {
		t.Errorf("ssh child %d inherited LISTEN_ variables", ssh)
	}
	fi, err := os.Stat(l.fifo)
	if err != nil {
		t.Fatal(err)
	}
	fifo, _ := fsutil.IDOf(fi)
	fds, _ := os.ReadDir(proc + "fd")
	for _, fd := range fds {
		if fi, err := os.Stat(proc + "fd/" + fd.Name()); err == nil {
			if id, _ := fsutil.IDOf(fi); id == fifo {
				t.Errorf("ssh child %d holds the FIFO as descriptor %s", ssh, fd.Name())
			}
		}
	}
}

// TestFIFOHolderMismatch: a descriptor systemd passes that is not the FIFO
// --fifo names (the socket unit's ListenFIFO= and SSHLOGFWD_FIFO disagree)
// stops push with a usage error that says so, before it reads anything.
func TestFIFOHolderMismatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	named, other := filepath.Join(dir, "named.fifo"), filepath.Join(dir, "other.fifo")
	if err := unix.Mkfifo(named, 0o620); err != nil {
		t.Fatal(err)
	}
	passed := holdFIFOAsSystemd(t, other)
	cmd := systemdCommand(testlab.Binary(t), []string{"push", "--fifo", named, "--spool", filepath.Join(dir, "spool"), "loghost:/var/log/x.log"}, passed)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--fifo") || !strings.Contains(string(out), named) || !strings.Contains(string(out), "ListenFIFO=") {
		t.Errorf("push given another FIFO than --fifo: %v\n%s\nwant exit status 2 and a message naming --fifo, %s and ListenFIFO=", err, out, named)
	}
}
