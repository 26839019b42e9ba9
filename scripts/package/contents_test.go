package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const repo = "../.."

// TestRewriteUnit: the units of contrib/systemd run /usr/bin/sshlogfwd in
// the packages, and a unit that does not run sourceBin is refused rather
// than packaged pointing elsewhere.
func TestRewriteUnit(t *testing.T) {
	units, _ := filepath.Glob(filepath.Join(repo, "contrib", "systemd", "*.service"))
	if len(units) == 0 {
		t.Fatal("no units in contrib/systemd")
	}
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rewriteUnit(string(b))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if !strings.Contains(got, "\nExecStart="+binPath+" ") || strings.Contains(got, sourceBin) {
			t.Errorf("%s rewritten still runs %s or not %s:\n%s", u, sourceBin, binPath, got)
		}
	}
	if _, err := rewriteUnit("[Service]\nExecStart=/opt/sshlogfwd push\n"); !errors.Is(err, ErrNoExecStart) {
		t.Errorf("a unit running another path: %v, want ErrNoExecStart", err)
	}
}

// TestPackageContents: what the packages hold, and where.
func TestPackageContents(t *testing.T) {
	dir := t.TempDir()
	bin, man := filepath.Join(dir, "sshlogfwd"), filepath.Join(dir, "sshlogfwd.1")
	os.WriteFile(bin, []byte("binary"), 0o755)
	page := []byte(".TH SSHLOGFWD 1\n")
	os.WriteFile(man, page, 0o644)
	stage := t.TempDir()
	c, err := packageContents(options{root: repo, bin: bin, man: man}, stage)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{} // destination -> source
	for _, f := range c {
		got[f.Destination] = f.Source
		if f.FileInfo.Owner != "root" || f.FileInfo.Group != "root" {
			t.Errorf("%s is owned by %s:%s, want root", f.Destination, f.FileInfo.Owner, f.FileInfo.Group)
		}
	}
	for _, want := range []string{binPath, manPath, unitDir + "/sshlogfwd-push@.service", unitDir + "/sshlogfwd-push@.socket", unitDir + "/sshlogfwd-journal@.service", unitDir + "/sshlogfwd-pull@.service",
		docDir + "/README.md", docDir + "/docs/setup.md", docDir + "/contrib/rsyslog.d/sshlogfwd.conf", docDir + "/contrib/logrotate"} {
		if _, ok := got[want]; !ok {
			t.Errorf("the packages lack %s", want)
		}
	}
	for dst := range got {
		if strings.Contains(dst, "/contrib/systemd") {
			t.Errorf("%s: the units are installed in %s, not copied into the documentation", dst, unitDir)
		}
	}

	// The page is gzipped as gzip -9n would: no name, no time.
	f, err := os.Open(got[manPath])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if !bytes.Equal(b, page) || zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("man page: %q (name %q, time %v), want %q with neither", b, zr.Name, zr.ModTime, page)
	}
}
