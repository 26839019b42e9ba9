// Package forcedcmd decides what a client may ask of a program that runs as
// the forced command of an authorized_keys line
// (command="sshlogfwd serve /var/log/forward.log").
//
// sshd runs the forced command whatever the client asked for and puts the
// client's own command line in SSH_ORIGINAL_COMMAND. That string comes from
// whoever holds the key, which on the far side of a log link may be an
// intruder, so Spec.Parse reads it as data with a deliberately small
// grammar (program, one subcommand, checked flags, at most the one path
// fixed in authorized_keys) and refuses everything else with a
// *forcedcmd.Error that says what was wrong. Nothing is passed to a shell.
//
// ShellQuote and ShellJoin quote words for the far side's shell; Split is
// their exact inverse and accepts nothing else. The accepted word syntax
// and the list of refusals are written out in docs/protocol.md
// ("Requests"), the one place that defines them.
package forcedcmd
