package check

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrFailed is what Push and Pull return when at least one check failed;
// the report already said which and why. The command exits 1 on it.
var ErrFailed = errors.New("some checks failed; see the FAIL lines")

// report prints one line per check:
//
//	OK    NAME: what was found
//	FAIL  NAME: what is wrong. Fix: how to fix it
type report struct {
	w      io.Writer
	failed int
}

// ok reports a check that passed.
func (r *report) ok(name, format string, a ...any) {
	fmt.Fprintln(r.w, oneLine("OK    "+name+": "+fmt.Sprintf(format, a...)))
}

// fail reports what is wrong and, in plain words, how to fix it (fix may
// be empty when there is nothing better to say than the problem).
func (r *report) fail(name, problem, fix string) {
	r.failed++
	line := "FAIL  " + name + ": " + problem
	if fix != "" {
		line += ". Fix: " + fix
	}
	fmt.Fprintln(r.w, oneLine(line))
}

// result is ErrFailed if any check failed.
func (r *report) result() error {
	if r.failed > 0 {
		return ErrFailed
	}
	return nil
}

// oneLine keeps a report line on one line whatever ssh or a file name
// brought into it.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
