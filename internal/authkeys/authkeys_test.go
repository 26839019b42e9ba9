package authkeys

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// blob returns a syntactically valid key blob of type typ.
func blob(typ string) string {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(typ)))
	b = append(b, typ...)
	b = binary.BigEndian.AppendUint32(b, 32)
	b = append(b, bytes.Repeat([]byte{7}, 32)...)
	return base64.StdEncoding.EncodeToString(b)
}

var edKey = "ssh-ed25519 " + blob("ssh-ed25519") + " sshlogfwd@web1"

func TestParsePublicKey(t *testing.T) {
	tests := []struct {
		name, in string
		want     PublicKey
		wantErr  string
	}{
		{name: "ed25519", in: edKey + "\n", want: PublicKey{"ssh-ed25519", blob("ssh-ed25519"), "sshlogfwd@web1"}},
		{name: "no comment", in: "ssh-ed25519 " + blob("ssh-ed25519"), want: PublicKey{"ssh-ed25519", blob("ssh-ed25519"), ""}},
		{name: "comment with spaces", in: "ssh-ed25519 " + blob("ssh-ed25519") + " a  b", want: PublicKey{"ssh-ed25519", blob("ssh-ed25519"), "a b"}},
		{name: "CRLF and comments", in: "# mine\r\n\r\n" + edKey + "\r\n", want: PublicKey{"ssh-ed25519", blob("ssh-ed25519"), "sshlogfwd@web1"}},
		{name: "ecdsa", in: "ecdsa-sha2-nistp256 " + blob("ecdsa-sha2-nistp256"), want: PublicKey{"ecdsa-sha2-nistp256", blob("ecdsa-sha2-nistp256"), ""}},
		{name: "openssh private", in: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n", wantErr: "private key"},
		{name: "pem private", in: "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n", wantErr: "private key"},
		{name: "putty private", in: "PuTTY-User-Key-File-3: ssh-ed25519\n", wantErr: "private key"},
		{name: "empty", in: "\n# nothing\n", wantErr: "no public key"},
		{name: "two keys", in: edKey + "\n" + edKey + "\n", wantErr: "2 keys"},
		{name: "options", in: `restrict,command="cat >> /x" ` + edKey, wantErr: "already carries authorized_keys options"},
		{name: "bare option", in: "restrict " + edKey, wantErr: "already carries"},
		{name: "options no comma", in: `from="1.2.3.4" ` + edKey, wantErr: "already carries"},
		{name: "certificate", in: "ssh-ed25519-cert-v01@openssh.com " + blob("ssh-ed25519-cert-v01@openssh.com"), wantErr: "certificate"},
		{name: "dsa", in: "ssh-dss " + blob("ssh-dss"), wantErr: "DSA"},
		{name: "unknown type", in: "ssh-foo " + blob("ssh-foo"), wantErr: "unknown key type"},
		{name: "one field", in: "ssh-ed25519", wantErr: "not a public key line"},
		{name: "bad base64", in: "ssh-ed25519 AAAA$$$$", wantErr: "bad base64"},
		{name: "type mismatch", in: "ssh-ed25519 " + blob("ssh-rsa"), wantErr: "not of type"},
		{name: "short blob", in: "ssh-ed25519 AAAA", wantErr: "not of type"},
		{name: "huge length", in: "ssh-ed25519 " + base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff, 0xff, 'x'}), wantErr: "not of type"},
		{name: "control in comment", in: "ssh-ed25519 " + blob("ssh-ed25519") + " a\x1bb", wantErr: "control"},
		{name: "too long", in: strings.Repeat("#", 70000), wantErr: "too long"},
	}
	for _, tt := range tests {
		got, err := ParsePublicKey([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "b3BlbnNz") {
				t.Errorf("%s: the error repeats the private key: %v", tt.name, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

// TestParseGeneratedKeys uses ssh-keygen's own output: the .pub is accepted
// and the private key file is refused.
func TestParseGeneratedKeys(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	dir := t.TempDir()
	for _, typ := range []string{"ed25519", "rsa", "ecdsa"} {
		priv := filepath.Join(dir, typ)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", "c "+typ, "-f", priv).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, _ := os.ReadFile(priv + ".pub")
		k, err := ParsePublicKey(pub)
		if err != nil || k.String() != strings.TrimSpace(string(pub)) {
			t.Errorf("%s: %+v, %v; want %q", typ, k, err, pub)
		}
		b, _ := os.ReadFile(priv)
		if _, err := ParsePublicKey(b); !errors.Is(err, ErrPrivateKey) {
			t.Errorf("%s private key: %v, want ErrPrivateKey", typ, err)
		}
	}
}

func TestQuoteOption(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "cat >> /var/log/x.log", want: `"cat >> /var/log/x.log"`},
		{in: `say "hi"`, want: `"say \"hi\""`},
		{in: `a\b`, want: `"a\b"`},
		{in: `a\"b`, want: `"a\\"b"`},
		{in: "", want: `""`},
		{in: `ends\`, wantErr: "backslash"},
		{in: "a\nb", wantErr: "newline"},
		{in: "a\rb", wantErr: "newline"},
		{in: "a\x00b", wantErr: "NUL"},
	}
	for _, tt := range tests {
		got, err := QuoteOption(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("QuoteOption(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("QuoteOption(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
		back, rest, err := Dequote(got + ` ssh-ed25519 AAAA`)
		if err != nil || back != tt.in || rest != " ssh-ed25519 AAAA" {
			t.Errorf("Dequote(%s) = %q, %q, %v; want %q", got, back, rest, err, tt.in)
		}
	}
}

// FuzzQuoteOption: whatever QuoteOption accepts, sshd's parser reads back
// exactly, and nothing after the closing quote is taken into the value.
func FuzzQuoteOption(f *testing.F) {
	for _, s := range []string{"cat >> /x", `a"b`, `a\"b`, `\\`, `"`, `\"\"`, "x\\", "'\\''", "$(id)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := QuoteOption(s)
		if err != nil {
			return
		}
		back, rest, err := Dequote(q + `,next="v"`)
		if err != nil || back != s || rest != `,next="v"` {
			t.Fatalf("QuoteOption(%q) = %s reads back as %q, rest %q, %v", s, q, back, rest, err)
		}
	})
}

func TestCheckFrom(t *testing.T) {
	tests := []struct {
		in       []string
		wantErr  string
		wantWarn bool
	}{
		{in: []string{"192.0.2.10"}},
		{in: []string{"192.0.2.0/24", "!192.0.2.5"}},
		{in: []string{"2001:db8::1"}},
		{in: []string{"2001:db8::/32"}},
		{in: []string{"192.0.2.*"}},
		{in: []string{"fe80::*"}},
		{in: []string{"web1.example.org"}, wantWarn: true},
		{in: []string{"*.example.org"}, wantWarn: true},
		{in: nil, wantErr: "empty from list"},
		{in: []string{""}, wantErr: "empty entry"},
		{in: []string{"*"}, wantErr: "--any-source"},
		{in: []string{"0.0.0.0/0"}, wantErr: "--any-source"},
		{in: []string{"::/0"}, wantErr: "--any-source"},
		{in: []string{"192.0.2.10/24"}, wantErr: "host bits"},
		{in: []string{"192.0.2.0/33"}, wantErr: "CIDR"},
		{in: []string{"!192.0.2.10"}, wantErr: "only negations"},
		// Everything, in other words: only --any-source may say it.
		{in: []string{"?*"}, wantErr: "--any-source"},
		{in: []string{"**"}, wantErr: "--any-source"},
		{in: []string{"*.*.*.*"}, wantErr: "--any-source"},
		{in: []string{"*.*"}, wantErr: "--any-source"},
		{in: []string{"*:*"}, wantErr: "--any-source"},
		{in: []string{"???????*"}, wantErr: "--any-source"},
		{in: []string{"192.0.2.10", "*.*.*.*"}, wantErr: "--any-source"},
		{in: []string{"*", "!192.0.2.10"}, wantErr: "--any-source"},
		{in: []string{"!192.0.2.10", "?*"}, wantErr: "--any-source"},
		{in: []string{"0.0.0.0/1", "128.0.0.0/1"}, wantErr: "--any-source"},
		{in: []string{"0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"}, wantErr: "--any-source"},
		{in: []string{"1*", "2*", "3*", "4*", "5*", "6*", "7*", "8*", "9*"}, wantErr: "--any-source"},
		{in: []string{"::/1", "8000::/1"}, wantErr: "--any-source"},
		// Nothing: the negations take back all the list allows.
		{in: []string{"192.0.2.10", "!192.0.2.0/24"}, wantErr: "matches no address"},
		{in: []string{"192.0.2.*", "!*"}, wantErr: "matches no address"},
		{in: []string{"!0.0.0.0/0", "192.0.2.10"}, wantErr: "matches no address"},
		// Broad but not everything.
		{in: []string{"0.0.0.0/1"}},
		{in: []string{"10.*"}},
		{in: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}},
		{in: []string{"192.0.2.*", "!192.0.2.1"}},
		{in: []string{"*.example.org", "!bad.example.org"}, wantWarn: true},
		{in: []string{"1.2.3.4\"", "x"}, wantErr: "not allowed"},
		{in: []string{"1.2.3.4 5.6.7.8"}, wantErr: "not allowed"},
		{in: []string{"1.2.3.4,5.6.7.8"}, wantErr: "not allowed"},
		{in: []string{"a!b"}, wantErr: "'!'"},
		{in: []string{"!"}, wantErr: "'!'"},
	}
	for _, tt := range tests {
		warn, err := CheckFrom(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckFrom(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || (len(warn) > 0) != tt.wantWarn {
			t.Errorf("CheckFrom(%q) = %q, %v; want warning %v", tt.in, warn, err, tt.wantWarn)
		}
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		role    Role
		path    string
		opts    CommandOptions
		want    string
		wantErr string
	}{
		{role: PushCompat, path: "/var/log/remote/web1.log", want: "cat >> /var/log/remote/web1.log"},
		{role: PushCompat, path: "/var/log/a b'c\".log", want: `cat >> '/var/log/a b'\''c".log'`},
		{role: PushReliable, path: "/var/log/r.log", want: "/usr/local/bin/sshlogfwd receive -- /var/log/r.log"},
		{role: PushReliable, path: "/var/log/r.log", opts: CommandOptions{MaxSize: "10GiB", SSHLogFwd: "/opt/slf/bin/sshlogfwd"}, want: "/opt/slf/bin/sshlogfwd receive --max-size 10GiB -- /var/log/r.log"},
		{role: PullCompat, path: "/var/log/auth.log", want: "tail -F -n 0 -- /var/log/auth.log"},
		{role: PullReliable, path: "/var/log/auth.log", opts: CommandOptions{SSHLogFwd: "/opt/my dir/sshlogfwd"}, want: "'/opt/my dir/sshlogfwd' serve -- /var/log/auth.log"},
		{role: PullReliable, path: "/-x", want: "/usr/local/bin/sshlogfwd serve -- /-x"},
		{role: PushCompat, path: "relative.log", wantErr: "not absolute"},
		{role: PushCompat, path: "/var/log/", wantErr: "directory"},
		{role: PushCompat, path: "/a\nb", wantErr: "control character"},
		{role: PushCompat, path: "/a\tb", wantErr: "control character"},
		{role: PushCompat, path: "/a\xffb", wantErr: "UTF-8"},
		{role: PushCompat, path: "", wantErr: "empty"},
		{role: PushCompat, path: "/home/log/.ssh/authorized_keys", wantErr: "hidden"},
		{role: PushCompat, path: "/home/log/.bashrc", wantErr: "hidden"},
		{role: PushReliable, path: "/var/log/.hidden/x.log", wantErr: "hidden"},
		{role: PullCompat, path: "/var/log/../log/auth.log", wantErr: "'..'"},
		{role: PushCompat, path: "/etc/cron.d/loguser", wantErr: "under /etc"},
		{role: PushCompat, path: "/var/log/a\u0085b.log", wantErr: "control character"},
		{role: PullReliable, path: "/x", opts: CommandOptions{SSHLogFwd: "sshlogfwd"}, wantErr: "sshlogfwd path"},
		{role: PullCompat, path: "/x", opts: CommandOptions{MaxSize: "1G"}, wantErr: "reliable push only"},
	}
	for _, tt := range tests {
		got, err := Command(tt.role, tt.path, tt.opts)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Command(%v, %q) error %v, want %q", tt.role, tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Command(%v, %q) = %q, %v; want %q", tt.role, tt.path, got, err, tt.want)
		}
	}
}

// hostilePaths are file names that must stay data inside the forced
// command, for every role.
var hostilePaths = []string{
	"plain.log",
	"a b.log",
	"it's.log",
	`say "hi".log`,
	`back\slash.log`,
	`back\\"quote.log`,
	"semi;touch INJECTED;.log",
	"$(touch INJECTED2).log",
	"`touch INJECTED3`.log",
	"-n",
	"--help",
	"*",
	"~root",
	"ends-in-backslash\\",
	"ünïcödé.log",
}

// TestCommandShellWords runs each forced command through /bin/sh the way
// sshd does ($SHELL -c), after reading the option back with our own
// Dequote, and checks which words the program receives: the path always
// arrives as one word, intact. It is the quick check of the shell's side
// only: what the real sshd makes of the lines is proved end to end, for
// every role and these names, by e2e TestAuthorizedKeyReliableRoundTrip
// and TestAuthorizedKeyPushThroughSSHD.
func TestCommandShellWords(t *testing.T) {
	dir := t.TempDir()
	for _, name := range hostilePaths {
		p := filepath.Join(dir, name)
		for _, role := range []Role{PushReliable, PullCompat, PullReliable} {
			cmd, err := Command(role, p, CommandOptions{SSHLogFwd: "/opt/x y/sshlogfwd"})
			if err != nil {
				t.Fatalf("Command(%v, %q): %v", role, p, err)
			}
			words := sshdRun(t, dir, cmd, "")
			if len(words) == 0 || words[len(words)-1] != p || words[len(words)-2] != "--" {
				t.Errorf("%v %q: the shell saw words %q", role, p, words)
			}
		}
		cmd, err := Command(PushCompat, p, CommandOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sshdRun(t, dir, cmd, "line\n")
		if b, err := os.ReadFile(p); err != nil || string(b) != "line\n" {
			t.Errorf("cat >> %q: file holds %q, %v", p, b, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "INJECTED") {
			t.Errorf("a path ran code: %s exists", e.Name())
		}
	}
}

// sshdRun puts cmd into a command="..." option, reads it back with
// Dequote (our model of sshd's opt_dequote), and runs it with sh -c. For commands other than cat >> the program
// is replaced by a printer of its arguments, which it returns.
func sshdRun(t *testing.T, dir, cmd, stdin string) []string {
	t.Helper()
	q, err := QuoteOption(cmd)
	if err != nil {
		t.Fatalf("QuoteOption(%q): %v", cmd, err)
	}
	back, _, err := Dequote(q)
	if err != nil || back != cmd {
		t.Fatalf("sshd would read %s as %q (%v)", q, back, err)
	}
	script := back
	if !strings.HasPrefix(back, "cat >> ") {
		script = `printargs() { shift; for a in "$@"; do printf '%s\0' "$a"; done; }; printargs ` + back
	}
	c := exec.Command("/bin/sh", "-c", script)
	c.Dir = dir
	c.Stdin = strings.NewReader(stdin)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", script, err)
	}
	if len(out) == 0 {
		return nil
	}
	// The first word after the program is the subcommand or tail's flags.
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

func TestBuild(t *testing.T) {
	k, _ := ParsePublicKey([]byte(edKey))
	line, err := Build(Line{Key: k, Command: `cat >> '/var/log/a "b".log'`, From: []string{"192.0.2.10", "2001:db8::/32"}})
	want := `restrict,from="192.0.2.10,2001:db8::/32",command="cat >> '/var/log/a \"b\".log'" ` + edKey
	if err != nil || line != want {
		t.Errorf("Build = %s, %v\nwant %s", line, err, want)
	}
	line, err = Build(Line{Key: k, Command: "tail -F -n 0 -- /var/log/auth.log", Legacy: true})
	want = `no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc,command="tail -F -n 0 -- /var/log/auth.log" ` + edKey
	if err != nil || line != want {
		t.Errorf("Build legacy = %s, %v\nwant %s", line, err, want)
	}
	for _, l := range []Line{
		{Key: k},
		{Key: k, Command: "x\ny"},
		{Key: k, Command: "x", From: []string{"*"}},
		{Key: PublicKey{Type: "ssh-ed25519", Data: "AAAA"}, Command: "x"},
	} {
		if s, err := Build(l); err == nil {
			t.Errorf("Build(%+v) = %s, want an error", l, s)
		}
	}
}
