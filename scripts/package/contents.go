package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2/files"
)

// Where the packages put things.
const (
	binPath = "/usr/bin/sshlogfwd"
	manPath = "/usr/share/man/man1/sshlogfwd.1.gz"
	unitDir = "/usr/lib/systemd/system"
	docDir  = "/usr/share/doc/sshlogfwd"
)

// sourceBin is where the units in contrib/systemd run sshlogfwd: where the
// README's install from a checkout puts it (and where `authorized-key`
// points forced commands by default). The packages, which follow the
// distributions' layout, install to binPath and rewrite the units.
const sourceBin = "/usr/local/bin/sshlogfwd"

// ErrNoExecStart is a unit in contrib/systemd that does not run sourceBin:
// rewriting it for the package would leave it pointing elsewhere.
var ErrNoExecStart = errors.New("no ExecStart=" + sourceBin)

// packageContents lists every file of the package. What the package holds
// in another form than the repository (the gzipped page, the units run
// from binPath) is written into stage.
func packageContents(o options, stage string) (files.Contents, error) {
	c := files.Contents{file(o.bin, binPath, 0o755)}
	man := filepath.Join(stage, filepath.Base(manPath))
	if err := gzipFile(o.man, man); err != nil {
		return nil, fmt.Errorf("man page: %w", err)
	}
	c = append(c, file(man, manPath, 0o644))
	units, err := unitContents(o.root, stage)
	if err != nil {
		return nil, err
	}
	docs, err := docContents(o.root)
	if err != nil {
		return nil, err
	}
	return append(append(c, units...), docs...), nil
}

// file is a regular file of the package, owned by root.
func file(src, dst string, mode fs.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, Type: files.TypeFile,
		FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode}}
}

// unitContents are the units of contrib/systemd: the services rewritten
// to run binPath, the socket units (which run nothing of ours) as they are.
func unitContents(root, stage string) (files.Contents, error) {
	units, err := filepath.Glob(filepath.Join(root, "contrib", "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		return nil, fmt.Errorf("no units in %s/contrib/systemd (%v)", root, err)
	}
	sockets, err := filepath.Glob(filepath.Join(root, "contrib", "systemd", "*.socket"))
	if err != nil {
		return nil, err
	}
	var c files.Contents
	for _, src := range sockets {
		c = append(c, file(src, unitDir+"/"+filepath.Base(src), 0o644))
	}
	for _, src := range units {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		text, err := rewriteUnit(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		dst := filepath.Join(stage, filepath.Base(src))
		if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
			return nil, err
		}
		c = append(c, file(dst, unitDir+"/"+filepath.Base(src), 0o644))
	}
	return c, nil
}

// rewriteUnit points a unit's sshlogfwd, in ExecStart= and in the
// comments that show commands, at binPath.
func rewriteUnit(text string) (string, error) {
	if !strings.Contains(text, "\nExecStart="+sourceBin+" ") {
		return "", ErrNoExecStart
	}
	return strings.ReplaceAll(text, sourceBin, binPath), nil
}

// docContents are the README, the guides in docs/ and the examples in
// contrib/ under docDir, laid out as in the repository so that the
// README's links work. contrib/systemd is left out: its units are
// installed for real, in unitDir.
func docContents(root string) (files.Contents, error) {
	c := files.Contents{dir(docDir), file(filepath.Join(root, "README.md"), docDir+"/README.md", 0o644), dir(docDir + "/docs")}
	guides, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(guides) == 0 {
		return nil, fmt.Errorf("no guides in %s/docs (%v)", root, err)
	}
	for _, g := range guides {
		c = append(c, file(g, docDir+"/docs/"+filepath.Base(g), 0o644))
	}
	contrib := filepath.Join(root, "contrib")
	err = filepath.WalkDir(contrib, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		dst := docDir + "/" + filepath.ToSlash(rel)
		switch {
		case d.IsDir() && path == filepath.Join(contrib, "systemd"):
			return filepath.SkipDir
		case d.IsDir():
			c = append(c, dir(dst))
		case d.Type().IsRegular():
			c = append(c, file(path, dst, 0o644))
		}
		return nil
	})
	return c, err
}

// dir is a directory of the package's own, so that removing the package
// removes it (rpm does not own the parents of files by itself).
func dir(dst string) *files.Content {
	return &files.Content{Destination: dst, Type: files.TypeDir,
		FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o755}}
}

// gzipFile writes src gzipped to dst, at the best compression and with no
// name or time in the header (as gzip -9n does, for reproducible packages).
func gzipFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}
