# Sourced by test.sh and demo.sh: installs the real components the tests and
# the demo use, when they are missing and we are root: sshd and the ssh
# client, rsyslogd and logger, ip (network namespaces), logrotate, systemd's
# systemd-analyze and journalctl, systemd-journal-remote (writes real
# journal files without a running journald), man (renders the manual page),
# rpm (lists the files of the .rpm scripts/package.sh builds) and strace
# (slows logrotate down at one system call in TestReceiveLogrotate).
ensure_prereqs() {
	missing=""
	[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
	[ -x /usr/bin/ssh ] || missing="$missing openssh-client"
	[ -x /usr/sbin/rsyslogd ] || missing="$missing rsyslog"
	command -v logger >/dev/null 2>&1 || missing="$missing bsdutils"
	command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
	[ -x /usr/sbin/logrotate ] || missing="$missing logrotate"
	command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
	[ -x /lib/systemd/systemd-journal-remote ] || missing="$missing systemd-journal-remote"
	command -v journalctl >/dev/null 2>&1 || missing="$missing systemd"
	[ -x /usr/bin/man ] || missing="$missing man-db"
	[ -x /usr/bin/rpm ] || missing="$missing rpm"
	[ -x /usr/bin/strace ] || missing="$missing strace"
	if [ -n "$missing" ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "missing:$missing — install them (as root: apt-get update && apt-get install -y$missing)" >&2
			exit 1
		fi
		echo "installing:$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq </dev/null
		apt-get install -y -qq --no-install-recommends $missing </dev/null >/dev/null
	fi
	# apt may start the system sshd/rsyslog; our tests use private instances
	# on their own ports and sockets and do not need or touch them.
	mkdir -p -m 0755 /run/sshd 2>/dev/null || true
	command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
}
