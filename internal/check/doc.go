// Package check runs `sshlogfwd check`: it looks at a push or pull setup
// the way the real command would use it, and says, one line per check,
// what is right (OK) and what is wrong (FAIL), with the fix in plain words.
//
// Local checks (local.go) look at files on this host: the private key, the
// FIFO the syslog daemon writes, a followed file, the spool or state
// directory and pull's output. They only read: nothing is created or
// changed. The journal (journal.go) is read the same way, through
// one-shot journalctl runs with push's own selection, and the cursor push
// resumes after is looked up in it.
//
// Far-side probes (probe.go, probes.go) run the system ssh against the
// destination exactly as push or pull would, with two options added in
// front (BatchMode=yes, StrictHostKeyChecking=yes: never prompt, never
// trust or add an unknown host key). They ask for the same remote commands
// push and pull send (internal/request), and leave at most one clearly
// marked test line behind (the compatible append probe).
//
// The advice that goes with a FAIL is built in advice.go, in one place, so
// that it can grow without touching the checks themselves.
//
// Check never exits and returns no error but ErrFailed: every problem,
// including a failure to run ssh at all, is a FAIL line in the report.
package check
