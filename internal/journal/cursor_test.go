package journal

import (
	"errors"
	"testing"
)

const (
	seqA = "b8d13181b8014318b92a7e66bdddcf3d"
	seqB = "dda255d9cfe6490194bf648c44adee0f"
)

func cursorAt(seqID, i string) string {
	return "s=" + seqID + ";i=" + i + ";b=51797cc9ccd442a1a55c76296d2d33d2;m=3e9;t=661a0f6bafaa3;x=c285da6b882860c3"
}

func TestParseCursor(t *testing.T) {
	t.Parallel()
	p, err := parseCursor(cursorAt(seqA, "30d40"))
	if err != nil || p.seqnumID != seqA || p.seqnum != 200000 {
		t.Fatalf("parseCursor = %+v, %v; want seqnum 200000 (hex 30d40) of %s", p, err, seqA)
	}
	for _, bad := range []string{"", "garbage", "s=" + seqA, "i=1", "s=xyz;i=1", "s=" + seqA + ";i=zz", "s=" + seqA + ";i=", "s=" + seqA + ";i=1;junk"} {
		if _, err := parseCursor(bad); !errors.Is(err, errCursor) {
			t.Errorf("parseCursor(%q) = %v, want errCursor", bad, err)
		}
	}
}

func TestLostBetween(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		missing, next string
		want          int64
	}{
		{cursorAt(seqA, "a"), cursorAt(seqA, "15"), 10}, // 11..20 (hex 0xb..0x14) gone
		{cursorAt(seqA, "a"), cursorAt(seqA, "b"), 0},   // only the cursor's own entry gone
		{cursorAt(seqA, "a"), cursorAt(seqB, "15"), -1}, // journal started afresh
		{cursorAt(seqA, "a"), "", -1},                   // nothing left
		{cursorAt(seqA, "a"), cursorAt(seqA, "a"), -1},  // same seqnum, other entry
		{"garbage", cursorAt(seqA, "a"), -1},
	} {
		if got := lostBetween(tc.missing, tc.next); got != tc.want {
			t.Errorf("lostBetween(%q, %q) = %d, want %d", tc.missing, tc.next, got, tc.want)
		}
	}
}
