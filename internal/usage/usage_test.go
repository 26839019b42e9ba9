package usage

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestPath: a path that cannot be what its flag wants is a usage error
// naming the flag; a disk that is full, read-only or failing is not.
func TestPath(t *testing.T) {
	for _, tt := range []struct {
		errno syscall.Errno
		usage bool
	}{
		{syscall.ENOENT, true}, {syscall.ENOTDIR, true}, {syscall.EISDIR, true}, {syscall.ENXIO, true},
		{syscall.EEXIST, true}, {syscall.ELOOP, true}, {syscall.ENAMETOOLONG, true},
		{syscall.EACCES, true}, {syscall.EPERM, true},
		{syscall.ENOSPC, false}, {syscall.EROFS, false}, {syscall.EIO, false}, {syscall.EMFILE, false},
	} {
		cause := &os.PathError{Op: "open", Path: "/x", Err: tt.errno}
		err := Path("--log", cause)
		if Is(err) != tt.usage {
			t.Errorf("%v: usage %v, want %v", tt.errno, Is(err), tt.usage)
		}
		if want := "--log: open /x: " + tt.errno.Error(); err.Error() != want || !errors.Is(err, tt.errno) {
			t.Errorf("%v: %q, want %q wrapping the errno", tt.errno, err, want)
		}
	}
}

// TestFlag: nil stays nil; the message names the flag; Is finds the error
// however it is wrapped.
func TestFlag(t *testing.T) {
	if Flag("--x", nil) != nil {
		t.Error("Flag of nil is not nil")
	}
	cause := errors.New("bad")
	err := fmt.Errorf("outer: %w", Flag("--fifo", cause))
	if !Is(err) || !errors.Is(err, cause) || err.Error() != "outer: --fifo: bad" {
		t.Errorf("got %q, usage %v", err, Is(err))
	}
	if Is(cause) || Is(nil) {
		t.Error("a plain error is a usage error")
	}
}

func TestFirst(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	for _, tt := range []struct {
		errs []error
		want error
	}{
		{nil, nil}, {[]error{nil, nil}, nil}, {[]error{nil, a, b}, a}, {[]error{b, a}, b},
	} {
		if got := First(tt.errs...); got != tt.want {
			t.Errorf("First(%v) = %v, want %v", tt.errs, got, tt.want)
		}
	}
}

func TestOnlyWith(t *testing.T) {
	given := map[string]bool{"--fsync": false, "--ack-timeout": true}
	if err := OnlyWith("--reliable", true, given); err != nil {
		t.Errorf("with --reliable: %v", err)
	}
	err := OnlyWith("--reliable", false, given)
	if !Is(err) || err.Error() != "--ack-timeout: applies only with --reliable" {
		t.Errorf("without --reliable: %v", err)
	}
	if err := OnlyWith("--reliable", false, map[string]bool{"--fsync": false}); err != nil {
		t.Errorf("nothing given: %v", err)
	}
}

func TestNonNegative(t *testing.T) {
	if err := NonNegative(map[string]time.Duration{"--mark": 0, "--stats": time.Second}); err != nil {
		t.Errorf("zero and positive: %v", err)
	}
	err := NonNegative(map[string]time.Duration{"--mark": 0, "--stats": -time.Second})
	if !Is(err) || err.Error() != "--stats: negative duration -1s" {
		t.Errorf("negative: %v", err)
	}
}
