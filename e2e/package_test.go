package e2e

import (
	"bytes"
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// What the .deb installs, and what its maintainer scripts create.
var (
	pkgFiles = []string{
		"/usr/bin/sshlogfwd",
		"/usr/share/man/man1/sshlogfwd.1.gz",
		"/usr/lib/systemd/system/sshlogfwd-push@.service",
		"/usr/lib/systemd/system/sshlogfwd-push@.socket",
		"/usr/lib/systemd/system/sshlogfwd-journal@.service",
		"/usr/lib/systemd/system/sshlogfwd-pull@.service",
		"/usr/share/doc/sshlogfwd/README.md",
		"/usr/share/doc/sshlogfwd/docs/setup.md",
		"/usr/share/doc/sshlogfwd/docs/security.md",
		"/usr/share/doc/sshlogfwd/contrib/authorized_keys.example",
		"/usr/share/doc/sshlogfwd/contrib/rsyslog.d/sshlogfwd.conf",
		"/usr/share/doc/sshlogfwd/contrib/syslog.conf.example",
		"/usr/share/doc/sshlogfwd/contrib/logrotate/sshlogfwd",
	}
	pkgConfigDir = "/etc/sshlogfwd"
	pkgStateDir  = "/var/lib/sshlogfwd"
	pkgLogDir    = "/var/log/sshlogfwd"
)

// pkgLock keeps two runs of TestPackage (two go test processes, two
// checkouts on one machine) from installing and purging over each other.
const pkgLock = "/run/lock/sshlogfwd-package-test.lock"

// TestPackage builds the packages with scripts/package.sh, installs the
// .deb on this machine with dpkg, checks the files, the user, `sshlogfwd
// version`, `man -w sshlogfwd` and the units (systemd-analyze verify), then
// removes and purges it and checks what is left; the .rpm's file list is
// checked with rpm -qlp. It changes the real system, so it runs only as
// root, only one at a time, only where no sshlogfwd package, file or user
// is in the way, and purges (and removes the user it made) on every path.
func TestPackage(t *testing.T) {
	testlab.RequireRoot(t, "installing a package")
	for _, bin := range []string{"/usr/bin/dpkg", "/usr/bin/rpm", "/usr/bin/man", systemdAnalyze} {
		testlab.RequireBinary(t, bin)
	}
	lockPackageTest(t)
	userExisted := refuseInstalled(t)
	t.Cleanup(func() { cleanupPackage(t, userExisted) })

	start := time.Now()
	deb, rpm := buildPackages(t)
	t.Logf("scripts/package.sh: %v", time.Since(start).Round(time.Millisecond))
	checkRPM(t, rpm)
	version := strings.TrimSpace(string(runOK(t, "dpkg-deb", "-f", deb, "Version")))

	runOK(t, "dpkg", "-i", deb)
	checkInstalledFiles(t)
	checkInstalledUser(t)
	checkInstalledCommands(t, version)
	checkInstalledUnits(t)

	// What an administrator puts there, and what the units fill.
	os.WriteFile(filepath.Join(pkgConfigDir, "push.env"), []byte("SSHLOGFWD_DEST=loghost:/var/log/remote/web1.log\n"), 0o640)
	os.WriteFile(filepath.Join(pkgStateDir, "state.json"), []byte("{}"), 0o600)
	os.MkdirAll(pkgLogDir, 0o750)
	os.WriteFile(filepath.Join(pkgLogDir, "web1.log"), []byte("pulled line\n"), 0o640)

	runOK(t, "dpkg", "-r", "sshlogfwd")
	for _, p := range pkgFiles {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after dpkg -r: %s is still there (%v)", p, err)
		}
	}
	for _, p := range []string{pkgConfigDir + "/push.env", pkgStateDir + "/state.json"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dpkg -r (not a purge) removed %s: %v", p, err)
		}
	}

	out := runOK(t, "dpkg", "--purge", "sshlogfwd")
	for _, p := range []string{pkgConfigDir, pkgStateDir} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after dpkg --purge: %s is still there (%v)", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(pkgLogDir, "web1.log")); err != nil || !bytes.Contains(out, []byte("kept /var/log/sshlogfwd")) {
		t.Errorf("dpkg --purge: the pulled logs in %s must stay, and it must say so: %v\n%s", pkgLogDir, err, out)
	}
	if _, err := user.Lookup("sshlogfwd"); err != nil {
		t.Errorf("dpkg --purge removed the user sshlogfwd (files it owns may remain): %v", err)
	}
	if st := dpkgStatus(t); st != "" {
		t.Errorf("after dpkg --purge the package is %q, want unknown to dpkg", st)
	}
}

