package main

import (
	"errors"
	"fmt"

	"github.com/sshlogfwd/sshlogfwd/internal/profile"
	"github.com/sshlogfwd/sshlogfwd/internal/usage"
)

// ProfileFlags ask for profiles of the whole run, for `go tool pprof`.
// They are for us, not for users (the benchmark harness gives them to every
// process it starts), hence hidden. They name files to write, so only the
// local command line may give them: they have no environment variable, and
// they are refused under sshd, where the client chooses part of the
// environment and the request.
type ProfileFlags struct {
	CPUProfile string `name:"cpuprofile" env:"-" hidden:"" help:"Write a CPU profile of the run to FILE, which must not exist yet." placeholder:"FILE"`
	MemProfile string `name:"memprofile" env:"-" hidden:"" help:"At the end of the run, write a heap profile to FILE, which must not exist yet." placeholder:"FILE"`
}

// start starts the profiles (internal/profile). The returned stop ends
// them; run defers it, so the profiles are complete on every normal exit.
func (p ProfileFlags) start(sshd bool) (stop func() error, err error) {
	if p.CPUProfile == "" && p.MemProfile == "" {
		return func() error { return nil }, nil
	}
	if sshd {
		return func() error { return nil }, usage.Flag("--cpuprofile, --memprofile", errors.New("refused under sshd: profiles are for a local run only"))
	}
	stop, err = profile.Start(p.CPUProfile, p.MemProfile)
	return stop, profileError(err)
}

// profileError names the flag of a profile that failed; a file that could
// not be created is a pathError.
func profileError(err error) error {
	var pe *profile.Error
	if !errors.As(err, &pe) {
		return err
	}
	flag := "--" + pe.Kind + "profile"
	if pe.Create {
		return usage.Path(flag, pe.Err)
	}
	return fmt.Errorf("%s: %w", flag, pe.Err)
}
