package main

// JournalFlags are push's flags for reading the systemd journal: the
// input, which entries, and the shape of their lines.
type JournalFlags struct {
	Journal         bool     `name:"journal" help:"Read the systemd journal (through journalctl) instead: every selected entry becomes one line (see --journal-format), and its cursor is saved with the line in the spool directory, so that a restart, a crash or kill -9 neither skips nor repeats an entry. The first run starts at the oldest entry." xor:"input"`
	JournalMatch    []string `name:"journal-match" sep:" " help:"With --journal: select entries with journalctl match terms FIELD=VALUE, several in one value separated by spaces or the flag repeated. Terms for one field are ORed, for different fields ANDed; a term '+' ORs the groups on either side. Default, when none of --journal-match, --journal-priority, --journal-unit is given: the article's selector auth,authpriv.*;kern.*;*.crit, that is SYSLOG_FACILITY=0 SYSLOG_FACILITY=4 SYSLOG_FACILITY=10 + _TRANSPORT=kernel + PRIORITY=0 PRIORITY=1 PRIORITY=2." placeholder:"FIELD=VALUE"`
	JournalPriority string   `name:"journal-priority" help:"With --journal: only entries this urgent or more (emerg, alert, crit, err, warning, notice, info, debug, or 0-7), or a range like err..emerg; ANDed with the matches." placeholder:"PRIORITY"`
	JournalUnit     []string `name:"journal-unit" help:"With --journal: only entries of this systemd unit (journalctl --unit; repeatable); ANDed with the matches." placeholder:"UNIT"`
	JournalDir      string   `name:"journal-dir" help:"With --journal: read the journal files in this directory instead of the system journal." placeholder:"DIR"`
	JournalFile     []string `name:"journal-file" sep:"none" help:"With --journal: read this journal file (repeatable, globs allowed) instead of the system journal. journalctl does not follow a file's rotation: for a journal that is still written, give --journal-dir." placeholder:"FILE"`
	JournalFormat   string   `name:"journal-format" help:"With --journal: the line format: short-iso-precise (TIME HOST IDENT[PID]: MESSAGE, TIME in RFC 3339 with microseconds) or rfc5424 (a syslog message whose structured data carries the journal's seqnum, so that the log host can tell lost lines)." enum:"short-iso-precise,rfc5424" default:"short-iso-precise"`
}
