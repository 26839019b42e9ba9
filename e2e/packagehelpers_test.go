package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// lockPackageTest waits (a while) for other runs of the test to end.
func lockPackageTest(t *testing.T) {
	t.Helper()
	var lock *fsutil.Lock
	var held *fsutil.HeldError
	testlab.WaitFor(t, 3*time.Minute, func() bool {
		l, err := fsutil.TryLockFile(pkgLock, "TestPackage in "+mustGetwd())
		if err != nil && !errors.As(err, &held) {
			t.Fatalf("lock %s: %v", pkgLock, err)
		}
		lock = l
		return err == nil
	}, "%s: another package test still runs (%v)", pkgLock, held)
	t.Cleanup(func() { lock.Close() })
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

// refuseInstalled fails the test where installing would change something
// that is not the test's own: an installed sshlogfwd package, files at its
// paths. It reports whether the user sshlogfwd exists already (then it is
// left alone).
func refuseInstalled(t *testing.T) (userExisted bool) {
	t.Helper()
	if st := dpkgStatus(t); st != "" {
		t.Fatalf("the sshlogfwd package is on this machine (%s); the test would remove it", st)
	}
	for _, p := range append(slices.Clone(pkgFiles), pkgConfigDir, pkgStateDir, pkgLogDir) {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists; the test would overwrite or remove it", p)
		}
	}
	_, err := user.Lookup("sshlogfwd")
	return err == nil
}

// cleanupPackage purges the package (a no-op when already purged),
// removes what the test created and the user and group if the test made
// them.
func cleanupPackage(t *testing.T, userExisted bool) {
	if out, err := exec.Command("dpkg", "--purge", "sshlogfwd").CombinedOutput(); err != nil {
		t.Errorf("cleanup: dpkg --purge: %v\n%s", err, out)
	}
	// None of them existed before the test (refuseInstalled).
	for _, p := range []string{pkgConfigDir, pkgStateDir, pkgLogDir} {
		os.RemoveAll(p)
	}
	if userExisted {
		return
	}
	if _, err := user.Lookup("sshlogfwd"); err == nil {
		if out, err := exec.Command("userdel", "sshlogfwd").CombinedOutput(); err != nil {
			t.Errorf("cleanup: userdel: %v\n%s", err, out)
		}
	}
	if _, err := user.LookupGroup("sshlogfwd"); err == nil {
		exec.Command("groupdel", "sshlogfwd").Run()
	}
}

// dpkgStatus is dpkg's status of the package ("install ok installed",
// "deinstall ok config-files"), or "" when dpkg does not know it.
func dpkgStatus(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "sshlogfwd").Output()
	if err != nil {
		return ""
	}
	st := strings.TrimSpace(string(out))
	if st == "unknown ok not-installed" {
		return ""
	}
	return st
}

// runOK runs a command to its end within a minute and returns its
// combined output; failing is the test's failure.
func runOK(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	return runIn(t, "", nil, name, args...)
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
