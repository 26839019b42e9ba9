package e2e

// The documentation side of the walkthrough (walkthrough_test.go): the
// blocks of README.md and docs/setup.md that the administrator runs, the
// table of replacements that is the whole difference between the docs and
// what the test runs, and the proof that each by-hand command is what the
// systemd unit runs. None of this needs root.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// walkthroughDocs are the files whose marked blocks the walkthrough runs.
var walkthroughDocs = []string{"../README.md", "../docs/setup.md"}

// walkthroughSteps are the names of the marked blocks, in the order the
// walkthrough runs them (a name may run more than once). Every marked
// block of the docs is here, and every name here is marked in the docs.
var walkthroughSteps = []string{
	"push-watched-host", "push-log-host", "push-config", "push-check", "push-by-hand", "push-try",
	"reliable-watched-host", "reliable-log-host", "push-check", "reliable-by-hand", "push-try",
	"pull-log-host", "pull-watched-host", "pull-config", "pull-check", "pull-by-hand",
}

// docBlock is one fenced code block of the docs that follows a
// `<!-- walkthrough: NAME -->` line.
type docBlock struct {
	name, file string
	line       int // of the marker
	text       string
}

var markerRE = regexp.MustCompile(`^<!-- walkthrough: ([a-z0-9-]+) -->$`)

// parseDocBlocks returns the marked blocks of a Markdown text. A marker
// must be followed, on the next line, by a fenced block.
func parseDocBlocks(file, text string) ([]docBlock, error) {
	lines := strings.Split(text, "\n")
	var blocks []docBlock
	for i := 0; i < len(lines); i++ {
		m := markerRE.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.Contains(lines[i], "walkthrough:") && strings.HasPrefix(lines[i], "<!--") {
				return nil, fmt.Errorf("%s:%d: malformed marker %q", file, i+1, lines[i])
			}
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			return nil, fmt.Errorf("%s:%d: marker %s is not followed by a fenced block", file, i+1, m[1])
		}
		end := slices.IndexFunc(lines[i+2:], func(l string) bool { return strings.HasPrefix(l, "```") })
		if end < 0 {
			return nil, fmt.Errorf("%s:%d: block %s is not closed", file, i+1, m[1])
		}
		body := lines[i+2 : i+2+end]
		blocks = append(blocks, docBlock{name: m[1], file: file, line: i + 1, text: strings.Join(body, "\n") + "\n"})
		i += 2 + end
	}
	return blocks, nil
}

