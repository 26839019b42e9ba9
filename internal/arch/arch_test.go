package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// module is this module's path; packages below are named relative to it.
const module = "github.com/sshlogfwd/sshlogfwd"

// The packages, by role. Some do not exist yet while the code is being
// reorganised; naming them here makes the rules bite as soon as they land.
var (
	cmdPkg     = "cmd/sshlogfwd"
	testlab    = "internal/testlab"
	inputs     = []string{"internal/pipe", "internal/tailer", "internal/journal"}
	transports = []string{"internal/execssh", "internal/ackproto", "internal/stream", "internal/request", "internal/spool"}
	codecs     = []string{"internal/ackproto", "internal/stream"}
	farSide    = []string{"internal/receiver", "internal/serve"}
	engines    = []string{"internal/push", "internal/pull", "internal/serve", "internal/receiver", "internal/check"}
	leaves     = []string{"internal/clock", "internal/fsutil", "internal/backoff", "internal/buildinfo", "internal/statedir", "internal/profile", "internal/usage", "internal/bytesize"}
	// helpers are small shared conventions built on the leaves only.
	helpers = []string{"internal/onewriter", "internal/logfile"}
	// reporters tell the world how an engine is doing: systemd's
	// notification socket, the metrics file.
	reporters = []string{"internal/sdnotify", "internal/metrics"}
	// codecHelpers are leaf helpers the codecs may share (none yet).
	codecHelpers []string
	// others are the remaining packages with a place in docs/architecture.md.
	others = []string{"internal/forcedcmd", "internal/authkeys", "internal/manpage", "internal/arch", "internal/mutants", "scripts/faulttable", "e2e", "bench"}
)

// every stands for every package of the module in rule.from and rule.deny.
const every = "*"

// rule forbids imports from the packages in from: of the module's packages
// in deny (also through other packages of the module), except those in
// allow, and of the standard or external packages in denyExt (direct
// imports only; "os" also covers "os/exec").
type rule struct {
	name    string
	says    string
	from    []string
	deny    []string
	allow   []string
	denyExt []string
}

func join(groups ...[]string) []string { return slices.Concat(groups...) }

// rules is the architecture, one rule per sentence of docs/architecture.md.
var rules = []rule{
	{name: "inputs", says: "input packages (pipe, tailer, journal) import no transport (execssh, ackproto, stream, request, spool) and no engine",
		from: inputs, deny: join(transports, engines, []string{cmdPkg})},
	{name: "execssh", says: "execssh imports no internal package but the leaf helpers (clock, fsutil, backoff)",
		from: []string{"internal/execssh"}, deny: []string{every}, allow: leaves},
	{name: "spool", says: "spool imports no input or transport (pipe, tailer, execssh, ackproto, stream) and no engine",
		from: []string{"internal/spool"}, deny: join(inputs, []string{"internal/execssh"}, codecs, engines, []string{cmdPkg})},
	{name: "codecs", says: "codecs (ackproto, stream) import no internal package but shared leaf helpers, and do no I/O beyond their reader and writer (no os, os/*, net, net/*, syscall, golang.org/x/sys)",
		from: codecs, deny: []string{every}, allow: codecHelpers,
		denyExt: []string{"os", "net", "syscall", "golang.org/x/sys"}},
	{name: "far side", says: "the far side (receiver, serve) never imports execssh, spool, push or pull",
		from: farSide, deny: []string{"internal/execssh", "internal/spool", "internal/push", "internal/pull"}},
	{name: "push/pull", says: "push and pull do not import each other",
		from: []string{"internal/push"}, deny: []string{"internal/pull"}},
	{name: "push/pull", says: "push and pull do not import each other",
		from: []string{"internal/pull"}, deny: []string{"internal/push"}},
	{name: "engines", says: "no engine imports cmd",
		from: engines, deny: []string{cmdPkg}},
	{name: "testlab", says: "nothing outside _test files imports testlab",
		from: []string{every}, deny: []string{testlab}},
	{name: "helpers", says: "shared helpers (onewriter, logfile) import no internal package but the leaf helpers (clock, fsutil, backoff)",
		from: helpers, deny: []string{every}, allow: leaves},
	{name: "reporters", says: "reporting helpers (sdnotify, metrics) import no internal package but the leaf helpers (clock, fsutil, backoff)",
		from: reporters, deny: []string{every}, allow: leaves},
	{name: "leaves", says: "leaf helpers (clock, fsutil, backoff, buildinfo, statedir, profile, usage, bytesize) import no other internal package",
		from: leaves, deny: []string{every}},
}

// arrow is one import: from imports to.
type arrow struct{ from, to string }

func (a arrow) String() string { return a.from + " -> " + a.to }

// tolerated are forbidden arrows that exist today and are on their way out.
// Each must still exist and be forbidden by a rule (a stale entry fails the
// test); it is ignored, together with what lies behind it, when the rules
// are checked.
var tolerated = map[arrow]string{
	{"internal/stream", "internal/tailer"}: "stream frames carry tailer.Cursor; goes when the cursor type moves to a leaf package",
}

