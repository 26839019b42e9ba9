package logfile

import (
	"bytes"
	"strings"
	"testing"
)

// NewLogger writes the format asked for, from the level asked for.
func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	log := NewLogger(&b, "json", "warn")
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if got := b.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, `{"time":`) || !strings.Contains(got, `"msg":"shown","k":1`) {
		t.Errorf("json at warn: %q", got)
	}
	b.Reset()
	log = NewLogger(&b, "text", "debug")
	log.Debug("low", "k", 2)
	if got := b.String(); !strings.Contains(got, "level=DEBUG msg=low k=2") {
		t.Errorf("text at debug: %q", got)
	}
}
