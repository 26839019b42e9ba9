//go:build !race

package testlab

// raceEnabled reports whether this test binary was built with -race, so that
// Binary builds cmd/sshlogfwd the same way.
const raceEnabled = false
