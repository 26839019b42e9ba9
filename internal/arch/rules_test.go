package arch

import (
	"strings"
	"testing"
)

// imports builds a graph entry's import list: a relative name stands for a
// package of the module, "std:PATH" for a standard or external package.
func imports(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		if std, ok := strings.CutPrefix(n, "std:"); ok {
			out[i] = std
		} else {
			out[i] = module + "/" + n
		}
	}
	return out
}

// biteCases are small graphs: each forbidden arrow of the architecture,
// with the violation it must cause, and the allowed shape of the code,
// which must cause none.
var biteCases = []struct {
	name string
	g    graph
	want []string // violation messages, up to the rule's name
}{
	{"input imports transport", graph{"internal/pipe": imports("internal/execssh"), "internal/execssh": nil},
		[]string{`internal/pipe -> internal/execssh: rule "inputs"`}},
	{"input imports engine", graph{"internal/tailer": imports("internal/push"), "internal/push": nil},
		[]string{`internal/tailer -> internal/push: rule "inputs"`}},
	{"execssh imports a leaf", graph{"internal/execssh": imports("internal/clock"), "internal/clock": nil}, nil},
	{"execssh imports the spool", graph{"internal/execssh": imports("internal/spool"), "internal/spool": nil},
		[]string{`internal/execssh -> internal/spool: rule "execssh"`}},
	{"spool imports a codec", graph{"internal/spool": imports("internal/ackproto"), "internal/ackproto": nil},
		[]string{`internal/spool -> internal/ackproto: rule "spool"`}},
	{"codec imports os", graph{"internal/ackproto": imports("std:bufio", "std:os/exec")},
		[]string{`internal/ackproto -> os/exec: rule "codecs"`}},
	{"codec imports x/sys", graph{"internal/stream": imports("std:golang.org/x/sys/unix")},
		[]string{`internal/stream -> golang.org/x/sys/unix: rule "codecs"`}},
	{"codec imports an internal package", graph{"internal/stream": imports("internal/fsutil"), "internal/fsutil": nil},
		[]string{`internal/stream -> internal/fsutil: rule "codecs"`}},
	{"far side reaches execssh through a helper",
		graph{"internal/receiver": imports("internal/request"), "internal/request": imports("internal/execssh"), "internal/execssh": nil},
		[]string{`internal/receiver -> internal/request -> internal/execssh: rule "far side"`}},
	{"serve imports spool", graph{"internal/serve": imports("internal/spool"), "internal/spool": nil},
		[]string{`internal/serve -> internal/spool: rule "far side"`}},
	{"push imports pull", graph{"internal/push": imports("internal/pull"), "internal/pull": nil},
		[]string{`internal/push -> internal/pull: rule "push/pull"`}},
	{"pull imports push", graph{"internal/pull": imports("internal/push"), "internal/push": nil},
		[]string{`internal/pull -> internal/push: rule "push/pull"`}},
	{"engine imports cmd", graph{"internal/check": imports("cmd/sshlogfwd"), "cmd/sshlogfwd": nil},
		[]string{`internal/check -> cmd/sshlogfwd: rule "engines"`}},
	{"shipped code imports testlab", graph{"bench": imports("internal/testlab"), "internal/testlab": nil},
		[]string{`bench -> internal/testlab: rule "testlab"`}},
	{"helper imports a leaf", graph{"internal/onewriter": imports("internal/fsutil"), "internal/fsutil": nil}, nil},
	{"helper imports an engine", graph{"internal/onewriter": imports("internal/receiver"), "internal/receiver": nil},
		[]string{`internal/onewriter -> internal/receiver: rule "helpers"`}},
	{"reporter imports a leaf", graph{"internal/metrics": imports("internal/fsutil", "internal/clock"), "internal/fsutil": nil, "internal/clock": nil}, nil},
	{"reporter imports the spool", graph{"internal/metrics": imports("internal/spool"), "internal/spool": nil},
		[]string{`internal/metrics -> internal/spool: rule "reporters"`}},
	{"reporter imports another", graph{"internal/sdnotify": imports("internal/metrics"), "internal/metrics": nil},
		[]string{`internal/sdnotify -> internal/metrics: rule "reporters"`}},
	{"leaf imports a leaf", graph{"internal/fsutil": imports("internal/clock"), "internal/clock": nil},
		[]string{`internal/fsutil -> internal/clock: rule "leaves"`}},
	{"tolerated arrow and what lies behind it",
		graph{"internal/stream": imports("internal/tailer"), "internal/tailer": imports("internal/fsutil"), "internal/fsutil": nil},
		nil},
	{"the intended shape", graph{
		"cmd/sshlogfwd":      imports("internal/push", "internal/pull", "internal/serve", "internal/receiver", "internal/check"),
		"internal/push":      imports("internal/execssh", "internal/spool", "internal/ackproto", "internal/pipe", "internal/tailer", "internal/request", "internal/clock", "internal/sdnotify", "internal/metrics"),
		"internal/pull":      imports("internal/execssh", "internal/stream", "internal/request", "internal/fsutil", "internal/clock", "internal/sdnotify", "internal/metrics"),
		"internal/sdnotify":  imports("internal/clock", "std:golang.org/x/sys/unix"),
		"internal/metrics":   imports("internal/clock", "internal/fsutil"),
		"internal/serve":     imports("internal/tailer", "internal/stream", "internal/request", "internal/pipe"),
		"internal/receiver":  imports("internal/ackproto", "internal/request", "internal/fsutil", "internal/pipe"),
		"internal/check":     imports("internal/execssh", "internal/request", "internal/authkeys", "internal/fsutil"),
		"internal/request":   imports("internal/forcedcmd", "internal/tailer"),
		"internal/authkeys":  imports("internal/request"),
		"internal/tailer":    imports("internal/fsutil", "internal/clock", "std:os"),
		"internal/pipe":      imports("std:golang.org/x/sys/unix"),
		"internal/spool":     imports("internal/fsutil", "internal/clock", "std:os"),
		"internal/stream":    imports("internal/tailer", "std:bufio", "std:io"),
		"internal/ackproto":  imports("std:crypto/rand", "std:bufio"),
		"internal/execssh":   imports("std:os/exec", "std:syscall"),
		"internal/forcedcmd": nil, "internal/fsutil": nil, "internal/clock": nil,
		"internal/testlab": imports("std:testing"), "e2e": nil,
	}, nil},
}

// TestRulesBite checks the checker on biteCases: each forbidden arrow is
// reported under its rule with the chain that leads to it.
func TestRulesBite(t *testing.T) {
	for _, c := range biteCases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, v := range check(c.g, rules, tolerated) {
				msg := v.String()
				got = append(got, strings.TrimPrefix(msg[:strings.Index(msg, `": `)+1], "forbidden import "))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestMessageNamesArrowAndRule keeps the failure message useful: the chain
// of imports, the rule's name and the rule in words.
func TestMessageNamesArrowAndRule(t *testing.T) {
	vs := check(graph{"internal/pipe": imports("internal/spool"), "internal/spool": nil}, rules, nil)
	if len(vs) != 1 {
		t.Fatalf("got %d violations, want 1: %v", len(vs), vs)
	}
	want := `forbidden import internal/pipe -> internal/spool: rule "inputs": input packages (pipe, tailer, journal) import no transport`
	if got := vs[0].String(); !strings.HasPrefix(got, want) {
		t.Errorf("message %q\nwant it to start with %q", got, want)
	}
}
