package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
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

// start creates the profile files (both at once, so that a bad name fails
// before the run, not after it) and starts the CPU profile. The returned
// stop ends the CPU profile and writes the heap profile; run defers it, so
// the profiles are complete on every normal exit.
func (p ProfileFlags) start(sshd bool) (stop func(), err error) {
	stop = func() {}
	if p.CPUProfile == "" && p.MemProfile == "" {
		return stop, nil
	}
	if sshd {
		return stop, usage("--cpuprofile, --memprofile", errors.New("refused under sshd: profiles are for a local run only"))
	}
	cpu, err := createProfile("--cpuprofile", p.CPUProfile)
	if err != nil {
		return stop, err
	}
	mem, err := createProfile("--memprofile", p.MemProfile)
	if err != nil {
		closeProfile(cpu)
		return stop, err
	}
	if cpu != nil {
		if err := pprof.StartCPUProfile(cpu); err != nil {
			closeProfile(cpu)
			closeProfile(mem)
			return stop, fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			closeProfile(cpu)
		}
		if mem != nil {
			runtime.GC()
			if err := pprof.WriteHeapProfile(mem); err != nil {
				fmt.Fprintln(os.Stderr, "sshlogfwd: --memprofile:", err)
			}
			closeProfile(mem)
		}
	}, nil
}

// createProfile creates a new profile file: O_EXCL and O_NOFOLLOW, so that
// it never truncates an existing file or writes through a symlink. An
// empty path is no profile (nil).
func createProfile(flag, path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, pathError(flag, err)
	}
	return f, nil
}

func closeProfile(f *os.File) {
	if f == nil {
		return
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "sshlogfwd: close profile:", err)
	}
}