// buildPackages runs scripts/package.sh into a temporary directory.
func buildPackages(t *testing.T) (deb, rpm string) {
	t.Helper()
	dist := t.TempDir()
	runIn(t, "..", []string{"DIST=" + dist}, "./scripts/package.sh")
	debs, _ := filepath.Glob(filepath.Join(dist, "sshlogfwd_*_amd64.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dist, "sshlogfwd-*.x86_64.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("scripts/package.sh made %q and %q, want one .deb and one .rpm", debs, rpms)
	}
	for _, p := range []string{debs[0], rpms[0], filepath.Join(dist, "sshlogfwd")} {
		fi, _ := os.Stat(p)
		t.Logf("%s: %d bytes", filepath.Base(p), fi.Size())
	}
	return debs[0], rpms[0]
}

// checkRPM: the rpm holds the deb's files (rpm -qlp lists its own
// directories too).
func checkRPM(t *testing.T, rpm string) {
	t.Helper()
	list := strings.Fields(string(runOK(t, "rpm", "-qlp", rpm)))
	for _, p := range pkgFiles {
		if !slices.Contains(list, p) {
			t.Errorf("the rpm lacks %s; it has %q", p, list)
		}
	}
	for _, p := range list {
		if !slices.Contains(pkgFiles, p) && !strings.HasPrefix(p, "/usr/share/doc/sshlogfwd") {
			t.Errorf("the rpm holds %s, outside what the packages install", p)
		}
	}
	if req := string(runOK(t, "rpm", "-qpR", rpm)); !strings.Contains(req, "openssh-clients") {
		t.Errorf("the rpm does not require openssh-clients:\n%s", req)
	}
}

// checkInstalledFiles: every file where it belongs, root's, with its mode;
// the binary static; the units running /usr/bin/sshlogfwd; the
// directories postinst made.
func checkInstalledFiles(t *testing.T) {
	t.Helper()
	for _, p := range pkgFiles {
		want := fs.FileMode(0o644)
		if p == "/usr/bin/sshlogfwd" {
			want = 0o755
		}
		checkFile(t, p, want, "root", "root")
	}
	f, err := elf.Open("/usr/bin/sshlogfwd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || len(libs) > 0 {
			t.Errorf("/usr/bin/sshlogfwd is dynamically linked (%q): the package's binary must be static", libs)
			break
		}
	}
	for _, u := range []string{"push", "pull"} {
		b, _ := os.ReadFile("/usr/lib/systemd/system/sshlogfwd-" + u + "@.service")
		if !strings.Contains(string(b), "\nExecStart=/usr/bin/sshlogfwd "+u+" ") || strings.Contains(string(b), "/usr/local/bin") {
			t.Errorf("the installed %s unit does not run /usr/bin/sshlogfwd:\n%s", u, b)
		}
	}
	checkFile(t, pkgConfigDir, fs.ModeDir|0o750, "root", "sshlogfwd")
	checkFile(t, pkgStateDir, fs.ModeDir|0o700, "sshlogfwd", "sshlogfwd")
}

