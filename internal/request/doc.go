// Package request is the one place where the commands sshlogfwd asks the
// far side to run are built and, for our own forced commands, parsed.
//
// ssh joins its remote arguments with spaces and the far sshd runs the
// result through "$SHELL -c"; so every word is quoted (forcedcmd.ShellQuote, the inverse of forcedcmd.Split),
// and a path with spaces, quotes, ';' or $(...) stays data. A forced command
// (receive, serve) sees the client's words only in SSH_ORIGINAL_COMMAND and
// accepts exactly the grammar below, checked by internal/forcedcmd:
//
//	cat >> PATH                                    push, compatible mode
//	sshlogfwd receive -- PATH                      push --reliable
//	tail -F -n 0 -- PATH                           pull --compat
//	sshlogfwd serve [--cursor DEV:INO:OFF | --from start|end] -- PATH
//	                                               pull (reliable)
//
// The program word may be any path ending in /sshlogfwd (it is compared,
// never run). Builders and parsers are table-tested against each other.
package request
