// Package authkeys builds the authorized_keys line that makes a key useless
// for anything but forwarding logs: one public key, the restrictions
// (restrict, or its explicit older spelling), a from= list, and a forced
// command that names exactly one file.
//
// A line that is almost right fails silently in the dangerous direction: a
// typo in the options and sshd ignores the line or grants more than meant,
// a path quoted for the wrong parser and the forced command names another
// file or runs code. So everything here is checked against the parsers that
// will read it: sshd's option parser (auth-options.c: inside "..." only \"
// is an escape, every other backslash is literal; a newline cannot be
// written at all) and the POSIX shell that runs the command (each word is
// quoted by forcedcmd.ShellQuote). What cannot be expressed is refused, never
// approximated.
package authkeys
