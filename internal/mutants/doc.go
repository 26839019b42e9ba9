// Package mutants holds no code: its test proves that the test suite
// bites. It copies the module into a temporary directory, puts one
// deliberate fault at a time into the copy (a mutant: receive
// acknowledging before fsync, the sender not rewinding after a
// reconnect, ...), runs the tests that must catch that fault, and fails
// when a mutant survives them. Nothing of it reaches the shipped binary:
// the faults exist only in the copy.
//
// `go test ./internal/mutants` (and so scripts/test.sh) runs the mutants
// whose killing tests are unit tests, in about a minute; -short skips
// them. scripts/mutants.sh runs every mutant against every test meant to
// kill it, end-to-end tests included, and prints which test killed each.
//
// A mutant is keyed by a snippet of code that must occur exactly once in
// its file. When the code moves or changes, the mutant fails loudly
// ("snippet not found") instead of silently testing nothing: give it the
// new snippet, as an alternative site if the old code may still be
// around.
package mutants
