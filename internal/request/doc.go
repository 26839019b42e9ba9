// Package request is the one place where the commands sshlogfwd asks the
// far side to run are built (Append, Tail, Receive, Serve) and, for our own
// forced commands, parsed (ParseReceive, ParseServe, with the grammar
// checked by internal/forcedcmd).
//
// ssh joins its remote arguments with spaces and the far sshd runs the
// result through "$SHELL -c"; so every word is quoted with
// forcedcmd.ShellQuote, and a path with spaces, quotes, ';' or $(...) stays
// data. Builders and parsers are table-tested against each other.
//
// The requests of each mode and what receive and serve accept are written
// out in full in docs/protocol.md ("Requests"), the one place that defines
// them; change that page with this package.
package request