// docBlocks reads the walkthrough's blocks from the docs, by name. Blocks
// that share a name must be the same text (the README and setup.md show
// some steps both); every name must be one the walkthrough runs, and
// every step must be in the docs.
func docBlocks(t testing.TB) map[string]docBlock {
	t.Helper()
	byName := map[string]docBlock{}
	for _, f := range walkthroughDocs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseDocBlocks(filepath.Base(f), string(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range blocks {
			if !slices.Contains(walkthroughSteps, bl.name) {
				t.Errorf("%s:%d: block %q is not a step of the walkthrough (walkthroughSteps)", bl.file, bl.line, bl.name)
			}
			if prev, ok := byName[bl.name]; ok && prev.text != bl.text {
				t.Errorf("block %q differs between %s:%d and %s:%d:\n%s\n---\n%s", bl.name, prev.file, prev.line, bl.file, bl.line, prev.text, bl.text)
			}
			if _, ok := byName[bl.name]; !ok {
				byName[bl.name] = bl
			}
		}
	}
	for _, s := range walkthroughSteps {
		if _, ok := byName[s]; !ok {
			t.Errorf("step %q of the walkthrough is in none of %v: a doc lost it or renamed it", s, walkthroughDocs)
		}
	}
	return byName
}

// substitution is the table of replacements between the docs and the
// test, and nothing else. Both "hosts" are this machine.
//
//	docs                                  test
//	loghost.example.org, web1.example.org 127.0.0.1 (the lab's sshd)
//	192.0.2.10, 192.0.2.9 (from=)         127.0.0.1
//	ssh-keyscan                           ssh-keyscan -p PORT (the lab's port)
//	logger                                logger -u SOCKET (the lab's rsyslogd)
//	/etc/..., /var/..., /run/...          BASE/etc/..., BASE/var/..., BASE/run/...
//	loguser, logreader                    test users with unique names
//	sshlogfwd, the user or group          a test user with a unique name (the word
//	                                      sshlogfwd not in a path or file name, not
//	                                      opening a quoted text, and not followed
//	                                      by a subcommand)
//
// What the system itself provides becomes the environment of every block:
// PATH starts with BASE/usr/local/bin (where the README's install puts the
// binary), SSHLOGFWD_PORT is the port (the docs' hosts listen on 22),
// SSHLOGFWD_SSH_OPTION=GlobalKnownHostsFile=BASE/etc/ssh/ssh_known_hosts
// (ssh reads the system's file), SSHLOGFWD_SSHLOGFWD_PATH is the installed
// binary (authorized-key's default /usr/local/bin/sshlogfwd).
type substitution struct {
	base, port, socket       string
	service, logUser, reader string
}

var (
	pathRE     = regexp.MustCompile(`(?m)(^|[\s'"=:>(])/(etc|var|run)/`)
	hostRE     = regexp.MustCompile(`\b(loghost\.example\.org|web1\.example\.org|192\.0\.2\.10|192\.0\.2\.9)\b`)
	serviceRE  = regexp.MustCompile(`\bsshlogfwd\b`)
	subcmdRE   = regexp.MustCompile(`^\s+(push|pull|check|authorized-key|receive|serve|version)\b`)
	notAroundS = "/.-_@"
)

func (s substitution) apply(text string) string {
	text = s.serviceUser(text)
	text = regexp.MustCompile(`\bloguser\b`).ReplaceAllString(text, s.logUser)
	text = regexp.MustCompile(`\blogreader\b`).ReplaceAllString(text, s.reader)
	text = hostRE.ReplaceAllString(text, "127.0.0.1")
	text = regexp.MustCompile(`\bssh-keyscan `).ReplaceAllString(text, "ssh-keyscan -p "+s.port+" ")
	if s.socket != "" {
		text = regexp.MustCompile(`(?m)(^|[;&|]\s*)logger `).ReplaceAllString(text, "${1}logger -u "+s.socket+" ")
	}
	return pathRE.ReplaceAllString(text, "${1}"+s.base+"/${2}/")
}

// serviceUser replaces the word sshlogfwd where it names the service user
// or its group: not inside a path or file name, not the program followed by
// its subcommand.
func (s substitution) serviceUser(text string) string {
	var b strings.Builder
	last := 0
	for _, m := range serviceRE.FindAllStringIndex(text, -1) {
		i, j := m[0], m[1]
		if i > 0 && strings.IndexByte(notAroundS+`'"`, text[i-1]) >= 0 ||
			j < len(text) && strings.IndexByte(notAroundS, text[j]) >= 0 ||
			subcmdRE.MatchString(text[j:]) {
			continue
		}
		b.WriteString(text[last:i])
		b.WriteString(s.service)
		last = j
	}
	b.WriteString(text[last:])
	return b.String()
}

// TestWalkthroughSubstitution: the table touches the hosts, port, paths
// and user names, and nothing else: not the program, not file names that
// contain "sshlogfwd", not other paths.
func TestWalkthroughSubstitution(t *testing.T) {
	s := substitution{base: "/B", port: "2222", socket: "/L.sock", service: "svc", logUser: "lu", reader: "lr"}
	for _, tt := range []struct{ in, want string }{
		{"useradd --system --home /var/lib/sshlogfwd --shell /usr/sbin/nologin sshlogfwd\n",
			"useradd --system --home /B/var/lib/sshlogfwd --shell /usr/sbin/nologin svc\n"},
		{"install -d -o sshlogfwd -g sshlogfwd -m 0750 /run/sshlogfwd", "install -d -o svc -g svc -m 0750 /B/run/sshlogfwd"},
		{"chown sshlogfwd: /etc/sshlogfwd/id_ed25519", "chown svc: /B/etc/sshlogfwd/id_ed25519"},
		{"ssh-keygen -q -t ed25519 -N '' -C sshlogfwd@web1 -f /etc/sshlogfwd/id_ed25519", "ssh-keygen -q -t ed25519 -N '' -C sshlogfwd@web1 -f /B/etc/sshlogfwd/id_ed25519"},
		{"ssh-keyscan -t ed25519 loghost.example.org >> /etc/ssh/ssh_known_hosts", "ssh-keyscan -p 2222 -t ed25519 127.0.0.1 >> /B/etc/ssh/ssh_known_hosts"},
		{"sshlogfwd authorized-key push --from 192.0.2.10 --key /etc/k.pub /var/log/remote/web1.log | tee web1-push.line",
			"sshlogfwd authorized-key push --from 127.0.0.1 --key /B/etc/k.pub /B/var/log/remote/web1.log | tee web1-push.line"},
		{"runuser -u sshlogfwd -- sh -c 'set -a; . /etc/sshlogfwd/push.env; STATE_DIRECTORY=/var/lib/sshlogfwd sshlogfwd check push $SSHLOGFWD_DEST'",
			"runuser -u svc -- sh -c 'set -a; . /B/etc/sshlogfwd/push.env; STATE_DIRECTORY=/B/var/lib/sshlogfwd sshlogfwd check push $SSHLOGFWD_DEST'"},
		{"SSHLOGFWD_DEST=loguser@loghost.example.org:/var/log/remote/web1.log", "SSHLOGFWD_DEST=lu@127.0.0.1:/B/var/log/remote/web1.log"},
		{"cp contrib/systemd/sshlogfwd-push@.service /etc/systemd/system/", "cp contrib/systemd/sshlogfwd-push@.service /B/etc/systemd/system/"},
		{"cp contrib/rsyslog.d/sshlogfwd.conf /etc/rsyslog.d/", "cp contrib/rsyslog.d/sshlogfwd.conf /B/etc/rsyslog.d/"},
		{"sed -i '/ sshlogfwd@web1$/d' ~loguser/.ssh/authorized_keys", "sed -i '/ sshlogfwd@web1$/d' ~lu/.ssh/authorized_keys"},
		{"useradd --create-home --shell /bin/sh --password '*' --groups adm logreader", "useradd --create-home --shell /bin/sh --password '*' --groups adm lr"},
		{"logger -p authpriv.notice 'sshlogfwd: hello from web1'", "logger -u /L.sock -p authpriv.notice 'sshlogfwd: hello from web1'"},
		{`action(type="ompipe" pipe="/run/sshlogfwd/push.fifo"`, `action(type="ompipe" pipe="/B/run/sshlogfwd/push.fifo"`},
		{"/usr/local/bin/sshlogfwd serve -- /var/log/auth.log", "/usr/local/bin/sshlogfwd serve -- /B/var/log/auth.log"},
	} {
		if got := s.apply(tt.in); got != tt.want {
			t.Errorf("%s\ngot  %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

// TestWalkthroughBlocks: the docs' marked blocks parse, are the steps of
// the walkthrough, and say the same wherever a step is shown twice.
func TestWalkthroughBlocks(t *testing.T) {
	docBlocks(t)
	if _, err := parseDocBlocks("x.md", "<!-- walkthrough: a -->\ntext\n"); err == nil {
		t.Error("a marker without a block was accepted")
	}
	got, err := parseDocBlocks("x.md", "<!-- walkthrough: a -->\n```sh\necho 1\necho 2\n```\n```\nnot marked\n```\n")
	if err != nil || len(got) != 1 || got[0].text != "echo 1\necho 2\n" {
		t.Errorf("parse: %+v, %v", got, err)
	}
}

// invocation is a command as it really runs: the user, the settings it
// gets from the environment, and its arguments, with flags normalised (a
// variable SSHLOGFWD_X_Y is the flag --x-y, -i is --identity, a boolean
// variable "true" is the flag given).
type invocation struct {
	User       string
	StateDir   string
	Command    string
	Flags      map[string]string
	Positional []string
}

func (iv invocation) String() string {
	keys := make([]string, 0, len(iv.Flags))
	for k := range iv.Flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "user=%s STATE_DIRECTORY=%s %s", iv.User, iv.StateDir, iv.Command)
	for _, k := range keys {
		fmt.Fprintf(&b, " --%s=%s", k, iv.Flags[k])
	}
	fmt.Fprintf(&b, " %q", iv.Positional)
	return b.String()
}

var shortFlags = map[string]string{"-i": "identity", "-p": "port", "-F": "ssh-config", "-o": "ssh-option"}

// newInvocation normalises a command line (the program's arguments, from
// the subcommand on) with its environment.
func newInvocation(user string, env map[string]string, args []string) (invocation, error) {
	iv := invocation{User: user, StateDir: env["STATE_DIRECTORY"], Flags: map[string]string{}}
	for k, v := range env {
		if name, ok := strings.CutPrefix(k, "SSHLOGFWD_"); ok && k != "SSHLOGFWD_DEST" && k != "SSHLOGFWD_SRC" {
			iv.Flags[strings.ReplaceAll(strings.ToLower(name), "_", "-")] = v
		}
	}
	for len(args) > 0 && (args[0] == "push" || args[0] == "pull") == (iv.Command == "") {
		if iv.Command != "" {
			break
		}
		iv.Command, args = args[0], args[1:]
	}
	if iv.Command == "" {
		return iv, fmt.Errorf("no push or pull in %q", args)
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case shortFlags[a] != "" && i+1 < len(args):
			iv.Flags[shortFlags[a]] = args[i+1]
			i++
		case strings.HasPrefix(a, "--") && strings.Contains(a, "="):
			k, v, _ := strings.Cut(a[2:], "=")
			iv.Flags[k] = v
		case a == "--reliable" || a == "--compat":
			iv.Flags[a[2:]] = "true"
		case strings.HasPrefix(a, "--") && i+1 < len(args):
			iv.Flags[a[2:]] = args[i+1]
			i++
		case strings.HasPrefix(a, "-"):
			return iv, fmt.Errorf("flag %q not understood", a)
		default:
			iv.Positional = append(iv.Positional, a)
		}
	}
	return iv, nil
}

// shellWords splits a command line the way sh does for the docs' simple
// commands: words separated by blanks, '...' and "..." quoting (no escapes,
// no expansions).
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case c == '\\' || c == '`':
			return nil, fmt.Errorf("%q: escapes and command substitution are not understood", s)
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unclosed quote", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// expand replaces $VAR words by their value split into words, as systemd
// and sh do for an unquoted variable.
func expand(words []string, env map[string]string) []string {
	var out []string
	for _, w := range words {
		if name, ok := strings.CutPrefix(w, "$"); ok {
			out = append(out, strings.Fields(env[name])...)
			continue
		}
		out = append(out, w)
	}
	return out
}

// docFiles are the files the docs write, in the order of steps: `cat >
// PATH <<'EOF'` blocks and `echo LINE >> PATH` lines.
func docFiles(blocks map[string]docBlock, steps ...string) map[string]string {
	files := map[string]string{}
	heredoc := regexp.MustCompile(`(?s)cat > (\S+) <<'EOF'\n(.*?)\nEOF\n`)
	echo := regexp.MustCompile(`(?m)^echo (\S+) >> (\S+)$`)
	for _, s := range steps {
		text := blocks[s].text
		for _, m := range heredoc.FindAllStringSubmatch(text, -1) {
			files[m[1]] = m[2] + "\n"
		}
		for _, m := range echo.FindAllStringSubmatch(text, -1) {
			files[m[2]] += m[1] + "\n"
		}
	}
	return files
}

// parseEnvFile reads KEY=VALUE lines, as systemd's EnvironmentFile= and
// sh's `set -a; . FILE` do for the docs' simple files.
func parseEnvFile(text string, env map[string]string) {
	for _, l := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `"`)
		}
	}
}

