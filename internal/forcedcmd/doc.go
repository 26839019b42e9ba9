// Package forcedcmd decides what a client may ask of a program that runs as
// the forced command of an authorized_keys line
// (command="sshlogfwd serve /var/log/forward.log").
//
// sshd runs the forced command whatever the client asked for and puts the
// client's own command line in SSH_ORIGINAL_COMMAND. That string comes from
// whoever holds the key, which on the far side of a log link may be an
// intruder, so it is read here as data with a deliberately small grammar:
// the program name, one fixed subcommand, flags from a fixed list whose
// values are checked, and at most one operand that must equal the path the
// administrator fixed in authorized_keys. Nothing is ever passed to a shell,
// and anything else (another path, extra words, shell syntax such as ; | $
// ` " \ ( ) < > * ?, control characters, an over-long string) is refused
// with an error that says what was wrong.
//
// Words may be single-quoted exactly the way ShellQuote quotes them,
// so a client can send a path holding spaces or quotes:
//
//	sshlogfwd serve -- '/var/log/my app/it'\''s.log'
package forcedcmd
