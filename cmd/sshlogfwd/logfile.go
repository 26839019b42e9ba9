package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// LogFlags control our own diagnostics.
type LogFlags struct {
	Log       string `help:"Write our own diagnostics to FILE (appended; default standard error). SIGHUP reopens it, for logrotate." placeholder:"FILE"`
	LogFormat string `help:"Diagnostics format: text or json." enum:"text,json" default:"text"`
	LogLevel  string `help:"Least important diagnostics shown: debug, info, warn, error." enum:"debug,info,warn,error" default:"info"`
}

// logFile is an append-only file that can be reopened under the same name
// (after logrotate renamed it), or standard error.
type logFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openLog(path string) (*logFile, error) {
	if path == "" {
		return &logFile{f: os.Stderr}, nil
	}
	l := &logFile{path: path}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes the file and opens the path again, creating it.
func (l *logFile) Reopen() error {
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

func (l *logFile) Close() error {
	if l.path == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// reopenable is a file that SIGHUP reopens.
type reopenable interface{ Reopen() error }

// reopener reopens every registered file on SIGHUP.
type reopener struct {
	hup   chan os.Signal
	log   *slog.Logger
	mu    sync.Mutex
	files map[string]reopenable
}

func (r *reopener) add(name string, f reopenable) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.files == nil {
		r.files = map[string]reopenable{}
	}
	r.files[name] = f
}

func (r *reopener) loop(ctx context.Context) {
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

// reopenFunc is a function as a reopenable.
type reopenFunc func() error

func (f reopenFunc) Reopen() error { return f() }