// unitInvocation is what systemd runs for the unit file's instance, with
// the environment files as the docs write them.
func unitInvocation(t *testing.T, unitPath, instance string, files map[string]string) invocation {
	t.Helper()
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(strings.ReplaceAll(string(b), "%i", instance))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, f := range u["Service"]["EnvironmentFile"] {
		text, ok := files[strings.TrimPrefix(f, "-")]
		if !ok {
			t.Fatalf("%s: EnvironmentFile=%s is written by no step of the docs", unitPath, f)
		}
		parseEnvFile(text, env)
	}
	for _, e := range u["Service"]["Environment"] {
		parseEnvFile(e, env)
	}
	if d, ok := u.last("Service", "StateDirectory"); ok {
		env["STATE_DIRECTORY"] = "/var/lib/" + d
	}
	exec, _ := u.last("Service", "ExecStart")
	user, _ := u.last("Service", "User")
	words := expand(strings.Fields(exec), env)
	if filepath.Base(words[0]) != "sshlogfwd" {
		t.Fatalf("%s: ExecStart=%s does not run sshlogfwd", unitPath, exec)
	}
	iv, err := newInvocation(user, env, words[1:])
	if err != nil {
		t.Fatalf("%s: %v", unitPath, err)
	}
	return iv
}

// byHandInvocation reads a by-hand command of the docs:
// `runuser -u USER -- [env K=V...] sshlogfwd ARGS`, or the check form
// `runuser -u USER -- sh -c 'set -a; . FILE; K=V... sshlogfwd check ARGS'`.
func byHandInvocation(t *testing.T, b docBlock, files map[string]string) invocation {
	t.Helper()
	words, err := shellWords(strings.TrimSpace(b.text))
	if err != nil || len(words) < 5 || words[0] != "runuser" || words[1] != "-u" || words[3] != "--" {
		t.Fatalf("%s:%d: block %s is not `runuser -u USER -- ...` (%v): %s", b.file, b.line, b.name, err, b.text)
	}
	user, rest := words[2], words[4:]
	env := map[string]string{}
	if rest[0] == "sh" && len(rest) == 3 && rest[1] == "-c" {
		parts := strings.Split(rest[2], ";")
		for _, p := range parts[:len(parts)-1] {
			switch p = strings.TrimSpace(p); {
			case p == "set -a":
			case strings.HasPrefix(p, ". "):
				text, ok := files[strings.TrimPrefix(p, ". ")]
				if !ok {
					t.Fatalf("%s: %s reads a file no step of the docs writes", b.name, p)
				}
				parseEnvFile(text, env)
			default:
				t.Fatalf("%s: %q not understood", b.name, p)
			}
		}
		rest = strings.Fields(parts[len(parts)-1])
	} else if rest[0] == "env" {
		rest = rest[1:]
	}
	for len(rest) > 0 && strings.Contains(rest[0], "=") {
		parseEnvFile(rest[0], env)
		rest = rest[1:]
	}
	if len(rest) == 0 || rest[0] != "sshlogfwd" {
		t.Fatalf("%s: does not run sshlogfwd: %s", b.name, b.text)
	}
	args := expand(rest[1:], env)
	if len(args) > 0 && args[0] == "check" {
		args = args[1:]
	}
	iv, err := newInvocation(user, env, args)
	if err != nil {
		t.Fatalf("%s: %v", b.name, err)
	}
	return iv
}

