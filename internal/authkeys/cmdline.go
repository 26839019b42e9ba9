package authkeys

import (
	"errors"
	"fmt"

	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// The rules of `sshlogfwd authorized-key`'s command line that are about
// the line it prints: which forced command, accepted from where, for
// which key. Refusals are *usage.Error naming the flag.

// RoleFor is the forced command's role for side ("push" or "pull") in the
// mode asked for: push is compatible unless reliable, pull reliable unless
// compat.
func RoleFor(side string, reliable, compat bool) Role {
	switch {
	case side == "push" && reliable:
		return PushReliable
	case side == "push":
		return PushCompat
	case compat:
		return PullCompat
	}
	return PullReliable
}

// Sources checks where the key may be used from: the --from patterns
// (CheckFrom, whose warnings it returns), or --any-source, and exactly one
// of them.
func Sources(from []string, anySource bool) (warnings []string, err error) {
	switch {
	case len(from) == 0 && !anySource:
		return nil, usage.Flag("--from", errors.New("say where the key may be used from (the address of the connecting host), or give --any-source explicitly: from= is what makes a stolen key useless elsewhere"))
	case len(from) > 0 && anySource:
		return nil, usage.Flag("--any-source", errors.New("contradicts --from"))
	case anySource:
		return nil, nil
	}
	warnings, err = CheckFrom(from)
	return warnings, usage.Flag("--from", err)
}

// ReadKeyFile parses data, read from the file --key names (file; "-" for
// standard input), as the public key of the line. A private key is
// refused with the way to the public one: it never leaves its host.
func ReadKeyFile(data []byte, file string) (PublicKey, error) {
	name := file
	if file == "-" {
		name = "standard input"
	}
	k, err := ParsePublicKey(data)
	if errors.Is(err, ErrPrivateKey) {
		hint := "give the .pub file"
		if file != "-" {
			hint = fmt.Sprintf("give %s.pub (or print it with: ssh-keygen -y -f %s)", file, file)
		}
		return PublicKey{}, usage.Flag("--key", fmt.Errorf("%s holds a private key, not a public one: %s. A private key never leaves the host that uses it", name, hint))
	}
	if err != nil {
		return PublicKey{}, usage.Flag("--key", fmt.Errorf("%s: %w", name, err))
	}
	return k, nil
}
