package authkeys

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// CheckFrom validates a from= pattern list (addresses, CIDR blocks, host
// name patterns with * and ?, each optionally negated with !) and returns
// warnings for patterns that are valid but probably not what was meant.
//
// Refused: empty or blank entries, characters sshd does not use in
// patterns, CIDR blocks with host bits set (sshd treats the whole list as
// invalid and refuses the key), patterns or lists that match every address
// ("*", "?*", "*.*.*.*", "0.0.0.0/0", "0.0.0.0/1,128.0.0.0/1"; negations
// do not make them narrower in spirit: say --any-source instead), and
// lists that match no address (the key would be refused from everywhere).
func CheckFrom(patterns []string) (warnings []string, err error) {
	if len(patterns) == 0 {
		return nil, errors.New("empty from list")
	}
	var positive, negative []string
	for _, p := range patterns {
		warn, err := checkFromEntry(p)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
		if body, neg := strings.CutPrefix(p, "!"); neg {
			negative = append(negative, body)
		} else {
			positive = append(positive, p)
		}
	}
	if len(positive) == 0 {
		return nil, errors.New("the from list holds only negations ('!...'), which match nothing: the key would be refused from everywhere")
	}
	if err := checkReach(positive, negative); err != nil {
		return nil, err
	}
	return warnings, nil
}

// checkFromEntry checks one entry of a from= list and returns a warning
// for a host name.
func checkFromEntry(p string) (warning string, err error) {
	if p == "" {
		return "", errors.New("empty entry in the from list")
	}
	if bad := strings.IndexFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".:-_*?!/%", r))
	}); bad >= 0 {
		return "", fmt.Errorf("from %q: character %q is not allowed in an address or host pattern", p, p[bad:bad+1])
	}
	body := strings.TrimPrefix(p, "!")
	if body == "" || strings.Contains(body, "!") {
		return "", fmt.Errorf("from %q: '!' may only prefix a pattern", p)
	}
	switch {
	case strings.Contains(body, "/"):
		pre, err := netip.ParsePrefix(body)
		if err != nil {
			return "", fmt.Errorf("from %q: not a CIDR block such as 192.0.2.0/24: %v", p, err)
		}
		if pre.Masked() != pre {
			return "", fmt.Errorf("from %q: host bits set; sshd would refuse the whole list (did you mean %s?)", p, pre.Masked())
		}
	case isAddrPattern(body):
	default:
		return fmt.Sprintf("from %q is a host name: sshd matches names only with UseDNS yes (the default is no, and then this key is refused from everywhere); prefer the address", p), nil
	}
	return "", nil
}

// isAddrPattern reports whether p is an IP address or an address pattern
// (digits, dots, hex and colons with * and ?).
func isAddrPattern(p string) bool {
	if _, err := netip.ParseAddr(p); err == nil {
		return true
	}
	if strings.Count(p, ":") >= 2 {
		return !strings.ContainsFunc(p, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == ':' || r == '*' || r == '?')
		})
	}
	return !strings.ContainsFunc(p, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == '*' || r == '?')
	})
}

// probes are addresses from every corner of both families, short and
// long, public, private and special: a pattern (or list) matching all of
// one family's matches every address in practice. They are only a sample,
// which is enough to catch "*", "?*", "*.*.*.*", "*:*", /0 and unions of
// blocks that cover everything; the list is for the administrator's own
// key, the check catches shortcuts and slips, not an adversary.
var probes = [][]string{
	{"1.2.3.4", "8.8.8.8", "9.9.9.9", "10.0.0.1", "10.255.255.254", "45.67.89.123", "100.64.0.1",
		"127.0.0.1", "169.254.1.1", "172.16.0.1", "192.0.2.10", "192.168.1.1", "198.51.100.7",
		"203.0.113.99", "223.255.254.199", "255.255.255.255"},
	{"::1", "2001:db8::1", "2001:db8:0:1::", "2a00:1450:4001:81c::200e", "fd00::42", "fe80::1",
		"1:2:3:4:5:6:7:8", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"},
}

// checkReach refuses a list whose positive entries match every address of
// a family (alone or together; negations aside) or which, negations
// included, matches none of the probes nor any address its own entries
// name.
func checkReach(positive, negative []string) error {
	for _, family := range probes {
		for _, p := range positive {
			if matchesAll([]string{p}, family) {
				return fmt.Errorf("from %q matches every address; use --any-source to say so", p)
			}
		}
		if matchesAll(positive, family) {
			return fmt.Errorf("the from patterns %q together match every address; use --any-source to say so", strings.Join(positive, ","))
		}
	}
	var samples []string
	for _, family := range probes {
		samples = append(samples, family...)
	}
	for _, p := range positive {
		samples = append(samples, example(p))
	}
	for _, s := range samples {
		if matchesAny(positive, s) && !matchesAny(negative, s) {
			return nil
		}
	}
	return fmt.Errorf("the from list %q matches no address: its negations exclude all it allows, and the key would be refused from everywhere", strings.Join(append(positive, negative...), ","))
}

// matchesAll reports whether every address is matched by some entry.
func matchesAll(entries, addrs []string) bool {
	for _, a := range addrs {
		if !matchesAny(entries, a) {
			return false
		}
	}
	return true
}

func matchesAny(entries []string, addr string) bool {
	for _, e := range entries {
		if fromMatches(e, addr) {
			return true
		}
	}
	return false
}

// fromMatches reports whether the from= entry (without '!') matches addr,
// an address or a host name, as sshd does (match.c, addr_match_list and
// match_hostname): a CIDR block or an address by the network, anything
// else as a case-insensitive wildcard pattern ('*' any run, '?' one
// character) on the text.
func fromMatches(entry, addr string) bool {
	a, aerr := netip.ParseAddr(addr)
	if pre, err := netip.ParsePrefix(entry); err == nil {
		return aerr == nil && pre.Contains(a)
	}
	if e, err := netip.ParseAddr(entry); err == nil {
		return aerr == nil && e == a
	}
	// Neither side holds '/' (entries with one are CIDR blocks), so
	// path.Match is exactly sshd's wildcard match here.
	ok, _ := path.Match(strings.ToLower(entry), strings.ToLower(addr))
	return ok
}

// example is an address (or name) entry e matches: its network address,
// or the pattern with its wildcards filled in.
func example(e string) string {
	if pre, err := netip.ParsePrefix(e); err == nil {
		return pre.Addr().String()
	}
	return strings.NewReplacer("*", "1", "?", "1").Replace(e)
}
