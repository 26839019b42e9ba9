package bench

import (
	"slices"
	"testing"
)

// pipesModes gives each direction's bare pipe before the sshlogfwd modes
// asked for, for each compression asked for, and nothing else.
func TestPipesModes(t *testing.T) {
	name := func(ms []Mode) []string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Name+"/"+m.Dir+"/"+compressName(m.Compress))
		}
		return s
	}
	for _, c := range []struct {
		compress, only string
		want           []string
	}{
		{"no", "", []string{"bare ssh/push/no -C", "push/push/no -C", "push --reliable/push/no -C", "bare ssh/pull/no -C", "pull --reliable/pull/no -C", "pull --compat/pull/no -C"}},
		{"yes", "compat", []string{"bare ssh/pull/ssh -C", "pull --compat/pull/ssh -C"}},
		{"both", "--reliable", []string{"bare ssh/push/no -C", "push --reliable/push/no -C", "bare ssh/pull/no -C", "pull --reliable/pull/no -C",
			"bare ssh/push/ssh -C", "push --reliable/push/ssh -C", "bare ssh/pull/ssh -C", "pull --reliable/pull/ssh -C"}},
		{"maybe", "", nil},
	} {
		if got := name(pipesModes(c.compress, c.only)); !slices.Equal(got, c.want) {
			t.Errorf("pipesModes(%q, %q) = %q, want %q", c.compress, c.only, got, c.want)
		}
	}
}