// graph maps each package of the module (relative name) to its non-test
// imports (full import paths).
type graph map[string][]string

// known lists every package that has a place in the architecture.
func known() []string {
	all := join([]string{cmdPkg, testlab}, inputs, transports, codecs, farSide, engines, leaves, helpers, reporters, codecHelpers, others)
	slices.Sort(all)
	return slices.Compact(all)
}

// loadGraph asks the go command for the module's packages and their
// non-test imports (Imports leaves out TestImports and XTestImports).
func loadGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		g[rel(p.ImportPath)] = p.Imports
	}
	if len(g) == 0 {
		t.Fatal("go list found no packages")
	}
	return g
}

// rel turns an import path of the module into its relative name, and
// returns "" for any other package.
func rel(path string) string {
	if path == module {
		return "."
	}
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r
	}
	return ""
}

// edges returns the internal arrows out of pkg, minus the tolerated ones.
func (g graph) edges(pkg string, tolerated map[arrow]string) []string {
	var out []string
	for _, imp := range g[pkg] {
		if to := rel(imp); to != "" {
			if _, ok := tolerated[arrow{pkg, to}]; !ok {
				out = append(out, to)
			}
		}
	}
	return out
}

// reach returns every module package pkg reaches through its imports (not
// through tolerated arrows), each with the shortest chain of packages that
// leads there, starting at pkg.
func (g graph) reach(pkg string, tolerated map[arrow]string) map[string][]string {
	paths := map[string][]string{pkg: {pkg}}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, to := range g.edges(p, tolerated) {
			if _, seen := paths[to]; !seen {
				paths[to] = append(slices.Clone(paths[p]), to)
				queue = append(queue, to)
			}
		}
	}
	delete(paths, pkg)
	return paths
}

// violation is an import that breaks a rule; chain is the path of imports
// from the offending package to the forbidden one.
type violation struct {
	chain []string
	rule  rule
}

func (v violation) String() string {
	return fmt.Sprintf("forbidden import %s: rule %q: %s", strings.Join(v.chain, " -> "), v.rule.name, v.rule.says)
}

func matches(list []string, pkg string) bool {
	return slices.Contains(list, pkg) || slices.Contains(list, every)
}

// extDenied reports whether the import path imp is one of denyExt or below
// one of them.
func extDenied(denyExt []string, imp string) bool {
	for _, d := range denyExt {
		if imp == d || strings.HasPrefix(imp, d+"/") {
			return true
		}
	}
	return false
}

// check returns every violation of rules in g, sorted. Tolerated arrows,
// and what is reached only through them, are not checked.
func check(g graph, rules []rule, tolerated map[arrow]string) []violation {
	var vs []violation
	for pkg := range g {
		for _, r := range rules {
			if !matches(r.from, pkg) {
				continue
			}
			for to, chain := range g.reach(pkg, tolerated) {
				if matches(r.deny, to) && !slices.Contains(r.allow, to) {
					vs = append(vs, violation{chain, r})
				}
			}
			for _, imp := range g[pkg] {
				if rel(imp) == "" && extDenied(r.denyExt, imp) {
					vs = append(vs, violation{[]string{pkg, imp}, r})
				}
			}
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].String() < vs[j].String() })
	return vs
}

// TestImportRules fails when the module's non-test imports break a rule of
// the architecture.
func TestImportRules(t *testing.T) {
	g := loadGraph(t)
	for _, v := range check(g, rules, tolerated) {
		t.Errorf("%s (see docs/architecture.md)", v)
	}
}

// TestEveryPackageHasAPlace fails when a package is not in the rule table:
// a package nobody classified escapes every rule meant for its role.
func TestEveryPackageHasAPlace(t *testing.T) {
	g := loadGraph(t)
	kn := known()
	for pkg := range g {
		if !slices.Contains(kn, pkg) {
			t.Errorf("package %s has no place in the architecture: add it to a role in internal/arch/arch_test.go and to docs/architecture.md", pkg)
		}
	}
	var absent []string
	for _, pkg := range kn {
		if _, ok := g[pkg]; !ok {
			absent = append(absent, pkg)
		}
	}
	if len(absent) > 0 {
		t.Logf("not in the module yet (their rules apply once they land): %s", strings.Join(absent, ", "))
	}
}

// TestToleratedArrowsStillExist fails when a tolerated arrow is gone, so
// that the exception cannot silently let it back in.
func TestToleratedArrowsStillExist(t *testing.T) {
	g := loadGraph(t)
	for a, why := range tolerated {
		if !slices.Contains(g[a.from], module+"/"+a.to) {
			t.Errorf("tolerated import %s (%s) no longer exists: delete it from tolerated in internal/arch/arch_test.go", a, why)
		}
		alone := graph{a.from: {module + "/" + a.to}, a.to: nil}
		if len(check(alone, rules, nil)) == 0 {
			t.Errorf("tolerated import %s is forbidden by no rule: delete it from tolerated in internal/arch/arch_test.go", a)
		}
	}
}
