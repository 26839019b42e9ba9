// Package testlab starts real daemons and inspects real processes for the
// tests of sshlogfwd's other packages.
//
// It gives a test a private OpenSSH server on loopback (StartSSHD) that can
// be stopped to simulate the log host going down, a private rsyslogd
// (StartRsyslog) fed through its own socket, real systemd journal files
// written by systemd-journal-remote (StartJournalWriter, WriteJournal) for
// journalctl to follow, a once-per-process build of cmd/sshlogfwd (Binary),
// throwaway keys, and /proc readers for child processes, CPU time and
// memory. Everything it starts is stopped and reaped
// by t.Cleanup, and daemon output reaches t.Log only while the test runs.
//
// The numbered test streams live here too, once for every test that proves
// no line lost, duplicated, reordered or torn: the line format (Lines), a
// writer that paces them into a FIFO or file the way a logging daemon does
// (Writer: blocking, dropping or retrying when the pipe is full), and the
// checker of what arrived (Check, and WaitQuiet to wait until it has all
// arrived and nothing more comes).
//
// It is an ordinary package so that _test.go files elsewhere can import it;
// it must never be imported by non-test code.
//
// Tests that need sshd, rsyslogd, ssh-keygen, journalctl or
// systemd-journal-remote call RequireBinary first: the test is skipped where
// the program is missing, but fails when CI=true.
package testlab
