package check

import (
	"bytes"
	"errors"
	"testing"
)

// reportOf runs f against a report and returns its text and failures.
func reportOf(f func(r *report)) (string, int) {
	var b bytes.Buffer
	r := &report{w: &b}
	f(r)
	return b.String(), r.failed
}

func TestReportLines(t *testing.T) {
	out, failed := reportOf(func(r *report) {
		r.ok("--fifo /run/x", "a FIFO, mode %04o", 0o620)
		r.fail("key /k", "readable by every user", "chmod 600 /k")
		r.fail("forwarding", "could not tell", "")
		r.fail("ssh h", "refused (line one\nline two\r\tend)", "fix\nit")
	})
	want := "OK    --fifo /run/x: a FIFO, mode 0620\n" +
		"FAIL  key /k: readable by every user. Fix: chmod 600 /k\n" +
		"FAIL  forwarding: could not tell\n" +
		"FAIL  ssh h: refused (line one line two  end). Fix: fix it\n"
	if out != want {
		t.Errorf("report:\n%s\nwant:\n%s", out, want)
	}
	if failed != 3 {
		t.Errorf("failed = %d, want 3", failed)
	}
}

func TestReportResult(t *testing.T) {
	r := &report{w: &bytes.Buffer{}}
	r.ok("a", "fine")
	if err := r.result(); err != nil {
		t.Errorf("all OK: result %v, want nil", err)
	}
	r.fail("b", "broken", "")
	r.ok("c", "fine")
	if err := r.result(); !errors.Is(err, ErrFailed) {
		t.Errorf("one FAIL: result %v, want ErrFailed", err)
	}
}
