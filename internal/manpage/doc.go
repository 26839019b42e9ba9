// Package manpage renders a kong command line model as a manual page in
// roff (man(7) macros): every visible command with its arguments and
// flags, their help, defaults and environment variables, followed by
// sections written by hand for what command line help cannot hold
// (signals, exit status, files, examples).
//
// It exists so that the manual page is generated from the same model that
// parses the command line: a flag cannot be added to one and forgotten in
// the other. The output depends on nothing but its input (no date, no
// environment), so a page committed to the repository can be tested to be
// up to date.
package manpage
