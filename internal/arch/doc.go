// Package arch holds no code: its test enforces the import rules between
// sshlogfwd's packages, which docs/architecture.md explains.
//
// The rules keep each package to its one job: input packages (pipe,
// tailer) know nothing of the transport, the codecs (ackproto, stream) do
// no I/O of their own, the far side (receiver, serve) can never start ssh,
// and test helpers (testlab) never reach the shipped binary. The rule table
// names packages that do not exist yet too, so that a rule bites the moment
// such a package lands. A new package must be given its place in the table
// (and in docs/architecture.md) before the test passes.
package arch
