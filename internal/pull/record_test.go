package pull

import (
	"errors"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/fsutil"
	"github.com/sshlogfwd/sshlogfwd/internal/tailer"
)

// The cursor file's text is a public format: it must not change, and it
// must read back as written.
func TestRecordFormatAndRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		rec  record
		text string
	}{
		{
			record{Source: "loghost:/var/log/forward.log", Cursor: tailer.Cursor{Dev: 2049, Ino: 1312, Offset: 48213},
				HasOutput: true, Output: fsutil.ID{Dev: 2049, Ino: 77}, OutputSize: 1093821},
			"sshlogfwd-pull-cursor 1\nsource loghost:/var/log/forward.log\ncursor 2049:1312:48213\noutput 2049:77:1093821\n",
		},
		{
			record{Source: "u@h:/a b.log"},
			"sshlogfwd-pull-cursor 1\nsource u@h:/a b.log\ncursor 0:0:0\n",
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

func TestRecordParseErrors(t *testing.T) {
	const head = "sshlogfwd-pull-cursor 1\n"
	for name, text := range map[string]string{
		"empty":          "",
		"other header":   "sshlogfwd-pull-cursor 2\nsource h:/x\ncursor 1:2:3\n",
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
