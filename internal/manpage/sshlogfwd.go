package manpage

// SshlogfwdSections are the sections of sshlogfwd(1) that the command
// line help cannot hold: signals, exit status, environment, files,
// security, examples, see also.
var SshlogfwdSections = []Section{
	{Title: "SIGNALS", Blocks: []Block{
		Item{Tag: "SIGTERM, SIGINT", Text: "Stop in order. push keeps delivering what it holds for at most " +
			"`--drain-timeout` (reliable: until it is acknowledged), then closes ssh's input; the rest stays in the spool " +
			"and is sent first at the next start. pull closes serve's input, writes every frame already on its way, saves " +
			"the cursor and exits 0. receive syncs the file and its state and exits."},
		Item{Tag: "SIGHUP", Text: "Reopen `--log` and pull's `--output`, after logrotate moved them " +
			"(the units' `ExecReload=`). Nothing else is reloaded."},
		Item{Tag: "SIGPIPE", Text: "Ignored by receive and serve: a write to a client that went away fails, " +
			"and they save their state and exit instead of dying."},
		Para("The ssh child runs in its own process group, so a Ctrl-C on the terminal reaches sshlogfwd, " +
			"which then stops ssh in order: its input closed, a bounded grace, then SIGKILL."),
	}},
	{Title: "EXIT STATUS", Blocks: []Block{
		Item{Tag: "0", Text: "Done: a clean stop on a signal, standard input ended and everything read was " +
			"delivered, the sender closed a receive session (or its link died), check found every item OK."},
		Item{Tag: "1", Text: "A runtime failure, logged with its cause: I/O error, full disk, a lock held by " +
			"another process, a quota (`receive --max-size`), a protocol error, a FAIL line of check."},
		Item{Tag: "2", Text: "A usage error, naming the flag or argument (fix the command line; running again " +
			"will not help), or a request refused by receive or serve as a forced command."},
	}},
	{Title: "ENVIRONMENT", Blocks: []Block{
		Para("Every flag can also be set with a variable `SSHLOGFWD_<FLAG>` (a systemd unit's " +
			"`EnvironmentFile=`, a shell); the command line wins. No variable is read by receive and serve, nor by any " +
			"command run under sshd (`SSH_ORIGINAL_COMMAND` or `SSH_CONNECTION` set), the global flags' included: " +
			"sshd may pass on the client's variables (`AcceptEnv`), and a forced command takes its settings from " +
			"authorized_keys only. Variables that were ignored are named in a warning."),
		EnvList{},
		Item{Tag: "STATE_DIRECTORY, XDG_STATE_HOME, HOME", Text: "The state directory, where push's spools " +
			"and the cursor of a pull to standard output live: `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), " +
			"else `$XDG_STATE_HOME/sshlogfwd`, else `~/.local/state/sshlogfwd`."},
		Item{Tag: "SSH_ORIGINAL_COMMAND", Text: "Set by sshd for a forced command: the client's request, which " +
			"receive and serve check against their own command line (serve takes `--cursor` and `--from` from it)."},
		Item{Tag: "LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES", Text: "Set by systemd when it passes descriptors " +
			"(the socket unit `sshlogfwd-push@NAME.socket`, `ListenFIFO=`): push takes the FIFO `--fifo` names from " +
			"them, refuses one that is not that file (exit 2), and removes the variables so that ssh inherits " +
			"neither them nor the descriptors."},
		Item{Tag: "NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID", Text: "Set by systemd for a `Type=notify` unit " +
			"(see sd_notify(3)): push and pull say `READY=1` once their input, spool, output and cursor are open, keep " +
			"`STATUS=` (shown by `systemctl status`) up to date, send `WATCHDOG=1` at half the `WatchdogSec=` timeout " +
			"from the pass that reads their state (a wedged forwarder stops pinging and is restarted), and `STOPPING=1` " +
			"when they begin to drain. They are removed from the environment of ssh."},
		Item{Tag: "PATH", Text: "Where `ssh` (or `--ssh`) is found."},
	}},
	{Title: "FILES", Blocks: []Block{
		Item{Tag: "SPOOL/", Text: "push's spool (`--spool`; default: one directory per set of DESTs under " +
			"the state directory, such as `/var/lib/sshlogfwd/loguser@loghost__var_log_remote_web1.log`), mode 0700. " +
			"It holds `NNNNNNNNNNNNNNNNNNNN.seg` segment files, named by the stream offset of their first byte; " +
			"`state.json`, the stream id and each DEST's acknowledged position; with `--file` or `--journal`, " +
			"`input.pos`, the input position that goes with the spooled data (the file's device:inode:offset, or the " +
			"journal cursor of the last entry spooled); `consumer-*.pos`, what each DEST's ssh was given; " +
			"`push.json`, the DESTs, the mode and the ssh settings push ran with, which `sshlogfwd spool deliver` " +
			"uses and which lets push warn at start about a spool beside its own that no push runs on and that holds " +
			"lines (`sshlogfwd spool list`); " +
			"and `lock`, which allows one push per spool and names its holder."},
		Item{Tag: "DIR/.NAME.sshlogfwd, DIR/.NAME.sshlogfwd.lock", Text: "receive's state beside the file " +
			"DIR/NAME it appends to (JSON: stream id, the file's device, inode and size at a stream offset), and its " +
			"lock (one receiver per file). Hidden, so that logrotate patterns like `*.log` leave them alone; the " +
			"directory must be writable by the key's account."},
		Item{Tag: "FILE.cursor, FILE.cursor.lock", Text: "pull's cursor beside `--output FILE` " +
			"(`--cursor-file`; with standard output `pull-SRC.cursor` in the state directory) and its lock. Text, " +
			"replaced atomically:"},
		Example(`
			sshlogfwd-pull-cursor 1
			source loghost:/var/log/auth.log
			cursor 2049:1312:48213
			output 2049:77:1093821`),
		Para("`cursor` is the remote file's device:inode:offset that the output holds everything up to; " +
			"`output` the output's device:inode:size when it was saved (absent for standard output), to notice an " +
			"output that was truncated or replaced."),
		Item{Tag: "/etc/sshlogfwd/NAME.env", Text: "The settings of the units `sshlogfwd-push@NAME`, " +
			"`sshlogfwd-journal@NAME` and `sshlogfwd-pull@NAME` (`SSHLOGFWD_DEST` or `SSHLOGFWD_SRC`, `SSHLOGFWD_IDENTITY`, any other flag); keys " +
			"usually live beside them, owned by the user sshlogfwd, mode 0600."},
		Item{Tag: "/usr/lib/systemd/system/sshlogfwd-push@.service, sshlogfwd-push@.socket, sshlogfwd-journal@.service, sshlogfwd-pull@.service", Text: "The " +
			"units, installed by the packages and enabled by nobody: the socket unit makes and holds the FIFO " +
			"`/run/sshlogfwd/NAME.fifo`, so that it and what waits in it outlive push's restarts; push reads it " +
			"and spools in `/var/lib/sshlogfwd`; the journal unit runs push --journal on a host without a syslog " +
			"daemon, with the same spool directory; pull appends to `/var/log/sshlogfwd/NAME.log`."},
		Item{Tag: "/usr/share/doc/sshlogfwd/", Text: "The README, the guides (`docs/`) and tested examples " +
			"(`contrib/`: authorized_keys, rsyslog, syslog-ng, logrotate, the units)."},
	}},
	{Title: "SECURITY", Blocks: []Block{
		Para("The point is a trail that an intruder with root on the watched host cannot erase, so every key " +
			"must be restricted on the host it opens: use the line `sshlogfwd authorized-key` prints (`restrict`, " +
			"`from=`, `command=`), and let `sshlogfwd check` prove that the key gives no shell and no tunnel."),
		Para("Use a dedicated account on the log host, with a locked password and no write access to its own " +
			"`~/.ssh`. Never allow `AcceptEnv SSHLOGFWD_*` in the sshd_config of a host that runs receive or serve. " +
			"Pin host keys: ssh runs with `BatchMode=yes`, so an unknown or changed host key is refused and logged. " +
			"Bound the log host's disk with `receive --max-size`, or a file system or quota of its own for `cat >>` " +
			"files. Keep the private key mode 0600, owned by the service's user. The threat model, option by option: " +
			"`/usr/share/doc/sshlogfwd/docs/security.md`."),
	}},
	{Title: "EXAMPLES", Blocks: []Block{
		Para("On the watched host, print the line for the log host's authorized_keys, then forward a FIFO " +
			"that rsyslog writes:"),
		Example(`
			sshlogfwd authorized-key push --from 192.0.2.10 \
			    --key /etc/sshlogfwd/id_ed25519.pub /var/log/remote/web1.log
			sshlogfwd push -i /etc/sshlogfwd/id_ed25519 --fifo /run/sshlogfwd/push.fifo \
			    loguser@loghost:/var/log/remote/web1.log`),
		Para("Acknowledged and exactly once, with sshlogfwd installed on the log host (from the packages: " +
			"`--sshlogfwd-path /usr/bin/sshlogfwd`):"),
		Example(`
			sshlogfwd authorized-key push --reliable --sshlogfwd-path /usr/bin/sshlogfwd \
			    --max-size 2GiB --from 192.0.2.10 --key id_ed25519.pub /var/log/remote/web1.log
			sshlogfwd push --reliable -i /etc/sshlogfwd/id_ed25519 --fifo /run/sshlogfwd/push.fifo \
			    loguser@loghost:/var/log/remote/web1.log`),
		Para("On the log host, follow a file of the watched host, resuming exactly:"),
		Example(`
			sshlogfwd pull -i /etc/sshlogfwd/id_ed25519 --output /var/log/sshlogfwd/web1.log \
			    web1:/var/log/auth.log`),
		Para("Check a setup as the service's user before enabling the unit:"),
		Example(`
			runuser -u sshlogfwd -- sh -c 'set -a; . /etc/sshlogfwd/push.env;
			    SSHLOGFWD_FIFO=/run/sshlogfwd/push.fifo sshlogfwd check push $SSHLOGFWD_DEST'
			systemctl enable --now sshlogfwd-push@push`),
	}},
	{Title: "SEE ALSO", Blocks: []Block{
		Para("ssh(1), ssh_config(5), sshd(8) (AUTHORIZED_KEYS FILE FORMAT), rsyslogd(8), rsyslog.conf(5), " +
			"logrotate(8), systemd.exec(5), systemd.service(5), sd_notify(3); `/usr/share/doc/sshlogfwd/` (docs/metrics.md: the " +
			"names of the --metrics-file metrics and sample alerts)."),
	}},
}
