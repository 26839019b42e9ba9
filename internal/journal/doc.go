// Package journal reads the systemd journal as a stream of one-line log
// entries, each with its cursor, resuming exactly after the last entry the
// caller accepted.
//
// It shells out to journalctl, as the rest of sshlogfwd shells out to ssh:
// no cgo, no libsystemd. Follow runs
//
//	stdbuf --output=1M journalctl --no-pager --merge --output=export --follow --no-tail \
//	    [--cursor=C] [--directory=D | --file=F…] -- MATCHES
//
// and restarts it with backoff when it ends. Choices, each measured with
// systemd 252 (Debian 12):
//
//   - export, not json: export is binary-safe by construction (a value with
//     a newline or control byte is length-prefixed), while json prints
//     non-UTF-8 values as arrays of numbers and replaces any value over
//     4096 bytes by null unless given --all. On 200,000 entries json cost
//     journalctl 3.6 times the CPU of export, before our decoding.
//   - No --output-fields: journalctl builds the set of output fields anew
//     for every entry (a copy and a hash of each name), and with the 8
//     fields the formats use it cost 1.5 times the CPU of all fields, on
//     entries of 7 fields (the bench's; as much as short-iso then) and
//     still more on 25-field entries as journald writes them for sshd
//     (200,000 entries, medians of 4 alternating runs at load 2-6: 11.8
//     against 7.9 s per million, and 18.2 against 16.9 s). The reader
//     skips the fields it does not use (0.45 µs per 25-field entry) and
//     keeps none of them, however large.
//   - stdbuf (coreutils), when it works: with stdio's 4 KiB buffer on a
//     pipe, journalctl made a write(2), and we a wake-up, for every 9
//     entries or so; with 1 MiB, at full speed, one per 2,000. journalctl
//     flushes whenever it has printed all there is, before it waits for
//     the journal to change, so a lone entry still comes at once. Our
//     reader's CPU fell by half (push --journal on 200,000 entries).
//   - --merge: --follow otherwise implies the current boot, and entries of
//     an earlier boot after the saved cursor are never shown, even with
//     --cursor. For the system journal --merge also opens other machines'
//     journals, so every match group gets a _MACHINE_ID term.
//   - --no-tail: --follow implies --lines=10, and with --cursor journalctl
//     then prints 10 entries and the rest only once the journal changes.
//   - --cursor, never --after-cursor: when the cursor's entry is gone,
//     --after-cursor skips the first entry that survived. Follow starts at
//     the cursor and drops that entry itself if it is the cursor's.
//   - A missing cursor is detected by a one-shot probe (`--cursor=C
//     --lines=1`, no matches): if the entry it prints is not C, C is gone.
//     Follow reports a Gap (with the count of lost entries when both
//     cursors share a seqnum id) and continues at the oldest entry.
//   - An entry that comes without MESSAGE is read again once, after the
//     last entry delivered: journalctl prints an entry the writer is
//     still appending without the fields it cannot read yet (1 in about
//     10,000 on a loaded machine), and would otherwise go on past it.
//
// Lines: FormatShort is journalctl's short-iso-precise shape with an RFC
// 3339 timestamp; FormatRFC5424 a syslog message whose structured data
// carries the journal seqnum. Newlines inside an entry are written "#012",
// as rsyslog does; every other byte passes unchanged.
package journal
