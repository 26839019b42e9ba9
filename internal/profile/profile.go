// Package profile writes CPU and heap profiles of a whole run, for `go
// tool pprof`: what the hidden --cpuprofile and --memprofile flags ask
// for (the benchmark harness gives them to every process it starts).
package profile

import (
	"errors"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// Kinds of profile, as Error names them.
const (
	CPU  = "cpu"
	Heap = "mem"
)

// Error is a profile that could not be written. Create says that its file
// could not be created (a name the caller may want to refuse as a mistake
// of the command line); otherwise profiling itself failed.
type Error struct {
	Kind   string // CPU or Heap
	Create bool
	Err    error
}

func (e *Error) Error() string { return e.Kind + " profile: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Start creates the profile files cpu and heap ("" is none; both at once,
// so that a bad name fails before the run, not after it) and starts the
// CPU profile. The returned stop, never nil, ends the CPU profile and
// writes the heap profile; the caller defers it, so that the profiles are
// complete on every normal exit, and says its error.
func Start(cpu, heap string) (stop func() error, err error) {
	stop = func() error { return nil }
	cf, err := create(CPU, cpu)
	if err != nil {
		return stop, err
	}
	hf, err := create(Heap, heap)
	if err != nil {
		return stop, errors.Join(err, closeFile(cf))
	}
	if cf != nil {
		if err := pprof.StartCPUProfile(cf); err != nil {
			return stop, errors.Join(&Error{Kind: CPU, Err: err}, closeFile(cf), closeFile(hf))
		}
	}
	return func() error {
		var errs []error
		if cf != nil {
			pprof.StopCPUProfile()
			errs = append(errs, closeFile(cf))
		}
		if hf != nil {
			runtime.GC()
			if err := pprof.WriteHeapProfile(hf); err != nil {
				errs = append(errs, &Error{Kind: Heap, Err: err})
			}
			errs = append(errs, closeFile(hf))
		}
		return errors.Join(errs...)
	}, nil
}

// create creates a new profile file: O_EXCL and O_NOFOLLOW, so that it
// never truncates an existing file or writes through a symlink. An empty
// path is no profile (nil).
func create(kind, path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, &Error{Kind: kind, Create: true, Err: err}
	}
	return f, nil
}

// closeFile closes a profile file (nil is none).
func closeFile(f *os.File) error {
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return errors.New("close profile: " + err.Error())
	}
	return nil
}
