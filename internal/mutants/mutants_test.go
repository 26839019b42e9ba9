package mutants

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	all  = flag.Bool("mutants.all", false, "also run the end-to-end checks (scripts/mutants.sh)")
	only = flag.String("mutants.run", "", "run only the mutants whose name matches this regexp")
)

// checkTimeout bounds one `go test` of a check: a mutant that makes a
// test hang is killed by the timeout (the test binary fails).
const checkTimeout = 10 * time.Minute

// TestMutants puts each mutant into a copy of the module and runs the
// checks that must catch it; it fails when one survives, when its code is
// not found, or when it does not compile. The table of mutants and the
// tests that killed them goes to the test log.
func TestMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("mutants build and test copies of the module: not with -short")
	}
	var pick *regexp.Regexp
	if *only != "" {
		pick = regexp.MustCompile(*only)
	}
	tree := copyModule(t)
	var ms []mutant
	for _, m := range mutants {
		if (pick == nil || pick.MatchString(m.name)) && len(m.selected()) > 0 {
			ms = append(ms, m)
		}
	}
	baseline(t, tree, ms)
	var rows []string
	for _, m := range ms {
		rows = append(rows, try(t, tree, m))
	}
	t.Logf("mutant | fault | killed by\n%s", strings.Join(rows, "\n"))
}

// selected are the checks this run makes.
func (m mutant) selected() []check {
	var cs []check
	for _, c := range m.checks {
		if *all || !c.slow {
			cs = append(cs, c)
		}
	}
	return cs
}

// baseline runs every check on the unmutated copy: a test that fails
// there would seem to kill every mutant.
func baseline(t *testing.T, tree string, ms []mutant) {
	t.Helper()
	runs := map[string][]string{}
	var pkgs []string
	for _, m := range ms {
		for _, c := range m.selected() {
			if runs[c.pkg] == nil {
				pkgs = append(pkgs, c.pkg)
			}
			runs[c.pkg] = append(runs[c.pkg], c.run)
		}
	}
	for _, pkg := range pkgs {
		if res := goTest(tree, check{pkg: pkg, run: strings.Join(runs[pkg], "|")}); res.err != nil {
			t.Fatalf("the checks fail without any mutant: go test %s: %v\n%s", pkg, res.err, res.out)
		}
	}
}

// try applies m, runs its checks, takes m out again and returns its row
// of the table.
func try(t *testing.T, tree string, m mutant) string {
	t.Helper()
	restore, err := apply(tree, m)
	if err != nil {
		t.Errorf("mutant %s: %v", m.name, err)
		return fmt.Sprintf("%s | %s | NOT APPLIED: %v", m.name, m.fault, err)
	}
	defer restore()
	var killers []string
	for _, c := range m.selected() {
		res := goTest(tree, c)
		switch {
		case res.broken:
			t.Errorf("mutant %s does not compile in %s (fix its snippet):\n%s", m.name, c.pkg, res.out)
			return fmt.Sprintf("%s | %s | DOES NOT COMPILE", m.name, m.fault)
		case res.err != nil:
			killers = append(killers, res.killers(c)...)
		}
	}
	if len(killers) == 0 {
		t.Errorf("mutant %s survived (%s): none of %v failed", m.name, m.fault, m.selected())
		return fmt.Sprintf("%s | %s | SURVIVED", m.name, m.fault)
	}
	return fmt.Sprintf("%s | %s | %s", m.name, m.fault, strings.Join(killers, ", "))
}

// apply puts the first of m's sites found in tree into it, and returns
// the function that takes it out again.
func apply(tree string, m mutant) (restore func(), err error) {
	var tried []string
	for _, s := range m.sites {
		path := filepath.Join(tree, s.file)
		orig, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			tried = append(tried, s.file+" (no such file)")
			continue
		}
		if err != nil {
			return nil, err
		}
		switch n := bytes.Count(orig, []byte(s.old)); n {
		case 0:
			tried = append(tried, s.file+" (snippet not found)")
			continue
		case 1:
		default:
			return nil, fmt.Errorf("%s: the snippet occurs %d times, want once: make it longer", s.file, n)
		}
		mutated := bytes.Replace(orig, []byte(s.old), []byte(s.new), 1)
		if err := os.WriteFile(path, mutated, 0o644); err != nil {
			return nil, err
		}
		return func() { os.WriteFile(path, orig, 0o644) }, nil
	}
	return nil, fmt.Errorf("its code is not in the tree any more, retarget it: %s", strings.Join(tried, "; "))
}

// result is one `go test` of a check.
type result struct {
	out    []byte
	err    error // nil: the tests passed
	broken bool  // it did not build
}

var failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// killers names the tests that failed, or says how the test binary died.
func (r result) killers(c check) []string {
	var names []string
	for _, m := range failLine.FindAllSubmatch(r.out, -1) {
		if name := string(m[1]); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return []string{fmt.Sprintf("%s (%v)", c.pkg, r.err)}
	}
	return names
}

// goTest runs c's tests in tree. -trimpath keeps the build cache valid
// across copies of the module, so only what a mutant touches is built
// again; the end-to-end tests build their binary the same way (GOFLAGS).
func goTest(tree string, c check) result {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout", checkTimeout.String(), "-run", "^("+c.run+")$", c.pkg)
	cmd.Dir = tree
	cmd.Env = append(os.Environ(), "GOFLAGS=-trimpath "+os.Getenv("GOFLAGS"))
	out, err := cmd.CombinedOutput()
	broken := err != nil && (bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")))
	return result{out: out, err: err, broken: broken}
}

// copyModule copies the module this test belongs to (the working tree,
// uncommitted changes included, without .git) into a temporary directory.
func copyModule(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	tree := t.TempDir()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(tree, rel), 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tree, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy the module from %s: %v", root, err)
	}
	return tree
}
