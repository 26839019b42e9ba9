package testlab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"
)

// ResultsEnv names the directory fault tests write their results into,
// one JSON file per test; unset, nothing is written. scripts/faulttable
// renders the tables of docs/guarantees.md from these files, so that every
// figure there is one a test produced.
const ResultsEnv = "SSHLOGFWD_RESULTS"

// FaultResult is what one fault-injection test measured.
type FaultResult struct {
	Test  string // the test's name, subtest included
	Table string // which table of the docs it belongs to, e.g. "reliable"
	Mode  string // e.g. "push", "pull --compat"
	Fault string // what was done to it, in words
	Lines int    // numbered lines written
	// Faults counts the faults that happened (kills confirmed by the
	// process's exit, rotations done, outages).
	Faults                             int
	Lost, Duplicated, OutOfOrder, Torn int
	Note                               string `json:",omitempty"` // anything else measured
	Passed                             bool   // the test passed
	Race                               bool   // run with the race detector
	GOMAXPROCS                         int
	Finished                           time.Time
}

// RecordResult writes r into the results directory when ResultsEnv is
// set, at the end of the test, with whether it passed.
func RecordResult(t testing.TB, r FaultResult) {
	t.Helper()
	dir := os.Getenv(ResultsEnv)
	if dir == "" {
		return
	}
	r.Test, r.Race, r.GOMAXPROCS = t.Name(), RaceEnabled, runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		r.Passed, r.Finished = !t.Failed(), time.Now().UTC()
		b, err := json.MarshalIndent(r, "", "  ")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, resultFile(r.Test)), append(b, '\n'), 0o644)
		}
		if err != nil {
			t.Errorf("record the result in %s: %v", dir, err)
		}
	})
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// resultFile is the file name of a test's result.
func resultFile(test string) string { return unsafeName.ReplaceAllString(test, "_") + ".json" }