// checkFile checks the type, permissions and owner of path.
func checkFile(t *testing.T, path string, mode fs.FileMode, owner, group string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	uid, _ := fsutil.Owner(fi)
	gid, _ := fsutil.Group(fi)
	u, _ := user.LookupId(strconv.Itoa(uid))
	g, _ := user.LookupGroupId(strconv.Itoa(gid))
	if fi.Mode() != mode || u == nil || u.Username != owner || g == nil || g.Name != group {
		t.Errorf("%s: %v %v:%v, want %v %s:%s", path, fi.Mode(), u, g, mode, owner, group)
	}
}

// checkInstalledUser: a system account that cannot log in, at home in the
// state directory.
func checkInstalledUser(t *testing.T) {
	t.Helper()
	pw := strings.Split(strings.TrimSpace(string(runOK(t, "getent", "passwd", "sshlogfwd"))), ":")
	if len(pw) != 7 {
		t.Fatalf("getent passwd sshlogfwd: %q", pw)
	}
	uid, _ := strconv.Atoi(pw[2])
	if uid == 0 || uid >= 1000 || pw[5] != pkgStateDir || pw[6] != "/usr/sbin/nologin" {
		t.Errorf("user sshlogfwd: uid %d, home %s, shell %s; want a system uid (1-999), %s, /usr/sbin/nologin", uid, pw[5], pw[6], pkgStateDir)
	}
	sp := strings.Split(string(runOK(t, "getent", "shadow", "sshlogfwd")), ":")
	if len(sp) < 2 || !strings.HasPrefix(sp[1], "!") && sp[1] != "*" {
		t.Errorf("user sshlogfwd has a password (%q); want it locked", sp)
	}
}

// checkInstalledCommands: sshlogfwd version names the package's version
// and this commit; man finds and renders the page.
func checkInstalledCommands(t *testing.T, version string) {
	t.Helper()
	out := string(runOK(t, "/usr/bin/sshlogfwd", "version"))
	head := strings.TrimSpace(string(runIn(t, "..", nil, "git", "rev-parse", "HEAD")))
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || lines[0] != "sshlogfwd "+version || !strings.HasPrefix(lines[1], "commit: "+head) ||
		!strings.HasPrefix(lines[3], "ssh: /usr/bin/ssh: OpenSSH_") {
		t.Errorf("sshlogfwd version:\n%s\nwant sshlogfwd %s, commit %s and the ssh -V line", out, version, head)
	}
	if got := strings.TrimSpace(string(runOK(t, "man", "-w", "sshlogfwd"))); got != "/usr/share/man/man1/sshlogfwd.1.gz" {
		t.Errorf("man -w sshlogfwd: %q, want the packaged page", got)
	}
	page := string(runIn(t, "", []string{"MANPAGER=cat", "PAGER=cat", "MANWIDTH=80"}, "man", "sshlogfwd"))
	for _, want := range []string{"SSHLOGFWD(1)", "EXIT STATUS", "sshlogfwd-pull-cursor 1"} {
		if !strings.Contains(page, want) {
			t.Errorf("man sshlogfwd lacks %q", want)
		}
	}
}

// checkInstalledUnits: systemd-analyze verify accepts the installed units
// (with their binary, /usr/bin/sshlogfwd, in place), and none is enabled.
func checkInstalledUnits(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, u := range []string{"sshlogfwd-push@.service", "sshlogfwd-push@.socket", "sshlogfwd-journal@.service", "sshlogfwd-pull@.service"} {
		inst := filepath.Join(dir, strings.Replace(u, "@", "@test", 1))
		os.Symlink("/usr/lib/systemd/system/"+u, inst)
		out, err := exec.Command(systemdAnalyze, "verify", "--man=no", inst).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", inst, err, out)
		}
	}
	if enabled, _ := filepath.Glob("/etc/systemd/system/*/sshlogfwd*"); len(enabled) > 0 {
		t.Errorf("installing enabled units: %q", enabled)
	}
}
