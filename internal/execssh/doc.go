// Package execssh knows the system OpenSSH client: it parses destinations,
// builds the ssh argument vector with safe defaults for an unattended child,
// quotes remote commands for the remote shell, and starts, watches, stops and
// restarts ssh children.
//
// It never implements SSH itself; everything goes through the ssh binary so
// that the user's keys, ~/.ssh/config host aliases and known_hosts keep
// working exactly as they do for the ssh command line.
package execssh
