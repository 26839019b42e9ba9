// Command package builds sshlogfwd's .deb and .rpm with nfpm, from a
// binary and a manual page built beforehand. scripts/package.sh builds
// those and runs it:
//
//	go -C scripts/package run . -root "$PWD" -bin dist/sshlogfwd -man dist/sshlogfwd.1 -version 1.2.0 -out dist
//
// It is a module of its own, so that nfpm and the forty modules it brings
// stay out of sshlogfwd's go.mod (and so out of what `go install` of
// sshlogfwd fetches and what an audit of its dependencies reads), and
// cannot reach the sshlogfwd binary.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// options are the command line.
type options struct {
	root       string // the repository: README.md, docs/, contrib/, scripts/package/
	bin        string // the sshlogfwd binary
	man        string // sshlogfwd.1, as `sshlogfwd man` prints it
	version    string // the package version
	out        string // where the packages go
	arch       string // GOARCH of the binary
	maintainer string
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", ".", "the sshlogfwd repository (README.md, docs/, contrib/, scripts/package/)")
	flag.StringVar(&o.bin, "bin", "", "the sshlogfwd binary to package (static)")
	flag.StringVar(&o.man, "man", "", "the manual page sshlogfwd.1 in roff, as 'sshlogfwd man' prints it")
	flag.StringVar(&o.version, "version", "", "the package version: 1.2.0, or 0.0.0+git20261202.0123abcdef01 for a snapshot")
	flag.StringVar(&o.out, "out", "dist", "directory the packages are written to")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH the binary was built for")
	flag.StringVar(&o.maintainer, "maintainer", "sshlogfwd developers <noreply@sshlogfwd.invalid>", "the packages' Maintainer/Packager")
	flag.Parse()
	paths, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

// formats are the packages built, in this order.
var formats = []string{"deb", "rpm"}

// build writes one package per format into o.out and returns their paths.
func build(o options) ([]string, error) {
	if o.bin == "" || o.man == "" || o.version == "" {
		return nil, errors.New("-bin, -man and -version are required")
	}
	stage, err := os.MkdirTemp("", "sshlogfwd-package-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	contents, err := packageContents(o, stage)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	cfg := config(o, contents)
	var paths []string
	for _, format := range formats {
		p, err := write(cfg, format, o.out)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", format, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// write builds the package of format from cfg into dir, atomically.
func write(cfg nfpm.Config, format, dir string) (string, error) {
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, pkg.ConventionalFileName(info))
	f, err := os.CreateTemp(dir, ".package-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

// description is the packages' description: a synopsis line, then more.
const description = `ship log lines to another host through the system OpenSSH client
sshlogfwd forwards syslog lines (from a FIFO, a file or standard input) to
a file on a log host over ssh, keeping them in a bounded spool while the
link is down, and with sshlogfwd receive on the log host delivers each line
exactly once; or it pulls a file from a watched host, resuming exactly.
Keys are restricted to one file by authorized_keys forced commands, so an
intruder with root on the watched host cannot erase the trail.`

// config is what nfpm needs for both packages; the maintainer scripts and
// the name of the ssh client's package differ between them.
func config(o options, contents files.Contents) nfpm.Config {
	script := func(name string) string { return filepath.Join(o.root, "scripts", "package", name) }
	return nfpm.Config{
		Info: nfpm.Info{
			Name:        "sshlogfwd",
			Arch:        o.arch,
			Platform:    "linux",
			Version:     o.version,
			Section:     "admin",
			Priority:    "optional",
			Maintainer:  o.maintainer,
			Description: description,
			Homepage:    "https://github.com/sshlogfwd/sshlogfwd",
			Overridables: nfpm.Overridables{
				Depends:  []string{"openssh-client"},
				Suggests: []string{"openssh-server", "rsyslog", "logrotate"},
				Contents: contents,
				Scripts:  nfpm.Scripts{PostInstall: script("postinst"), PreRemove: script("prerm")},
				Deb:      nfpm.Deb{Compression: "xz"},
				RPM:      nfpm.RPM{Compression: "xz", Group: "System Environment/Daemons", Packager: o.maintainer},
			},
		},
		Overrides: map[string]*nfpm.Overridables{
			// Purging is a deb notion: rpm keeps the configuration,
			// the state and the user, as rpm packages do.
			"deb": {Scripts: nfpm.Scripts{PostRemove: script("postrm")}},
			"rpm": {Depends: []string{"openssh-clients"}},
		},
	}
}
