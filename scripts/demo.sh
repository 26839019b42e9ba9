#!/bin/sh
# A live demo on this machine: a private sshd on 127.0.0.1 with throwaway
# keys plays the log host, a private rsyslogd plays the watched host's syslog.
# push forwards auth messages from a FIFO; pull (when built) fetches a file
# back. Everything lives in a temporary directory that is removed at the end.
set -eu
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
ensure_prereqs

work=$(mktemp -d /tmp/sshlogfwd-demo.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building sshlogfwd"
go build -o "$work/sshlogfwd" ./cmd/sshlogfwd
bin="$work/sshlogfwd"

say "log host: private sshd on 127.0.0.1 with throwaway keys"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key" -C sshlogfwd-demo
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 22022)
remote="$work/loghost/remote.log"
mkdir -p "$work/loghost"
# The restricted key line, exactly as the README recommends.
printf 'restrict,from="127.0.0.1",command="cat >> %s" %s\n' "$remote" "$(cat "$work/client_key.pub")" > "$work/authorized_keys"
cat > "$work/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
CONF
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
pids="$pids $!"
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"
cat > "$work/ssh_config" <<CONF
Host loghost
  HostName 127.0.0.1
  Port $port
  User $(id -un)
  IdentityFile $work/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  StrictHostKeyChecking yes
CONF
cat "$work/authorized_keys" | sed 's/ssh-ed25519 [^ ]*/ssh-ed25519 AAAA.../'

say "watched host: sshlogfwd push reads the FIFO $work/push.fifo"
"$bin" push -F "$work/ssh_config" --fifo "$work/push.fifo" --spool "$work/spool" \
	--mark 0 --log "$work/push.log" "loghost:$remote" &
pids="$pids $!"
i=0; while [ ! -p "$work/push.fifo" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

say "watched host: private rsyslogd with contrib/rsyslog.d/sshlogfwd.conf"
cat > "$work/rsyslog.conf" <<CONF
global(workDirectory="$work")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$work/log.sock" RateLimit.Interval="0")
CONF
sed "s|/run/sshlogfwd/push.fifo|$work/push.fifo|" contrib/rsyslog.d/sshlogfwd.conf >> "$work/rsyslog.conf"
/usr/sbin/rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" 2>"$work/rsyslog.log" &
pids="$pids $!"
i=0; while [ ! -S "$work/log.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

say "sending three messages with logger (auth, authpriv, and cron which is not selected)"
logger -u "$work/log.sock" -t sshd -p auth.notice "Accepted publickey for alice from 198.51.100.7"
logger -u "$work/log.sock" -t sudo -p authpriv.notice "alice : TTY=pts/0 ; COMMAND=/bin/sh"
logger -u "$work/log.sock" -t cron -p cron.info "this one is not forwarded"

i=0; while ! grep -q COMMAND "$remote" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
say "on the log host, $remote now holds:"
cat "$remote"

say "the log host goes down for 3 s; messages sent meanwhile wait in the spool"
# Stop the listener and its sessions, as a reboot of the log host would.
pkill -P "$(cat "$work/sshd.pid")" 2>/dev/null || true
kill "$(cat "$work/sshd.pid")"; sleep 0.5
logger -u "$work/log.sock" -t sshd -p auth.warning "Failed password for root from 203.0.113.9 (sent while the log host was down)"
sleep 3
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>>"$work/sshd.log" &
pids="$pids $!"
i=0; while ! grep -q "log host was down" "$remote" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
say "after the log host came back:"
cat "$remote"

say "what push logged"
cat "$work/push.log"

say "pull: the log host fetches $work/watched/app.log from the watched host (forced command: sshlogfwd serve)"
mkdir -p "$work/watched"
printf 'boot line 1\nboot line 2\n' > "$work/watched/app.log"
ssh-keygen -q -t ed25519 -N '' -f "$work/pull_key" -C sshlogfwd-demo-pull
printf 'restrict,from="127.0.0.1",command="%s serve %s" %s\n' "$bin" "$work/watched/app.log" "$(cat "$work/pull_key.pub")" >> "$work/authorized_keys"
tail -1 "$work/authorized_keys" | sed 's/ssh-ed25519 [^ ]*/ssh-ed25519 AAAA.../'
cat >> "$work/ssh_config" <<CONF
Host watched
  HostName 127.0.0.1
  Port $port
  User $(id -un)
  IdentityFile $work/pull_key
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  StrictHostKeyChecking yes
CONF
"$bin" pull -F "$work/ssh_config" --from start --output "$work/pulled.log" --log "$work/pull.log" "watched:$work/watched/app.log" &
pids="$pids $!"
i=0; while ! grep -q "boot line 2" "$work/pulled.log" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
echo "app line 3 (appended while pull runs)" >> "$work/watched/app.log"
mv "$work/watched/app.log" "$work/watched/app.log.1"   # logrotate: rename + create
echo "app line 4 (written to the old file after the rename)" >> "$work/watched/app.log.1"
echo "app line 5 (the new file)" > "$work/watched/app.log"
i=0; while ! grep -q "line 5" "$work/pulled.log" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
say "the log host's copy $work/pulled.log (rotation followed, nothing lost):"
cat "$work/pulled.log"

say "demo finished; everything under $work is removed"
