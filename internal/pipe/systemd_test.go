package pipe

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a process started by systemd (see os/exec's
// tests): with PIPE_TEST_ROLE=launch it does what systemd does after
// fork, setting LISTEN_PID to its own pid (or to PIPE_TEST_PID) and
// executing itself again, descriptors and all, as PIPE_TEST_ROLE=take,
// which calls FromSystemd and reports on its standard output.
func TestMain(m *testing.M) {
	switch os.Getenv("PIPE_TEST_ROLE") {
	case "launch":
		launch()
	case "take":
		take()
	default:
		os.Exit(m.Run())
	}
}

func launch() {
	pid := os.Getenv("PIPE_TEST_PID")
	if pid == "" {
		pid = strconv.Itoa(os.Getpid())
	}
	os.Setenv("LISTEN_PID", pid)
	os.Setenv("PIPE_TEST_ROLE", "take")
	err := syscall.Exec(os.Args[0], os.Args, os.Environ())
	os.Stderr.WriteString("exec: " + err.Error() + "\n")
	os.Exit(3)
}

// takeReport is what the child saw.
type takeReport struct {
	Nil          bool     // FromSystemd returned no FIFO
	Err          string   // and this error
	NotPassed    bool     // errors.Is(err, ErrNotPassed)
	Unsafe       bool     // errors.Is(err, ErrUnsafe)
	Env          []string // LISTEN_* variables left afterwards
	CloseOnExec  bool     // descriptor 3 is close-on-exec afterwards
	Size         int      // the FIFO's pipe buffer
	Data         string   // what the first read returned
	ReadAfterErr string   // a second read, with no writer but ours: must time out, not end
}

func take() {
	var r takeReport
	f, err := FromSystemd(os.Getenv("PIPE_TEST_FIFO"))
	r.Nil = f == nil
	if err != nil {
		r.Err, r.NotPassed, r.Unsafe = err.Error(), errors.Is(err, ErrNotPassed), errors.Is(err, ErrUnsafe)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LISTEN_") {
			r.Env = append(r.Env, kv)
		}
	}
	if fl, err := unix.FcntlInt(3, unix.F_GETFD, 0); err == nil {
		r.CloseOnExec = fl&unix.FD_CLOEXEC != 0
	}
	if f != nil {
		r.Size = f.Size()
		buf := make([]byte, 100)
		f.SetReadDeadline(time.Now().Add(10 * time.Second)) // only catches a hang
		n, _ := f.Read(buf)
		r.Data = string(buf[:n])
		f.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := f.Read(buf); err != nil {
			r.ReadAfterErr = err.Error()
		}
	}
	json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}

// runTaker starts the test binary as systemd starts a socket-activated
// service: passed as descriptor 3, LISTEN_FDS=1 and LISTEN_FDNAMES, and
// LISTEN_PID = the child's own pid unless pid is given. fifo is the path
// the child's FromSystemd is asked for.
func runTaker(t *testing.T, fifo string, passed *os.File, pid string) takeReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // only catches a hang
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PIPE_TEST_ROLE=launch", "PIPE_TEST_FIFO="+fifo, "PIPE_TEST_PID="+pid,
		"LISTEN_FDS=1", "LISTEN_FDNAMES=sshlogfwd-push@test.socket")
	cmd.ExtraFiles = []*os.File{passed}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var r takeReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child's report %q: %v", out, err)
	}
	return r
}

