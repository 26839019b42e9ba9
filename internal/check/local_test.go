package check

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// wantReport checks a report of one line: OK or FAIL, and the words it
// must contain.
func wantReport(t *testing.T, what, out string, failed int, ok bool, words ...string) {
	t.Helper()
	verdict := "FAIL  "
	if ok {
		verdict = "OK    "
	}
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, verdict) || (failed == 0) != ok {
		t.Errorf("%s: %q, want one %sline", what, out, verdict)
		return
	}
	for _, w := range words {
		if !strings.Contains(out, w) {
			t.Errorf("%s: %q lacks %q", what, out, w)
		}
	}
}

// needRoot skips a test that must hand files to other users.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to chown files to other users")
	}
}

// uidOf is the uid of a user every Debian system has.
func uidOf(t *testing.T, name string) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %s: %v", name, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func TestCheckKeyFileModes(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	os.WriteFile(key, []byte("not parsed for modes"), 0o600)
	for _, tt := range []struct {
		mode os.FileMode
		want []string
	}{
		{0o644, []string{"FAIL  key " + key + ": readable by every user", "mode 0644", "Fix: chmod 600 " + key, "consider the key stolen"}},
		{0o604, []string{"readable by every user", "Fix: chmod 600 " + key}},
		{0o620, []string{"writable by others", "Fix: chmod 600 " + key}},
		{0o602, []string{"writable by others"}},
		{0o640, []string{"ssh ignores", "Fix: chmod 600 " + key}},
	} {
		os.Chmod(key, tt.mode)
		out, failed := reportOf(func(r *report) { checkKeyFile(r, key, "ssh") })
		wantReport(t, "mode "+strconv.FormatUint(uint64(tt.mode), 8), out, failed, false, tt.want...)
	}
	out, failed := reportOf(func(r *report) { checkKeyFile(r, filepath.Join(dir, "missing"), "ssh") })
	wantReport(t, "missing key", out, failed, false, "no such file", "-i FILE")
	out, failed = reportOf(func(r *report) { checkKeyFile(r, dir, "ssh") })
	wantReport(t, "directory as key", out, failed, false, "not a regular file")
}

// A real key: without passphrase it passes; with one, nobody could type
// it when push runs unattended.
func TestCheckKeyFilePassphrase(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("no ssh-keygen")
	}
	dir := t.TempDir()
	plain, locked := filepath.Join(dir, "plain"), filepath.Join(dir, "locked")
	for key, pass := range map[string]string{plain: "", locked: "secret"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-a", "1", "-N", pass, "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	sshPath := filepath.Join(filepath.Dir(keygen), "ssh") // ssh-keygen is looked up beside it
	out, failed := reportOf(func(r *report) { checkKeyFile(r, plain, sshPath) })
	wantReport(t, "key without passphrase", out, failed, true, "mode 0600", "no passphrase")
	out, failed = reportOf(func(r *report) { checkKeyFile(r, locked, sshPath) })
	wantReport(t, "key with passphrase", out, failed, false, "has a passphrase", "ssh-keygen -t ed25519 -N '' -f "+locked)
}

func TestCheckFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "f")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "r")
	os.WriteFile(regular, nil, 0o600)
	for _, tt := range []struct {
		path   string
		mode   os.FileMode
		create os.FileMode
		user   string
		ok     bool
		want   []string
	}{
		{path: fifo, mode: 0o620, user: "root", ok: true, want: []string{"a FIFO, mode 0620", "writable by root", "readable only by its owner"}},
		{path: fifo, mode: 0o640, user: "root", want: []string{"others can read it (mode 0640)", "Fix: chmod go-r " + fifo}},
		{path: fifo, mode: 0o604, user: "root", want: []string{"others can read"}},
		{path: fifo, mode: 0o666, user: "root", want: []string{"others can read it (mode 0666)"}},
		{path: fifo, mode: 0o622, user: "root", want: []string{"every user can write it", "Fix: chmod o-w " + fifo}},
		{path: fifo, mode: 0o600, user: "no-such-user-here", want: []string{"unknown user no-such-user-here", "give --syslog-user"}},
		{path: regular, user: "root", want: []string{"not a FIFO but a regular file", "let push create the FIFO"}},
		{path: filepath.Join(dir, "new.fifo"), create: 0o620, user: "root", ok: true, want: []string{"does not exist yet", "mode 0620"}},
		{path: filepath.Join(dir, "new.fifo"), create: 0o644, user: "root", want: []string{"would let others", "--fifo-mode 0620"}},
		{path: filepath.Join(dir, "new.fifo"), create: 0o622, user: "root", want: []string{"would let others"}},
		{path: filepath.Join(dir, "no", "dir", "f"), create: 0o620, user: "root", want: []string{"cannot create it"}},
	} {
		if tt.path == fifo {
			os.Chmod(fifo, tt.mode)
		}
		out, failed := reportOf(func(r *report) { checkFIFO(r, tt.path, tt.create, tt.user) })
		wantReport(t, tt.path+" mode "+strconv.FormatUint(uint64(tt.mode), 8)+" user "+tt.user, out, failed, tt.ok, tt.want...)
	}
}

