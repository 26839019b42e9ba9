package authkeys

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/sshlogfwd/sshlogfwd/internal/request"
)

// Role is what a key is for, and so which forced command it gets.
type Role int

const (
	// PushCompat: the log host appends with cat >> PATH (the article's push).
	PushCompat Role = iota
	// PushReliable: the log host runs sshlogfwd receive PATH.
	PushReliable
	// PullCompat: the watched host runs tail -F -n 0 PATH (the article's
	// pull, with -F to follow rotation and -n 0 so that a reconnect does not
	// repeat the last ten lines).
	PullCompat
	// PullReliable: the watched host runs sshlogfwd serve PATH.
	PullReliable
)

func (r Role) String() string {
	switch r {
	case PushCompat:
		return "push (compatible: cat >>)"
	case PushReliable:
		return "push (reliable: sshlogfwd receive)"
	case PullCompat:
		return "pull (compatible: tail -F)"
	case PullReliable:
		return "pull (reliable: sshlogfwd serve)"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// DefaultSSHLogFwd is where the far side's sshlogfwd is assumed to live.
// A forced command is run by the account's shell with whatever PATH sshd
// gives it, so the line names the binary by its absolute path.
const DefaultSSHLogFwd = "/usr/local/bin/sshlogfwd"

// CommandOptions refine the forced command.
type CommandOptions struct {
	// SSHLogFwd is the absolute path of sshlogfwd on the host where the
	// line goes (reliable roles); DefaultSSHLogFwd when empty.
	SSHLogFwd string
	// MaxSize is passed to receive as --max-size (PushReliable only); it
	// must already be a valid size such as 10GiB.
	MaxSize string
	// KeyFiles are the key file patterns of the sshd that will read the
	// line (SSHDKeyFiles): the file may not be one of them.
	KeyFiles []string
}

// ErrSSHLogFwdPath wraps the refusal of CommandOptions.SSHLogFwd, so that
// the caller can name its own flag.
var ErrSSHLogFwdPath = errors.New("sshlogfwd path")

// Command returns the forced command for role on file p, with every word
// quoted for the remote shell. p must pass CheckTarget (a *PathError
// otherwise); a refused sshlogfwd path is wrapped in ErrSSHLogFwdPath.
func Command(role Role, p string, o CommandOptions) (string, error) {
	if err := CheckTarget(p, o.KeyFiles); err != nil {
		return "", err
	}
	bin := o.SSHLogFwd
	if bin == "" {
		bin = DefaultSSHLogFwd
	}
	if role == PushReliable || role == PullReliable {
		if err := CheckPath(bin); err != nil {
			return "", fmt.Errorf("%w: %w", ErrSSHLogFwdPath, err)
		}
	}
	if o.MaxSize != "" && role != PushReliable {
		return "", errors.New("a size bound applies to reliable push only (sshlogfwd receive --max-size)")
	}
	var cmd string
	switch role {
	case PushCompat:
		cmd = request.Append(p)
	case PushReliable:
		var flags []string
		if o.MaxSize != "" {
			flags = []string{"--max-size", o.MaxSize}
		}
		cmd = request.Receive(bin, p, flags...)
	case PullCompat:
		cmd = request.Tail(p)
	case PullReliable:
		cmd = request.Serve(bin, p, request.ServeRequest{})
	default:
		return "", fmt.Errorf("unknown role %d", int(role))
	}
	if _, err := QuoteOption(cmd); err != nil {
		return "", err
	}
	return cmd, nil
}

// QuoteOption quotes s as the value of an authorized_keys option such as
// command="..." or from="...".
//
// sshd's parser (auth-options.c, opt_dequote) knows a single escape, \" for
// a double quote; every other backslash stands for itself. So only double
// quotes are escaped. Doubling backslashes would double them in what sshd
// runs. A value ending in a backslash cannot be written (its backslash
// would escape the closing quote), nor can one holding a newline (it would
// end the line) or a NUL: those are refused.
func QuoteOption(s string) (string, error) {
	switch {
	case strings.ContainsAny(s, "\r\n"):
		return "", fmt.Errorf("%q contains a newline, which an authorized_keys line cannot hold", s)
	case strings.ContainsRune(s, 0):
		return "", fmt.Errorf("%q contains a NUL byte", s)
	case strings.HasSuffix(s, `\`):
		return "", fmt.Errorf(`%q ends in a backslash, which sshd would read as escaping the closing quote`, s)
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`, nil
}

// Dequote reads a quoted option value the way sshd does (opt_dequote) and
// returns it with the rest of the line. It exists to prove QuoteOption
// right in tests, and to read lines back.
func Dequote(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New("missing start quote")
	}
	var b strings.Builder
	i := 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '"' {
			i++
		}
		b.WriteByte(s[i])
	}
	if i >= len(s) {
		return "", "", errors.New("missing end quote")
	}
	return b.String(), s[i+1:], nil
}

// PublicKey is one OpenSSH public key: "type base64 [comment]".
type PublicKey struct {
	Type    string
	Data    string // base64, as given
	Comment string
}

func (k PublicKey) String() string {
	if k.Comment == "" {
		return k.Type + " " + k.Data
	}
	return k.Type + " " + k.Data + " " + k.Comment
}

// keyTypes are the public key types a plain authorized_keys line can hold.
var keyTypes = map[string]bool{
	"ssh-ed25519":                        true,
	"ssh-rsa":                            true,
	"ecdsa-sha2-nistp256":                true,
	"ecdsa-sha2-nistp384":                true,
	"ecdsa-sha2-nistp521":                true,
	"sk-ssh-ed25519@openssh.com":         true,
	"sk-ecdsa-sha2-nistp256@openssh.com": true,
}

// optionNames are authorized_keys options that take no value, so that a
// line starting with one of them is recognised as carrying options.
var optionNames = map[string]bool{
	"restrict": true, "cert-authority": true, "no-pty": true, "no-port-forwarding": true,
	"no-agent-forwarding": true, "no-X11-forwarding": true, "no-user-rc": true,
	"no-touch-required": true, "verify-required": true,
}

// maxKeyFile bounds what ParsePublicKey reads: an RSA-16384 public key is
// under 3 KiB.
const maxKeyFile = 64 << 10

// ParsePublicKey reads a public key file's content: exactly one key line,
// blank lines and # comments allowed. It refuses a private key given by
// mistake (without repeating any of it), a line that already carries
// options, a certificate, DSA and unknown types, and a key whose encoded
// blob does not match its type.
func ParsePublicKey(data []byte) (PublicKey, error) {
	if len(data) > maxKeyFile {
		return PublicKey{}, fmt.Errorf("%d bytes is far too long for a public key", len(data))
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) || bytes.HasPrefix(data, []byte("PuTTY-User-Key-File")) {
		return PublicKey{}, ErrPrivateKey
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(strings.TrimSuffix(l, "\r"))
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	switch len(lines) {
	case 0:
		return PublicKey{}, errors.New("no public key found")
	case 1:
	default:
		return PublicKey{}, fmt.Errorf("%d keys found; give exactly one (one line per key and host)", len(lines))
	}
	fields := strings.Fields(lines[0])
	if len(fields) < 2 {
		return PublicKey{}, errors.New("not a public key line (want: type base64 [comment])")
	}
	k := PublicKey{Type: fields[0], Data: fields[1], Comment: strings.Join(fields[2:], " ")}
	if !keyTypes[k.Type] {
		switch {
		case strings.Contains(k.Type, "-cert-"):
			return PublicKey{}, fmt.Errorf("%s is a certificate; give the plain public key (certificates go with cert-authority, which this line does not use)", k.Type)
		case k.Type == "ssh-dss":
			return PublicKey{}, errors.New("DSA keys are disabled in current OpenSSH; generate an ed25519 key: ssh-keygen -t ed25519")
		case strings.ContainsAny(k.Type, `"=,`) || optionNames[k.Type]:
			return PublicKey{}, errors.New("this line already carries authorized_keys options; give the bare public key (the .pub file)")
		}
		return PublicKey{}, fmt.Errorf("unknown key type %q", k.Type)
	}
	blob, err := base64.StdEncoding.DecodeString(k.Data)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s key: bad base64: %w", k.Type, err)
	}
	// The blob starts with the key type as an SSH string (uint32 length,
	// bytes); a mismatch means a damaged or hand-edited line.
	if len(blob) < 4 || int(binary.BigEndian.Uint32(blob)) > len(blob)-4 ||
		string(blob[4:4+int(binary.BigEndian.Uint32(blob))]) != k.Type {
		return PublicKey{}, fmt.Errorf("%s key: the encoded key is not of type %s (damaged?)", k.Type, k.Type)
	}
	if strings.ContainsFunc(k.Comment, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return PublicKey{}, errors.New("the key's comment contains control characters")
	}
	return k, nil
}

// ErrPrivateKey is returned for a private key given where the public one
// belongs.
var ErrPrivateKey = errors.New("this is a private key, not a public one")

// LegacyRestrictions spell out restrict for sshd older than 7.2, which does
// not know it (and ignores the whole line if it appears).
const LegacyRestrictions = "no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc"

// Line is one authorized_keys line.
type Line struct {
	Key     PublicKey
	Command string   // the forced command, unquoted
	From    []string // from= patterns; empty means any source address
	// Legacy spells the restrictions out instead of writing restrict.
	Legacy bool
}

func (l Line) format() (string, error) {
	var b strings.Builder
	if l.Legacy {
		b.WriteString(LegacyRestrictions)
	} else {
		b.WriteString("restrict")
	}
	if len(l.From) > 0 {
		q, err := QuoteOption(strings.Join(l.From, ","))
		if err != nil {
			return "", fmt.Errorf("from: %w", err)
		}
		b.WriteString(",from=" + q)
	}
	q, err := QuoteOption(l.Command)
	if err != nil {
		return "", fmt.Errorf("command: %w", err)
	}
	b.WriteString(",command=" + q + " " + l.Key.String())
	return b.String(), nil
}

// Build checks l and returns its text. A line without From must be asked
// for explicitly by the caller (the CLI's --any-source): from= is what
// makes a stolen key useless elsewhere.
func Build(l Line) (string, error) {
	if l.Command == "" {
		return "", errors.New("no forced command")
	}
	if _, err := ParsePublicKey([]byte(l.Key.String())); err != nil {
		return "", err
	}
	if len(l.From) > 0 {
		if _, err := CheckFrom(l.From); err != nil {
			return "", err
		}
	}
	return l.format()
}
