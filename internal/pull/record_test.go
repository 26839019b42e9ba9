package pull

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// The cursor file's text is a public format: it must not change, and it
// must read back as written.
func TestRecordFormatAndRoundTrip(t *testing.T) {
	sum := sha256.Sum256([]byte("test"))
	for _, tc := range []struct {
		rec  record
		text string
	}{
		{
			record{Source: "loghost:/var/log/forward.log", Cursor: tailer.Cursor{Dev: 2049, Ino: 1312, Offset: 48213},
				HasOutput: true, Output: fsutil.ID{Dev: 2049, Ino: 77}, OutputSize: 1093821, TailLen: 4, Tail: sum},
			"sshlogfwd-pull-cursor 2\nsource loghost:/var/log/forward.log\ncursor 2049:1312:48213\noutput 2049:77:1093821\n" +
				"tail 4 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\nstate running\n",
		},
		{
			record{Source: "u@h:/a b.log", Stopped: true},
			"sshlogfwd-pull-cursor 2\nsource u@h:/a b.log\ncursor 0:0:0\nstate stopped\n",
		},
	} {
		if got := tc.rec.String(); got != tc.text {
			t.Errorf("String() = %q, want %q", got, tc.text)
		}
		back, err := parseRecord(tc.text)
		if err != nil || back != tc.rec {
			t.Errorf("parseRecord(%q) = %+v, %v; want %+v", tc.text, back, err, tc.rec)
		}
	}
}

// Version 1 files, written before the tail and the state, are still read:
// the state counts as running (pull may have been killed), the tail as
// unknown.
func TestRecordReadsVersion1(t *testing.T) {
	text := "sshlogfwd-pull-cursor 1\nsource loghost:/x.log\ncursor 2049:1312:48213\noutput 2049:77:1093821\n"
	want := record{Source: "loghost:/x.log", Cursor: tailer.Cursor{Dev: 2049, Ino: 1312, Offset: 48213},
		HasOutput: true, Output: fsutil.ID{Dev: 2049, Ino: 77}, OutputSize: 1093821}
	if got, err := parseRecord(text); err != nil || got != want {
		t.Fatalf("parseRecord(v1) = %+v, %v; want %+v", got, err, want)
	}
}

func TestRecordParseErrors(t *testing.T) {
	const head = "sshlogfwd-pull-cursor 1\n"
	const v2 = "sshlogfwd-pull-cursor 2\nsource h:/x\ncursor 1:2:3\n"
	const tail = "tail 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
	for name, text := range map[string]string{
		"empty":          "",
		"other header":   "sshlogfwd-pull-cursor 3\nsource h:/x\ncursor 1:2:3\n",
		"v2 no state":    v2,
		"v2 bad state":   v2 + "state gone\n",
		"v2 no tail":     v2 + "output 1:2:3\nstate running\n",
		"v2 long tail":   v2 + "output 1:2:3\ntail 4097 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nstate running\n",
		"v2 bad sum":     v2 + "output 1:2:3\ntail 0 e3b0\nstate running\n",
		"v2 upper sum":   v2 + "output 1:2:3\ntail 0 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\nstate running\n",
		"v2 tail twice":  v2 + "output 1:2:3\n" + tail + tail + "state running\n",
		"v1 with state":  head + "source h:/x\ncursor 1:2:3\nstate running\n",
		"no cursor":      head + "source h:/x\n",
		"no source":      head + "cursor 1:2:3\n",
		"bad cursor":     head + "source h:/x\ncursor 1:2\n",
		"negative":       head + "source h:/x\ncursor 1:2:-3\n",
		"bad output":     head + "source h:/x\ncursor 1:2:3\noutput x\n",
		"twice":          head + "source h:/x\ncursor 1:2:3\ncursor 1:2:4\n",
		"unknown line":   head + "source h:/x\ncursor 1:2:3\nmore 1\n",
		"blank line":     head + "source h:/x\n\ncursor 1:2:3\n",
		"spaced cursor":  head + "source h:/x\ncursor  1:2:3\n",
		"leading zeroes": head + "source h:/x\ncursor 01:2:3\n",
	} {
		if _, err := parseRecord(text); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: err = %v, want ErrBadRecord", name, err)
		}
	}
}
