package forcedcmd

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

func checkFrom(v string) error {
	if v != "start" && v != "end" {
		return fmt.Errorf("%q is not start or end", v)
	}
	return nil
}

func checkDigits(v string) error {
	if v == "" || strings.Trim(v, "0123456789:") != "" {
		return fmt.Errorf("%q is not DEV:INO:OFF", v)
	}
	return nil
}

var serveSpec = Spec{
	Program: "sshlogfwd",
	Command: "serve",
	Flags:   []Flag{{Name: "cursor", Check: checkDigits}, {Name: "from", Check: checkFrom}, {Name: "verbose"}},
	Path:    "/var/log/my app/forward.log",
}

func TestParse(t *testing.T) {
	t.Parallel()
	p := ShellQuote(serveSpec.Path)
	for _, tc := range []struct {
		in     string
		flags  map[string]string
		path   string
		errSub string // "" = accepted
	}{
		{in: "sshlogfwd serve", flags: map[string]string{}},
		{in: "  sshlogfwd   serve  ", flags: map[string]string{}},
		{in: "/usr/local/bin/sshlogfwd serve --cursor 1:2:3", flags: map[string]string{"cursor": "1:2:3"}},
		{in: "sshlogfwd serve --cursor=1:2:3 --from end", flags: map[string]string{"cursor": "1:2:3", "from": "end"}},
		{in: "'sshlogfwd' 'serve' '--from' 'start'", flags: map[string]string{"from": "start"}},
		{in: "sshlogfwd serve --verbose -- " + p, flags: map[string]string{"verbose": ""}, path: serveSpec.Path},
		{in: "sshlogfwd serve " + p, flags: map[string]string{}, path: serveSpec.Path},
		{in: "sshlogfwd serve '/var/log/my app/./forward.log'", flags: map[string]string{}, path: "/var/log/my app/./forward.log"},

		{in: "", errSub: "empty command"},
		{in: "   ", errSub: "empty command"},
		{in: "cat /etc/shadow", errSub: `program "cat"`},
		{in: "tail -F -n 0 /var/log/x", errSub: `program "tail"`},
		{in: "sshlogfwdx serve", errSub: "is not sshlogfwd"},
		{in: "/tmp/evil-sshlogfwd serve", errSub: "is not sshlogfwd"},
		{in: "sshlogfwd receive", errSub: `must be "serve"`},
		{in: "sshlogfwd", errSub: `must be "serve"`},
		{in: "sshlogfwd serve /etc/shadow", errSub: "not the path this key serves"},
		{in: "sshlogfwd serve -- /etc/shadow", errSub: "not the path this key serves"},
		{in: "sshlogfwd serve " + p + " " + p, errSub: "extra argument"},
		{in: "sshlogfwd serve --cursor 1:2:3; cat /etc/passwd", errSub: `character ';'`},
		{in: "sshlogfwd serve $(touch /tmp/pwned)", errSub: `character '$'`},
		{in: "sshlogfwd serve `id`", errSub: "character '`'"},
		{in: "sshlogfwd serve | sh", errSub: "character '|'"},
		{in: "sshlogfwd serve > /etc/passwd", errSub: "character '>'"},
		{in: `sshlogfwd serve "x"`, errSub: `character '"'`},
		{in: `sshlogfwd serve \x`, errSub: "backslash"},
		{in: "sshlogfwd serve 'unterminated", errSub: "unterminated"},
		{in: "sshlogfwd serve\n--from end", errSub: "control character"},
		{in: "sshlogfwd serve\t--from end", errSub: "control character"},
		{in: "sshlogfwd serve --from=end\x00", errSub: "control character"},
		{in: "sshlogfwd serve --cursör", errSub: "non-ASCII"},
		{in: "sshlogfwd serve '\xff'", errSub: "UTF-8"},
		{in: "sshlogfwd serve --evil", errSub: "unknown option --evil"},
		{in: "sshlogfwd serve -x", errSub: `unknown option "-x"`},
		{in: "sshlogfwd serve --=x", errSub: "unknown option"},
		{in: "sshlogfwd serve --from start --from end", errSub: "given twice"},
		{in: "sshlogfwd serve --from", errSub: "needs a value"},
		{in: "sshlogfwd serve --from middle", errSub: "not start or end"},
		{in: "sshlogfwd serve --cursor --from", errSub: "not DEV:INO:OFF"},
		{in: "sshlogfwd serve --verbose=1", errSub: "takes no value"},
		{in: "sshlogfwd serve ~/x", errSub: "character '~'"},
		{in: "sshlogfwd serve *", errSub: "character '*'"},
		{in: "sshlogfwd serve --cursor " + strings.Repeat("1", DefaultMaxLen), errSub: "longer than"},
	} {
		req, err := serveSpec.Parse(tc.in)
		if tc.errSub != "" {
			var fe *Error
			if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.errSub) {
				t.Errorf("Parse(%q) = %v, %v; want an error containing %q", tc.in, req, err, tc.errSub)
			} else if !strings.Contains(err.Error(), "accepts only: sshlogfwd serve [--cursor VALUE]") {
				t.Errorf("Parse(%q) error %q does not show the accepted form", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if fmt.Sprint(req.Flags) != fmt.Sprint(tc.flags) || req.Path != tc.path {
			t.Errorf("Parse(%q) = %v %q, want %v %q", tc.in, req.Flags, req.Path, tc.flags, tc.path)
		}
	}
}

func TestNoPathSpec(t *testing.T) {
	t.Parallel()
	s := Spec{Program: "sshlogfwd", Command: "receive"}
	if _, err := s.Parse("sshlogfwd receive /var/log/x"); err == nil || !strings.Contains(err.Error(), "unexpected argument") {
		t.Errorf("operand without Spec.Path: %v", err)
	}
	if _, err := s.Parse("sshlogfwd receive"); err != nil {
		t.Error(err)
	}
	short := Spec{Program: "sshlogfwd", Command: "receive", MaxLen: 20}
	if _, err := short.Parse("sshlogfwd receive   x"); err == nil || !strings.Contains(err.Error(), "longer than 20") {
		t.Errorf("MaxLen: %v", err)
	}
}

func TestSplitShellJoin(t *testing.T) {
	t.Parallel()
	for _, words := range [][]string{
		{"a"},
		{"sshlogfwd", "serve", "--", "/var/log/it's here.log"},
		{"", "x", "''", `\`, "a b", "$(x)", "ü"},
	} {
		got, err := Split(ShellJoin(words...))
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("Split(ShellJoin(%q)) = %q, %v", words, got, err)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts obeys the
// spec, and that Split inverts ShellJoin.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"sshlogfwd serve --cursor 1:2:3",
		"/usr/bin/sshlogfwd serve --from=end -- '/var/log/my app/forward.log'",
		"sshlogfwd serve --verbose '/var/log/my app/forward.log'",
		"sshlogfwd serve $(id); rm -rf /",
		"sshlogfwd serve 'a'\\''b'",
		"tail -f /var/log/x",
		"sshlogfwd serve --from start --from end",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		req, err := serveSpec.Parse(in)
		if err == nil {
			if req.Path != "" && path.Clean(req.Path) != path.Clean(serveSpec.Path) {
				t.Fatalf("accepted path %q", req.Path)
			}
			for name, v := range req.Flags {
				switch name {
				case "cursor":
					if checkDigits(v) != nil {
						t.Fatalf("accepted cursor %q", v)
					}
				case "from":
					if checkFrom(v) != nil {
						t.Fatalf("accepted from %q", v)
					}
				case "verbose":
					if v != "" {
						t.Fatalf("verbose with value %q", v)
					}
				default:
					t.Fatalf("accepted unknown flag %q", name)
				}
			}
			if strings.ContainsAny(in, ";|&$`\"<>()\n\\*?") && !strings.Contains(in, `\'`) && !strings.Contains(in, "'") {
				t.Fatalf("accepted shell syntax outside quotes: %q", in)
			}
		}
		if words, err := Split(in); err == nil {
			again, err := Split(ShellJoin(words...))
			if err != nil || !slices.Equal(again, words) {
				t.Fatalf("Split(ShellJoin(%q)) = %q, %v", words, again, err)
			}
		}
	})
}