// TestWalkthroughByHandIsTheUnit: each by-hand command of the docs, and
// each check command, is exactly what the systemd unit runs: the same
// user, the same state directory (so the same spool), the same flags and
// arguments, with the environment files the docs write. The check command
// in each unit's comment is the docs' one. So the walkthrough, which runs
// the by-hand commands, tests what the units would run.
func TestWalkthroughByHandIsTheUnit(t *testing.T) {
	blocks := docBlocks(t)
	const push, pull = "../contrib/systemd/sshlogfwd-push@.service", "../contrib/systemd/sshlogfwd-pull@.service"
	for _, tt := range []struct {
		name, unit, instance string
		files                []string // the steps that write the environment files
		byHand, check        string
	}{
		{"push", push, "push", []string{"push-config"}, "push-by-hand", "push-check"},
		{"reliable push", push, "push", []string{"push-config", "reliable-watched-host"}, "reliable-by-hand", "push-check"},
		{"pull", pull, "web1", []string{"pull-config"}, "pull-by-hand", "pull-check"},
	} {
		files := docFiles(blocks, tt.files...)
		unit := unitInvocation(t, tt.unit, tt.instance, files)
		t.Logf("%s: %s", tt.name, unit)
		for _, step := range []string{tt.byHand, tt.check} {
			if got := byHandInvocation(t, blocks[step], files); got.String() != unit.String() {
				t.Errorf("%s: %s is not what the unit runs:\n%s\nunit:\n%s", tt.name, step, got, unit)
			}
		}
		b, _ := os.ReadFile(tt.unit)
		comment := ""
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "#") && strings.Contains(l, " check ") {
				comment = strings.TrimSpace(strings.ReplaceAll(strings.TrimPrefix(l, "#"), "NAME", tt.instance))
			}
		}
		if comment != strings.TrimSpace(blocks[tt.check].text) {
			t.Errorf("%s: the unit's suggested check\n%s\nis not the docs'\n%s", tt.unit, comment, blocks[tt.check].text)
		}
	}
}

