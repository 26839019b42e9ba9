// Package logfile is where our own diagnostics go: standard error, or a
// file appended to that SIGHUP reopens under the same name after
// logrotate renamed it, together with every other file a command asks to
// be reopened (pull's --output in compatible mode).
package logfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// File is an append-only file that can be reopened under the same name,
// or standard error. Writes are serialised with Reopen.
type File struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// Open opens path for appending (creating it 0640), or returns standard
// error for "".
func Open(path string) (*File, error) {
	if path == "" {
		return &File{f: os.Stderr}, nil
	}
	l := &File{path: path}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// Write writes p to the file open now.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes the file and opens the path again, creating it; it does
// nothing for standard error.
func (l *File) Reopen() error {
	if l.path == "" {
		return nil
	}
	// O_NONBLOCK: opening a FIFO nobody reads would otherwise block
	// forever (before any signal handler is set up); it fails with ENXIO
	// instead. On a regular file the flag has no effect.
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK, 0o640)
	if errors.Is(err, syscall.ENXIO) {
		return fmt.Errorf("%s is a FIFO or socket that nobody reads; give a regular file: %w", l.path, err)
	}
	if err != nil {
		return err // an *fs.PathError naming the path
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file (never standard error).
func (l *File) Close() error {
	if l.path == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Reopenable is a file that SIGHUP reopens.
type Reopenable interface{ Reopen() error }

// ReopenFunc is a function as a Reopenable.
type ReopenFunc func() error

// Reopen calls f.
func (f ReopenFunc) Reopen() error { return f() }

// Reopener reopens every registered file each time a signal arrives on
// its channel (SIGHUP, delivered by signal.Notify).
type Reopener struct {
	hup   <-chan os.Signal
	log   *slog.Logger
	mu    sync.Mutex
	files map[string]Reopenable
}

// NewReopener reopens on each value from hup and logs what it did to log.
func NewReopener(hup <-chan os.Signal, log *slog.Logger) *Reopener {
	return &Reopener{hup: hup, log: log, files: map[string]Reopenable{}}
}

// Add registers f under name (the flag that named it, for the log).
func (r *Reopener) Add(name string, f Reopenable) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[name] = f
}

// Run reopens the registered files on every signal until ctx ends.
func (r *Reopener) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.hup:
			r.mu.Lock()
			for name, f := range r.files {
				if err := f.Reopen(); err != nil {
					r.log.Error("SIGHUP: reopen failed", "flag", name, "err", err)
				}
			}
			r.mu.Unlock()
			r.log.Info("SIGHUP: reopened files")
		}
	}
}