// holdFIFO makes a FIFO at path with mode and opens it as a socket unit
// does (ListenFIFO=: O_RDWR|O_NONBLOCK), or with flag if not 0.
func holdFIFO(t *testing.T, path string, mode uint32, flag int) *os.File {
	t.Helper()
	if err := unix.Mkfifo(path, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, os.FileMode(mode))
	if flag == 0 {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFromSystemdTakesThePassedFIFO: the FIFO systemd passed is taken with
// what waits in it, reads never end when no writer is left (it is held
// read-write), and the child's own children inherit neither the
// descriptor nor the variables.
func TestFromSystemdTakesThePassedFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "push.fifo")
	held := holdFIFO(t, path, 0o620, 0)
	if _, err := held.Write([]byte("written before push started\n")); err != nil {
		t.Fatal(err)
	}
	r := runTaker(t, path, held, "")
	if r.Nil || r.Err != "" {
		t.Fatalf("FromSystemd = nil %v, %s; want the passed FIFO", r.Nil, r.Err)
	}
	if r.Data != "written before push started\n" {
		t.Errorf("first read %q, want what waited in the pipe", r.Data)
	}
	if !strings.Contains(r.ReadAfterErr, "timeout") {
		t.Errorf("read with no writer: %q, want it to block until the deadline (no EOF)", r.ReadAfterErr)
	}
	if len(r.Env) != 0 || !r.CloseOnExec {
		t.Errorf("afterwards LISTEN_ variables %q, descriptor 3 close-on-exec %v; want none and true (ssh must inherit neither)", r.Env, r.CloseOnExec)
	}
	if r.Size < 64<<10 {
		t.Errorf("pipe buffer %d, want at least 64 KiB", r.Size)
	}
}

// TestFromSystemdNotForUs: variables meant for another process (LISTEN_PID
// not ours) pass nothing, as sd_listen_fds(3) says; they are removed all
// the same.
func TestFromSystemdNotForUs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "push.fifo")
	r := runTaker(t, path, holdFIFO(t, path, 0o620, 0), "1")
	if !r.Nil || r.Err != "" || len(r.Env) != 0 {
		t.Errorf("FromSystemd with LISTEN_PID=1: nil %v, %q, variables left %q; want nil, no error, none left", r.Nil, r.Err, r.Env)
	}
}

// TestFromSystemdRefusesWhatIsNotTheFIFO: a descriptor of another FIFO,
// of the FIFO opened read-only, or of a FIFO others may use is refused
// with a message that says what was passed; push then stops with a usage
// error rather than read something else.
func TestFromSystemdRefusesWhatIsNotTheFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "push.fifo")
	wide := filepath.Join(dir, "wide.fifo")
	if err := unix.Mkfifo(fifo, 0o620); err != nil {
		t.Fatal(err)
	}
	readOnly, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer readOnly.Close()
	for _, tt := range []struct {
		name, path string
		passed     *os.File
		wantErr    error
		wantInText string
	}{
		{"another FIFO", fifo, holdFIFO(t, filepath.Join(dir, "other.fifo"), 0o620, 0), ErrNotPassed, "descriptor 3 (sshlogfwd-push@test.socket: a FIFO"},
		{"read-only", fifo, readOnly, ErrNotPassed, "not open read-write"},
		{"open to others", wide, holdFIFO(t, wide, 0o666, 0), ErrUnsafe, "chmod o-rw"},
	} {
		r := runTaker(t, tt.path, tt.passed, "")
		gotErr := map[error]bool{ErrNotPassed: r.NotPassed, ErrUnsafe: r.Unsafe}[tt.wantErr]
		if !r.Nil || !gotErr || !strings.Contains(r.Err, tt.path) || !strings.Contains(r.Err, tt.wantInText) {
			t.Errorf("%s: FromSystemd = nil %v, %q; want %v naming %s and %q", tt.name, r.Nil, r.Err, tt.wantErr, tt.path, tt.wantInText)
		}
	}
}

// TestFromSystemdWithoutVariables: nothing passed, nothing done; a
// malformed LISTEN_FDS for us is an error, and the variables go either way.
func TestFromSystemdWithoutVariables(t *testing.T) {
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	if f, err := FromSystemd("/nonexistent.fifo"); f != nil || err != nil {
		t.Errorf("FromSystemd without variables = %v, %v; want nil, nil", f, err)
	}
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("LISTEN_FDS", "three")
	if f, err := FromSystemd("/nonexistent.fifo"); f != nil || !errors.Is(err, ErrNotPassed) {
		t.Errorf("FromSystemd with LISTEN_FDS=three = %v, %v; want ErrNotPassed", f, err)
	}
	if v, ok := os.LookupEnv("LISTEN_FDS"); ok {
		t.Errorf("LISTEN_FDS=%q left in the environment", v)
	}
}
