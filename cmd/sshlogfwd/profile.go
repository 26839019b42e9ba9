package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole run to the file named by
// $SSHLOGFWD_CPUPROFILE and, at the end, a heap profile to
// $SSHLOGFWD_MEMPROFILE, for `go tool pprof`. They are environment
// variables rather than flags because they are for us, not for users, and
// work the same for every command (the benchmark harness sets them on a
// running setup without changing its command line). run defers the
// returned function, so the profiles are complete on every normal exit.
func startProfile() (stop func()) {
	cpuPath, memPath := os.Getenv("SSHLOGFWD_CPUPROFILE"), os.Getenv("SSHLOGFWD_MEMPROFILE")
	var cpu *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sshlogfwd: SSHLOGFWD_CPUPROFILE:", err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memPath != "" {
			f, err := os.Create(memPath)
			if err == nil {
				runtime.GC()
				err = pprof.WriteHeapProfile(f)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "sshlogfwd: SSHLOGFWD_MEMPROFILE:", err)
			}
		}
	}
}
