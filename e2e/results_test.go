package e2e

import (
	"strings"
	"testing"

	"github.com/sshlogfwd/sshlogfwd/internal/testlab"
)

// faultRow is what a fault test measured, for the tables in
// docs/guarantees.md that scripts/faulttable.sh generates.
type faultRow struct {
	Table  string // the table in docs/guarantees.md; "" = the command of Mode
	Mode   string // "push", "push --reliable", "pull --compat", "pull"
	Fault  string // what was done, in words
	Lines  int    // numbered lines written
	Faults int    // faults that happened (confirmed kills, outages, rotations)
	Report testlab.Report
	Note   string
}

// recordFault records f when SSHLOGFWD_RESULTS names a directory (see
// testlab.RecordResult); the table is f.Table, or the command of its mode.
func recordFault(t *testing.T, f faultRow) {
	t.Helper()
	table, _, _ := strings.Cut(f.Mode, " ")
	if f.Table != "" {
		table = f.Table
	}
	testlab.RecordResult(t, testlab.FaultResult{
		Table: table, Mode: f.Mode, Fault: f.Fault, Lines: f.Lines, Faults: f.Faults,
		Lost: f.Report.Lost, Duplicated: f.Report.Duplicated, OutOfOrder: f.Report.OutOfOrder, Torn: f.Report.Torn,
		Note: f.Note,
	})
}
