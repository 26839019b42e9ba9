package forcedcmd

import "strings"

// ShellQuote quotes s for a POSIX shell so that it arrives as one word of
// data. ssh joins its remote arguments with spaces and the far sshd runs the
// result through "$SHELL -c", so every argument we send must be quoted by us:
// a path holding spaces, quotes, ';' or $(...) must never become code.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, needsQuote) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func needsQuote(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("@%_-+=:,./", r)
}

// ShellJoin quotes every word and joins them with spaces.
func ShellJoin(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = ShellQuote(w)
	}
	return strings.Join(q, " ")
}