// TestWalkthroughUnitVariablesDocumented: every variable the units and
// their examples use is in setup.md's table.
func TestWalkthroughUnitVariablesDocumented(t *testing.T) {
	setup, err := os.ReadFile("../docs/setup.md")
	if err != nil {
		t.Fatal(err)
	}
	units, _ := filepath.Glob("../contrib/systemd/*.service")
	vars := map[string]bool{"STATE_DIRECTORY": true}
	for _, u := range units {
		b, _ := os.ReadFile(u)
		for _, v := range regexp.MustCompile(`SSHLOGFWD_[A-Z_]+`).FindAllString(string(b), -1) {
			vars[v] = true
		}
	}
	for v := range vars {
		if !strings.Contains(string(setup), "| `"+v+"` |") {
			t.Errorf("%s is used by contrib/systemd but not in docs/setup.md's table of the units' variables", v)
		}
	}
}

// TestWalkthroughInstallsRequiredUnits: every unit of contrib/systemd that
// a unit the docs install requires (the push service, its socket) is
// installed by the same step, and the socket unit's FIFO, for the docs'
// instance, is the FIFO the by-hand command reads and rsyslog writes.
func TestWalkthroughInstallsRequiredUnits(t *testing.T) {
	blocks := docBlocks(t)
	installed := map[string]bool{}
	cp := regexp.MustCompile(`(?m)^cp ((?:contrib/systemd/\S+ )+)/etc/systemd/system/$`)
	for _, step := range []string{"push-config", "pull-config"} {
		for _, m := range cp.FindAllStringSubmatch(blocks[step].text, -1) {
			for _, f := range strings.Fields(m[1]) {
				installed[filepath.Base(f)] = true
			}
		}
	}
	for name := range installed {
		b, err := os.ReadFile("../contrib/systemd/" + name)
		if err != nil {
			t.Fatalf("the docs install %s: %v", name, err)
		}
		u, err := parseUnit(string(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, dep := range append(u["Unit"]["Requires"], u["Unit"]["Wants"]...) {
			for _, d := range strings.Fields(strings.ReplaceAll(dep, "%i", "")) {
				if _, err := os.Stat("../contrib/systemd/" + d); err == nil && !installed[d] {
					t.Errorf("%s requires %s, which the docs do not install beside it", name, d)
				}
			}
		}
	}
	if !installed["sshlogfwd-push@.socket"] {
		t.Fatalf("the docs do not install the push socket unit: %v", installed)
	}
	b, _ := os.ReadFile("../contrib/systemd/sshlogfwd-push@.socket")
	sock, err := parseUnit(strings.ReplaceAll(string(b), "%i", "push"))
	if err != nil {
		t.Fatal(err)
	}
	fifo, _ := sock.last("Socket", "ListenFIFO")
	files := docFiles(blocks, "push-config")
	if got := byHandInvocation(t, blocks["push-by-hand"], files).Flags["fifo"]; got != fifo {
		t.Errorf("push-by-hand reads --fifo %q, the socket unit makes %q", got, fifo)
	}
	conf, _ := os.ReadFile("../contrib/rsyslog.d/sshlogfwd.conf")
	if !strings.Contains(string(conf), `pipe="`+fifo+`"`) {
		t.Errorf("contrib/rsyslog.d/sshlogfwd.conf does not write %s", fifo)
	}
}
