package forcedcmd

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// DefaultMaxLen bounds the request when Spec.MaxLen is zero: more than any
// legitimate request (a program path, a few flags and a path of PATH_MAX).
const DefaultMaxLen = 8192

// Flag is one flag a request may carry, written --name VALUE or
// --name=VALUE, or --name alone for a flag without a value.
type Flag struct {
	Name string // without the leading dashes
	// Value names the value in messages, e.g. "DEV:INO:OFF" (default
	// "VALUE").
	Value string
	// Check validates the value; nil means the flag takes no value.
	Check func(value string) error
}

// Spec is the one command line a forced command accepts.
type Spec struct {
	// Program is the base name of the program the request must name,
	// e.g. "sshlogfwd". Any path ending in /Program is accepted too: the
	// word is compared, never run.
	Program string
	// Command is the subcommand that must follow, e.g. "serve".
	Command string
	// Flags are the allowed flags; each may appear at most once.
	Flags []Flag
	// Path, if not empty, is the single operand the request may give: it
	// must name exactly this path (compared after path.Clean). With Path
	// empty, operands are refused.
	Path string
	// MaxLen bounds the length of the request in bytes (default
	// DefaultMaxLen).
	MaxLen int
}

// Request is an accepted request.
type Request struct {
	Program string            // as given
	Flags   map[string]string // flag name → value ("" for a flag without value)
	Path    string            // the operand as given, or "" if none
}

// Has reports whether the request set the flag.
func (r Request) Has(name string) bool {
	_, ok := r.Flags[name]
	return ok
}

// Error is a refused request. Its message is meant for the client's stderr.
type Error struct {
	Request string // the request, shortened for display
	Reason  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("refusing request %s: %s", e.Request, e.Reason)
}

// display shortens and quotes s for an error message.
func display(s string) string {
	const max = 120
	if len(s) > max {
		return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// Usage is the accepted form, for error messages.
func (s Spec) Usage() string {
	var b strings.Builder
	b.WriteString(s.Program + " " + s.Command)
	for _, f := range s.Flags {
		if f.Check == nil {
			fmt.Fprintf(&b, " [--%s]", f.Name)
		} else {
			v := f.Value
			if v == "" {
				v = "VALUE"
			}
			fmt.Fprintf(&b, " [--%s %s]", f.Name, v)
		}
	}
	if s.Path != "" {
		fmt.Fprintf(&b, " [[--] %s]", s.Path)
	}
	return b.String()
}

// Parse checks the client's request original against s.
func (s Spec) Parse(original string) (Request, error) {
	req, err := s.parse(original)
	if err != nil {
		return Request{}, &Error{Request: display(original), Reason: err.Error() + "; this key accepts only: " + s.Usage()}
	}
	return req, nil
}

// parse does Parse's work; its errors are the reasons, without the usage.
func (s Spec) parse(original string) (Request, error) {
	maxLen := s.MaxLen
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	if len(original) > maxLen {
		return Request{}, fmt.Errorf("longer than %d bytes", maxLen)
	}
	words, err := Split(original)
	if err != nil {
		return Request{}, err
	}
	if len(words) == 0 {
		return Request{}, errors.New("empty command")
	}
	prog := words[0]
	if prog != s.Program && !strings.HasSuffix(prog, "/"+s.Program) {
		return Request{}, fmt.Errorf("program %q is not %s", prog, s.Program)
	}
	if len(words) < 2 || words[1] != s.Command {
		return Request{}, fmt.Errorf("the command after %s must be %q", s.Program, s.Command)
	}
	p := requestParser{spec: s, req: Request{Program: prog, Flags: map[string]string{}}}
	if err := p.words(words[2:]); err != nil {
		return Request{}, err
	}
	return p.req, nil
}

// requestParser takes the words after the command apart: flags, "--" and
// the one operand.
type requestParser struct {
	spec Spec
	req  Request
}

func (p *requestParser) words(rest []string) error {
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		switch {
		case w == "--":
			for _, op := range rest[i+1:] {
				if err := p.operand(op); err != nil {
					return err
				}
			}
			return nil
		case !strings.HasPrefix(w, "-"):
			if err := p.operand(w); err != nil {
				return err
			}
		default:
			used, err := p.flag(w, rest[i+1:])
			if err != nil {
				return err
			}
			i += used
		}
	}
	return nil
}

// operand accepts w as the request's path: the one the spec names.
func (p *requestParser) operand(w string) error {
	if p.spec.Path == "" {
		return fmt.Errorf("unexpected argument %q", w)
	}
	if p.req.Path != "" {
		return fmt.Errorf("unexpected extra argument %q", w)
	}
	if path.Clean(w) != path.Clean(p.spec.Path) {
		return fmt.Errorf("path %q is not the path this key serves", w)
	}
	p.req.Path = w
	return nil
}

// flag accepts the option w (--name, --name=value or --name value, the
// value taken from next) and reports how many words of next it used.
func (p *requestParser) flag(w string, next []string) (used int, err error) {
	name, value, hasValue := strings.Cut(strings.TrimPrefix(w, "--"), "=")
	if !strings.HasPrefix(w, "--") || name == "" {
		return 0, fmt.Errorf("unknown option %q", w)
	}
	j := slices.IndexFunc(p.spec.Flags, func(f Flag) bool { return f.Name == name })
	if j < 0 {
		return 0, fmt.Errorf("unknown option --%s", name)
	}
	if p.req.Has(name) {
		return 0, fmt.Errorf("option --%s given twice", name)
	}
	f := p.spec.Flags[j]
	if f.Check == nil {
		if hasValue {
			return 0, fmt.Errorf("option --%s takes no value", name)
		}
		p.req.Flags[name] = ""
		return 0, nil
	}
	if !hasValue {
		if len(next) == 0 {
			return 0, fmt.Errorf("option --%s needs a value", name)
		}
		value, used = next[0], 1
	}
	if err := f.Check(value); err != nil {
		return 0, fmt.Errorf("option --%s: %v", name, err)
	}
	p.req.Flags[name] = value
	return used, nil
}

// safeUnquoted are the characters a word may hold outside quotes: those that
// no POSIX shell gives a meaning to (the set ShellQuote leaves
// unquoted).
func safeUnquoted(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("@%_-+=:,./", c) >= 0
}

// Split splits a request into words. Words are separated by spaces; a word
// is made of characters from a small safe set, of single-quoted strings
// ('...', any printable text but a quote) and of \' (a quote outside quotes),
// which is exactly what ShellQuote and ShellJoin produce. Everything
// else a shell would interpret is an error rather than guessed at.
func Split(s string) ([]string, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return nil, fmt.Errorf("control character %q", r)
		}
	}
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '\\':
			if i+1 >= len(s) || s[i+1] != '\'' {
				return nil, errors.New(`backslash other than \'`)
			}
			w.WriteByte('\'')
			i++
			inWord = true
		case safeUnquoted(c):
			w.WriteByte(c)
			inWord = true
		default:
			if c >= 0x80 {
				return nil, errors.New("non-ASCII character outside single quotes")
			}
			return nil, fmt.Errorf("character %q is not allowed outside single quotes", c)
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