// The syslog daemon's user must be able to write the FIFO, as its owner,
// through its group, or not at all: then the fix gives it the group and
// the group the permission.
func TestCheckFIFOWriter(t *testing.T) {
	needRoot(t)
	nobody, nogroup := uidOf(t, "nobody")
	daemon, _ := uidOf(t, "daemon")
	fifo := filepath.Join(openDir(t), "f")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
		ok       bool
		want     []string
	}{
		{"another user owns it", daemon, 0, 0o600, false, []string{"the syslog daemon (user nobody) cannot write it", "neither the owner nor in the group", "Fix: chmod g+w " + fifo + " and usermod -aG root nobody, then restart the syslog daemon", "--syslog-user"}},
		{"owner without u+w", nobody, 0, 0o400, false, []string{"it is the owner but the mode lacks u+w"}},
		{"owner", nobody, 0, 0o600, true, []string{"owner nobody", "writable by nobody"}},
		{"group without g+w", 0, nogroup, 0o600, false, []string{"it is in the group but the mode lacks g+w", "Fix: chmod g+w " + fifo + " ("}},
		{"group", 0, nogroup, 0o620, true, []string{"owner root", "writable by nobody"}},
	} {
		if err := os.Chown(fifo, tt.uid, tt.gid); err != nil {
			t.Fatal(err)
		}
		os.Chmod(fifo, tt.mode)
		out, failed := reportOf(func(r *report) { checkFIFO(r, fifo, 0, "nobody") })
		wantReport(t, tt.name, out, failed, tt.ok, tt.want...)
	}
}

// A syslog daemon that may write the FIFO must also reach it: every
// directory above it must let it in (the issue: /run/sshlogfwd is 0750
// sshlogfwd:sshlogfwd, and chmod g+w on the FIFO alone does not help).
// A FIFO push has yet to create is judged as push will create it.
func TestCheckFIFODirectory(t *testing.T) {
	needRoot(t)
	_, nogroup := uidOf(t, "nobody")
	for _, tt := range []struct {
		name    string
		dirGID  int
		dirMode os.FileMode
		exists  bool
		ok      bool
		want    []string
	}{
		{"group may enter", nogroup, 0o750, true, true, []string{"writable by nobody"}},
		{"not in the directory's group", 0, 0o750, true, false, []string{"cannot reach it: it may not enter", "(owner root, group root, mode 0750)", "usermod -aG root nobody", "RuntimeDirectoryMode=0750"}},
		{"group may not enter", nogroup, 0o700, true, false, []string{"cannot reach it", "Fix: chmod g+x"}},
		{"to be created, not in our group", nogroup, 0o750, false, false, []string{"(to be created)", "cannot write it", "usermod -aG root nobody"}},
	} {
		dir := filepath.Join(openDir(t), "run")
		os.Mkdir(dir, tt.dirMode)
		os.Chmod(dir, tt.dirMode)
		os.Chown(dir, 0, tt.dirGID)
		fifo := filepath.Join(dir, "push.fifo")
		if tt.exists {
			syscall.Mkfifo(fifo, 0)
			os.Chmod(fifo, 0o620)
			os.Chown(fifo, 0, nogroup)
		}
		out, failed := reportOf(func(r *report) { checkFIFO(r, fifo, 0o620, "nobody") })
		wantReport(t, tt.name, out, failed, tt.ok, tt.want...)
		if !tt.ok && !strings.Contains(out, dir) {
			t.Errorf("%s: %q does not name %s", tt.name, out, dir)
		}
	}
}

// openDir is a new directory that every user may enter, as may its
// parents (t.TempDir's are private).
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return dir
}

func TestCheckReadable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "auth.log")
	os.WriteFile(file, []byte("x\n"), 0o640)
	for _, tt := range []struct {
		path string
		ok   bool
		want string
	}{
		{file, true, "a regular file, readable"},
		{filepath.Join(dir, "missing.log"), false, "does not exist (push would wait for it)"},
		{dir, false, "not a regular file but a directory"},
	} {
		out, failed := reportOf(func(r *report) { checkReadable(r, "--file "+tt.path, tt.path) })
		wantReport(t, tt.path, out, failed, tt.ok, "--file "+tt.path+": ", tt.want)
	}
}

func TestCheckPrivateDir(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o755)
	closed := filepath.Join(dir, "closed")
	os.Mkdir(closed, 0o700)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	for _, tt := range []struct {
		path string
		ok   bool
		want []string
	}{
		{closed, true, []string{"a directory, writable, mode 0700"}},
		{filepath.Join(closed, "a", "b"), true, []string{"will be created with mode 0700"}},
		{open, false, []string{"every user can read it (mode 0755)", "Fix: chmod 700 " + open}},
		{file, false, []string{"not a directory but a regular file"}},
		{filepath.Join(file, "sub"), false, []string{"--spool " + filepath.Join(file, "sub")}},
	} {
		out, failed := reportOf(func(r *report) { checkPrivateDir(r, "--spool "+tt.path, tt.path) })
		wantReport(t, tt.path, out, failed, tt.ok, tt.want...)
	}
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private.log")
	os.WriteFile(private, nil, 0o640)
	public := filepath.Join(dir, "public.log")
	os.WriteFile(public, nil, 0o644)
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o600)
	for _, tt := range []struct {
		path string
		ok   bool
		want []string
	}{
		{private, true, []string{"a regular file, writable, mode 0640"}},
		{filepath.Join(dir, "new.log"), true, []string{"does not exist yet; it will be created"}},
		{public, false, []string{"every user can read it (mode 0644)", "Fix: chmod o-r " + public}},
		{dir, false, []string{"not a regular file but a directory", "Fix: give a file"}},
		{fifo, false, []string{"not a regular file but a FIFO"}},
		{filepath.Join(dir, "no", "such", "out.log"), false, []string{"cannot create it in " + filepath.Join(dir, "no", "such"), "Fix: install -d -o root -g root -m 0750 " + filepath.Join(dir, "no", "such")}},
	} {
		out, failed := reportOf(func(r *report) { checkOutput(r, "--output "+tt.path, tt.path) })
		wantReport(t, tt.path, out, failed, tt.ok, append([]string{"--output " + tt.path + ": "}, tt.want...)...)
	}
}
