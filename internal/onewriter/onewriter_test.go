package onewriter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
)

func TestParseHolder(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Holder
		ok   bool
	}{
		{"receive 4242 3f2a9c", Holder{Receive, 4242, "3f2a9c"}, true},
		{"pull 17 loghost:/var/log/a b.log", Holder{Pull, 17, "loghost:/var/log/a b.log"}, true},
		{"4242 3f2a9c\n", Holder{Receive, 4242, "3f2a9c"}, true}, // a receiver before the convention
		{"pid 4242 sshlogfwd pull", Holder{}, false},
		{"pull x src", Holder{}, false},
		{"pull 1 src", Holder{}, false}, // pid 1 is never ours
		{"", Holder{}, false},
	} {
		if got, ok := ParseHolder(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("ParseHolder(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if tc.ok {
			if back, _ := ParseHolder(tc.want.String()); back != tc.want {
				t.Errorf("ParseHolder(%q) = %+v: String does not read back", tc.want.String(), back)
			}
		}
	}
}

// file is a path in a fresh directory.
func file(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "web1.log")
}

var (
	pullA    = Holder{Pull, 100, "web1:/var/log/auth.log"}
	pullB    = Holder{Pull, 101, "web2:/var/log/auth.log"}
	receiveX = Holder{Receive, 200, "streamX"}
	receiveY = Holder{Receive, 201, "streamY"}
)

// Which writers may follow which on one file: a pull after a receiver or
// a receiver after a pull never; a pull of another source never; the same
// pull again, and receivers of any stream (the receiver decides), yes.
func TestCheckAfterAWriter(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, then Holder
		refused     bool
	}{
		{"pull after receive", receiveX, pullA, true},
		{"receive after pull", pullA, receiveX, true},
		{"pull of another source", pullA, pullB, true},
		{"the same pull again", pullA, Holder{Pull, 102, pullA.Of}, false},
		{"receive of another stream", receiveX, receiveY, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := file(t)
			l, err := Claim(path, tc.first)
			if err != nil {
				t.Fatal(err)
			}
			l.Close() // stopped: only its mark is left
			err = Check(path, tc.then)
			var other *OtherWriterError
			if got := errors.As(err, &other); got != tc.refused {
				t.Fatalf("Check = %v, refused %v, want %v", err, got, tc.refused)
			}
			if tc.refused && (other.Other != tc.first || other.Mark != LockPath(path) || other.Running) {
				t.Fatalf("refusal %+v does not name %+v through its lock file", other, tc.first)
			}
		})
	}
}

// A receiver's state file alone (its lock file gone) keeps a pull away;
// a pull's default cursor file beside the file keeps a receiver away.
func TestCheckOtherMarks(t *testing.T) {
	path := file(t)
	os.WriteFile(HiddenPath(path), []byte(`{"version":1}`), 0o600)
	err := Check(path, pullA)
	if !strings.Contains(fmtErr(err), "is written by sshlogfwd receive; give pull its own --output") {
		t.Fatalf("pull beside a receiver's state: %v", err)
	}

	path = file(t)
	os.WriteFile(path+".cursor", []byte(PullCursorPrefix+"2\nsource web1:/var/log/auth.log\ncursor 1:2:3\n"), 0o600)
	err = Check(path, receiveX)
	if !strings.Contains(fmtErr(err), "is written by sshlogfwd pull (from web1:/var/log/auth.log)") {
		t.Fatalf("receive beside a pull's cursor: %v", err)
	}
	os.WriteFile(path+".cursor", []byte("some other program's cursor\n"), 0o600)
	if err := Check(path, receiveX); err != nil {
		t.Fatalf("receive beside another program's .cursor file: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// While a writer holds the lock, a second one is refused, naming the one
// that runs; the message says what to do.
func TestClaimWhileHeld(t *testing.T) {
	path := file(t)
	l, err := Claim(path, pullA)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Claim(path, Holder{Pull, 102, pullA.Of})
	var other *OtherWriterError
	if !errors.As(err, &other) || !other.Running || other.Other != pullA {
		t.Fatalf("second claim: %v, want a refusal naming the running %+v", err, pullA)
	}
	want := path + " is written by sshlogfwd pull (from web1:/var/log/auth.log, pid 100); give pull its own --output"
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

// The lock file is never followed through a symlink (it is rewritten with
// the holder).
func TestClaimRefusesSymlinkedLock(t *testing.T) {
	path := file(t)
	target := filepath.Join(filepath.Dir(path), "target")
	os.WriteFile(target, []byte("keep\n"), 0o600)
	os.Symlink(target, LockPath(path))
	if _, err := Claim(path, pullA); !errors.Is(err, fsutil.ErrUnsafe) {
		t.Fatalf("err = %v, want ErrUnsafe", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Fatalf("symlink target overwritten: %q", b)
	}
}
