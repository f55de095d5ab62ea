#!/bin/bash
# t_privs.sh - what another process of the workers' user (nobody) can
# reach: (a) a worker is not dumpable after the drop to nobody: its /proc
# files stay root's and nobody cannot read its environment (nor ptrace
# it); debug_dumpable = yes is the documented opt-in that turns it back
# on; (b) the control socket is 0600 root:root by default, nobody cannot
# connect to it (and SO_PEERCRED refuses nobody even with the mode
# opened), root's "tollgate status" works; a control_socket_group equal
# to the workers' group (daemon_group, or daemon_user's group) is a
# configuration error at start.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE): run make first"
command -v setpriv >/dev/null || bail_out "setpriv (util-linux) is missing"

plan 18

# as_nobody - run a command as nobody:nogroup, no supplementary groups
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# connect_as - try the control socket as UID:GID; prints "connected" or the error
connect_as() {
	setpriv --reuid="$1" --regid="$2" --clear-groups "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % e.strerror); sys.exit(2)
s.sendall(b"status\n")
print(s.makefile().readline().strip())' "$3" 2>&1
}

start_sink
CTL=$TG_TMP/tollgated.ctl
start_tollgated "control_socket = $CTL"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10
w=$(tollgated_workers | head -n 1)
wait_until '[ "$(awk "/^Uid:/ { print \$2 }" /proc/'"$w"'/status)" = 65534 ]' 5

# ------------------------------------------------ (a) not dumpable
is "$(awk '/^Uid:/ { print $2 }' /proc/"$w"/status)" 65534 "the worker $w runs as nobody"
is "$(stat -c %U /proc/"$w"/environ)" root "its /proc files stay root's: not dumpable"
out=$(as_nobody cat /proc/"$w"/environ 2>&1 >/dev/null); rc=$?
like "$rc $out" '^1 .*Permission denied' "another nobody process cannot read its environment (nor ptrace it)"
like "$(as_nobody cat /proc/"$w"/maps 2>&1 | head -n 1)" 'Permission denied' "nor its memory map"

# ------------------------------------------------ (b) control socket, root only
is "$(stat -c '%a %U %G' "$CTL")" "600 root root" "control socket: mode 0600, owner root:root by default"
like "$(connect_as nobody nogroup "$CTL")" '^connect: Permission denied' "nobody cannot connect to it"
like "$(connect_as nobody root "$CTL")" '^connect: Permission denied' "nor nobody with group root"
chmod 666 "$CTL"
like "$(connect_as nobody nogroup "$CTL")" '^error: permission denied' "with the mode opened, SO_PEERCRED refuses nobody"
like "$(connect_as nobody root "$CTL")" '^error: permission denied' "and nobody with group root: root only"
chmod 600 "$CTL"
like "$("$TOLLGATE" status -s "$CTL" 2>&1 | head -n 1)" "master pid $TG_PID" "tollgate status as root works"
if pid_alive "$TG_PID"; then ok "tollgated still runs"; else not_ok "tollgated still runs"; fi
stop_tollgated

# ------------------------------------------------ (a) the opt-in
start_tollgated "control_socket = $CTL
debug_dumpable = yes"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10
w=$(tollgated_workers | head -n 1)
wait_until '[ "$(stat -c %U /proc/'"$w"'/environ 2>/dev/null)" = nobody ]' 5
is "$(stat -c %U /proc/"$w"/environ)" nobody "debug_dumpable = yes: the worker is dumpable (its /proc files are nobody's)"
out=$(as_nobody cat /proc/"$w"/environ 2>&1 >/dev/null); rc=$?
is "$rc" 0 "and nobody may read it: the opt-in is for debugging only"
stop_tollgated

# ------------------------------------------------ control_socket_group = the workers' group
# refused_with CONF-LINES - tollgated with the test config plus these
# lines must refuse to start; prints its exit status and stderr
refused_with() {
	local conf=$TG_TMP/refuse.conf
	grep -vE '^(control_socket_group|daemon_group|daemon_user)[[:space:]]*=' "$TG_CONF" >"$conf"
	printf '%s\n' "$1" >>"$conf"
	timeout 30 "$TOLLGATED" -f -c "$conf" >"$TG_TMP/refuse.out" 2>&1
	echo "$? $(tr '\n' ' ' <"$TG_TMP/refuse.out")"
}
out=$(refused_with "daemon_user = nobody
daemon_group = nogroup
control_socket_group = nogroup")
like "$out" '^[1-9][0-9]* .*control_socket_group = nogroup is daemon_group' "control_socket_group = daemon_group: refused at start, with a clear error"
check "  and nothing was left listening" eval '! port_listening 127.0.0.1 '"$TG_LMTP_PORT"
out=$(refused_with "daemon_user = nobody
daemon_group = daemon
control_socket_group = nogroup")
like "$out" '^[1-9][0-9]* .*control_socket_group = nogroup is the group of daemon_user nobody' \
	"control_socket_group = daemon_user's primary group: refused too"
out=$(refused_with "control_socket_group = no-such-group-$$")
like "$out" '^[1-9][0-9]* .*control_socket_group: no such group' "an unknown group is refused"

# another group is fine: mode 0660 and that group
start_tollgated "control_socket = $CTL
control_socket_group = daemon"
is "$(stat -c '%a %U %G' "$CTL")" "660 root daemon" "control_socket_group = daemon: mode 0660, root:daemon"
stop_tollgated
