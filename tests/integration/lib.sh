# lib.sh - shared harness of the tollgate integration tests (bash).
#
# Sourced by every tests/integration/t_*.sh.  It gives a test: TAP output
# (plan, ok, not_ok, is, like, check, skip, diag), a private temp dir, free
# loopback ports, an smtp-sink, a private Postfix instance wired as in the
# integration guide (injection smtpd -> amavisfeed lmtp -> tollgated ->
# re-injection smtpd -> smtp-sink), tollgated itself, and a cleanup trap that
# stops every process the test started, by its recorded pid, and removes the
# temp dir, also when the test fails or is interrupted midway.
#
# It deliberately leaves out anything that needs more than loopback, and it
# never signals a process by name (no pkill/killall).
#
# Environment: top_srcdir, top_builddir (exported by `make check`; default
# the script's ../..), TOLLGATED (default $top_builddir/tollgated),
# TG_KEEP_TMP=1 keeps the temp dir for a post-mortem (it is always kept,
# and its path printed, when a test fails).
#
# Every script ends with one more test point, "no crash or sanitizer
# report", added by the EXIT trap after it stopped the daemons (plan N
# prints 1..N+1): a sanitizer report in any *.log of the temp dir
# (tollgated runs with its stderr into TG_LOG) or a worker the master
# reaped after a signal or a non-zero exit fails it, unless the test
# declared that death (tg_expect_worker_death PID, tg_expect_worker_deaths
# ERE) or the master killed the worker itself for child_timeout.
#
# A missing peer that the project supports (Postfix, redis-server, spamd,
# rspamd, amavisd-new, amavisd-milter, clamav-testfiles, openssl, ...) is a
# harness failure (Bail out!), never a skip: require_cmd / require_file.
# The few things that may be skipped, and why, are listed in one table in
# tests/integration/README.md ("What may be skipped").

set -u

TG_SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$TG_SCRIPT_DIR/../.." && pwd)}"
: "${top_builddir:=$(cd "$TG_SCRIPT_DIR/../.." && pwd)}"
export top_srcdir top_builddir
TOLLGATED=${TOLLGATED:-$top_builddir/tollgated}
TG_HELPERS=$top_srcdir/tests/integration
if [ -x /usr/bin/python3 ]; then PYTHON=${PYTHON:-/usr/bin/python3}; else PYTHON=${PYTHON:-python3}; fi
SMTPCLIENT="$PYTHON $TG_HELPERS/smtpclient.py"
PF_SBIN=/usr/sbin
export LC_ALL=C

# ---------------------------------------------------------------- TAP

TG_TESTNUM=0
TG_FAILS=0
TG_PLANNED=

TG_DONE_TESTING=0

# plan - print the TAP plan for N test points of the script, plus the one
# the EXIT trap adds ("no crash or sanitizer report"): "1..N+1"
plan() { TG_PLANNED=$(($1 + 1)); echo "1..$TG_PLANNED"; }

# done_testing - the script's test points are all out: the EXIT trap adds
# the crash point, then prints the plan (when plan was not called)
done_testing() { [ -n "$TG_PLANNED" ] || TG_DONE_TESTING=1; }

# ok / not_ok - one passed / failed test point with a description
ok() { TG_TESTNUM=$((TG_TESTNUM + 1)); echo "ok $TG_TESTNUM - $*"; }
not_ok() { TG_TESTNUM=$((TG_TESTNUM + 1)); TG_FAILS=$((TG_FAILS + 1)); echo "not ok $TG_TESTNUM - $*"; }

# skip - a test point that could not run: skip DESC REASON
skip() { TG_TESTNUM=$((TG_TESTNUM + 1)); echo "ok $TG_TESTNUM - $1 # SKIP ${2:-}"; }

# diag - print text as TAP comment lines
diag() { local l; printf '%s\n' "$@" | while IFS= read -r l; do echo "# $l"; done; }

# diag_file - the last N lines of FILE as TAP comments: diag_file FILE [N] [LABEL]
diag_file() {
	[ -f "$1" ] || return 0
	diag "--- ${3:-$1} (last ${2:-25} lines) ---"
	tail -n "${2:-25}" "$1" | cut -c1-300 | sed 's/^/# /'
}

# check - ok when the command succeeds: check DESC CMD [ARG...]
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; diag "command failed: $*"; fi
}

# is - string equality: is GOT WANT DESC
is() {
	if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3"; diag "got:      '$1'" "expected: '$2'"; fi
}

# like - extended-regex match: like GOT ERE DESC
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok "$3"; else
		not_ok "$3"; diag "got:      '$(printf '%s' "$1" | head -c 2000)'" "expected to match: $2"; fi
}

# skip_all - skip the whole script; only for what README.md's "What may
# be skipped" lists (a missing peer is require_cmd's failure, not a skip)
skip_all() { echo "1..0 # SKIP $*"; TG_PLANNED=0; exit 0; }

# bail_out - harness failure: stop the whole run (cleanup still runs)
bail_out() { echo "Bail out! $*"; TG_BAILED=1; exit 1; }
TG_BAILED=0

# require_cmd - a peer the project supports must be installed: Bail out
# (the script fails) naming the package: require_cmd CMD PACKAGE
require_cmd() {
	command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] ||
		bail_out "$1 is missing: install the Debian package $2 (ops/quickstart installs it)"
}

# require_file - as require_cmd, for a file: require_file PATH PACKAGE
require_file() {
	[ -e "$1" ] || bail_out "$1 is missing: install the Debian package $2 (ops/quickstart installs it)"
}

# ---------------------------------------------------------------- processes

TG_PIDS=()            # every background process we started
TG_POSTFIX_DIRS=()    # every private Postfix instance we started

# tg_track - remember a pid for the cleanup trap
tg_track() { TG_PIDS+=("$1"); }

# tg_untrack - forget a pid (after it was stopped, so a reused pid is safe)
tg_untrack() {
	local keep=() p
	for p in "${TG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	TG_PIDS=("${keep[@]}")
}

# pid_alive - the process exists and is not a zombie
pid_alive() {
	local st
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# children_of - direct children of PID, one pid a line
children_of() { ps -e -o pid= -o ppid= | awk -v p="$1" '$2 == p { print $1 }'; }

# descendants_of - every descendant of PID, one pid a line
descendants_of() {
	ps -e -o pid= -o ppid= | awk -v root="$1" '
		{ par[$1] = $2 }
		END {
			inset[root] = 1; changed = 1
			while (changed) { changed = 0
				for (k in par) if (!(k in inset) && (par[k] in inset)) { inset[k] = 1; changed = 1 } }
			for (k in inset) if (k != root) print k
		}'
}

# wait_gone - wait up to T seconds until none of the pids is alive
wait_gone() {
	local t=$1 p alive; shift
	local n=$((t * 10))
	while [ "$n" -gt 0 ]; do
		alive=0
		for p in "$@"; do pid_alive "$p" && alive=1; done
		[ "$alive" = 0 ] && return 0
		sleep 0.1; n=$((n - 1))
	done
	return 1
}

# kill_tree - stop PID and everything it started: SIGTERM, wait GRACE
# seconds, then SIGKILL to whatever is left: kill_tree PID [GRACE]
kill_tree() {
	local pid=$1 grace=${2:-10} kids p
	[ -n "$pid" ] || return 0
	kids=$(descendants_of "$pid")
	if pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		if ! wait_gone "$grace" "$pid"; then
			diag "pid $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)) ignored SIGTERM for ${grace}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
			wait_gone 5 "$pid"
		fi
	fi
	wait "$pid" 2>/dev/null
	TG_KILL_STATUS=$?
	tg_note_master_exit "$pid" "$TG_KILL_STATUS"
	# children that outlived their parent
	# shellcheck disable=SC2086
	if [ -n "$kids" ] && ! wait_gone 5 $kids; then
		for p in $kids; do
			if pid_alive "$p"; then
				diag "leftover pid $p ($(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)): SIGKILL"
				kill -KILL "$p" 2>/dev/null
			fi
		done
		# shellcheck disable=SC2086
		wait_gone 5 $kids
	fi
	return 0
}

# ---------------------------------------------------------------- crashes

TG_DEATH_PIDS=" "     # workers killed on purpose (tg_expect_worker_death)
TG_DEATH_ALLOW=()     # EREs of death lines caused on purpose

# tg_expect_worker_death - the test kills worker PID on purpose: its
# death is not a crash: tg_expect_worker_death PID
tg_expect_worker_death() { TG_DEATH_PIDS="$TG_DEATH_PIDS$1 "; }

# tg_expect_worker_deaths - death lines of the master's log ("worker PID
# died of signal N (...)", "worker PID exited with status N") matching ERE
# are on purpose: tg_expect_worker_deaths ERE
tg_expect_worker_deaths() { TG_DEATH_ALLOW+=("$1"); }

# TG_SANITIZER_ERE - the first line of a sanitizer report
TG_SANITIZER_ERE='ERROR: (Address|Leak|Thread|Memory)Sanitizer|AddressSanitizer:DEADLYSIGNAL|SUMMARY: (Address|Leak|UndefinedBehavior|Thread|Memory)Sanitizer|runtime error: '

TG_MASTER_DEATHS=     # tollgated masters that died of a signal nobody sent

# tg_note_master_exit - after kill_tree reaped PID with STATUS: a tollgated
# master (TG_PID) that died of a signal other than the TERM or KILL that
# kill_tree sends (SEGV, ABRT from a sanitizer, ...) is a crash
tg_note_master_exit() {
	[ -n "${TG_PID:-}" ] && [ "$1" = "$TG_PID" ] || return 0
	if [ "$2" -gt 128 ] && [ "$2" -ne 137 ] && [ "$2" -ne 143 ]; then
		TG_MASTER_DEATHS="${TG_MASTER_DEATHS}tollgated master $1 died of signal $(($2 - 128))
"
	fi
}

# tg_crash_scan - print every sanitizer report line and every worker
# death nobody declared, from the logs in the temp dir; 1 when there is one
tg_crash_scan() {
	local f logs=() line pid a bad=0 deaths=0 timed_out
	[ -n "${TG_TMP:-}" ] && [ -d "$TG_TMP" ] || return 0
	for f in "$TG_TMP"/*.log "$TG_TMP"/*.err "$TG_TMP"/*.out "${TG_LOG:-}"; do
		[ -f "$f" ] || continue
		case " ${logs[*]} " in *" $f "*) continue ;; esac
		logs+=("$f")
	done
	if [ -n "$TG_MASTER_DEATHS" ]; then
		bad=1
		printf '%s' "$TG_MASTER_DEATHS"
	fi
	[ ${#logs[@]} -gt 0 ] || return "$bad"
	if grep -Eq -- "$TG_SANITIZER_ERE" "${logs[@]}"; then
		bad=1
		echo "sanitizer report(s):"
		grep -EH -A 8 -- "$TG_SANITIZER_ERE" "${logs[@]}" | head -n 60 | cut -c1-300
	fi
	# the master's own kills: child_timeout (by pid) and shutdown_timeout
	timed_out=" $(grep -ohE 'worker [0-9]+: task exceeded child_timeout' "${logs[@]}" | awk '{ sub(":", "", $2); print $2 }' | tr '\n' ' ')"
	while IFS= read -r line; do
		pid=$(printf '%s\n' "$line" | sed -n 's/.*worker \([0-9][0-9]*\) \(died of signal\|exited with status\).*/\1/p')
		case $TG_DEATH_PIDS$timed_out in *" $pid "*) continue ;; esac
		for a in "${TG_DEATH_ALLOW[@]}"; do
			printf '%s\n' "$line" | grep -Eq -- "$a" && continue 2
		done
		if printf '%s\n' "$line" | grep -q 'died of signal 9 ' &&
		   grep -qE 'workers still busy after [0-9]+s: killing them' "${logs[@]}"; then
			continue
		fi
		[ "$deaths" = 1 ] || echo "worker deaths nobody caused on purpose:"
		deaths=1 bad=1
		printf '%s\n' "$line" | cut -c1-300
	done < <(grep -hE 'worker [0-9]+ (died of signal [0-9]+|exited with status [0-9]+)' "${logs[@]}")
	[ "$bad" = 0 ]
}

# tg_crash_point - the last test point of every script (the EXIT trap)
tg_crash_point() {
	local report
	if report=$(tg_crash_scan); then
		ok "no crash or sanitizer report in the logs"
	else
		not_ok "no crash or sanitizer report in the logs"
		diag "$report"
	fi
}

# tg_cleanup - the EXIT trap: stop everything, check the logs for crashes,
# report, remove the temp dir (kept when something failed)
tg_cleanup() {
	local rc=$? i d
	trap - EXIT INT TERM HUP
	set +e
	for ((i = ${#TG_PIDS[@]} - 1; i >= 0; i--)); do kill_tree "${TG_PIDS[$i]}" 10; done
	TG_PIDS=()
	for d in "${TG_POSTFIX_DIRS[@]}"; do postfix_stop_dir "$d"; done
	TG_POSTFIX_DIRS=()
	# the crash point: after the daemons stopped (a crash in the drain
	# counts), only when the script printed or will print a plan
	if [ "$TG_DONE_TESTING" = 1 ] || [ -n "$TG_PLANNED" ] || [ "$TG_BAILED" = 1 ]; then
		[ "$TG_PLANNED" = 0 ] || tg_crash_point
	fi
	if [ "$TG_DONE_TESTING" = 1 ]; then TG_PLANNED=$TG_TESTNUM; echo "1..$TG_TESTNUM"; fi
	if [ "$TG_FAILS" -gt 0 ] || [ "$TG_BAILED" = 1 ] || [ -n "${TG_SIGNAL:-}" ] ||
	   { [ -n "$TG_PLANNED" ] && [ "$TG_PLANNED" != "$TG_TESTNUM" ]; }; then
		[ -n "${TG_LOG:-}" ] && diag_file "$TG_LOG" 40 "tollgated log"
		if [ -n "${PF_DIR:-}" ] && [ -f "$PF_DIR/maillog" ]; then
			grep -v 'postfix-script.*warning' "$PF_DIR/maillog" >"$TG_TMP/maillog.diag"
			diag_file "$TG_TMP/maillog.diag" 30 "postfix maillog"
		fi
		TG_KEEP_TMP=1
	fi
	if [ -n "${TG_TMP:-}" ] && [ -d "$TG_TMP" ]; then
		if [ "${TG_KEEP_TMP:-0}" = 1 ]; then
			diag "kept $TG_TMP${TG_LOG:+ (tollgated log: $TG_LOG)}"
		else
			rm -rf "$TG_TMP"
		fi
	fi
	# failed assertions are counted by the TAP driver: exit 0 unless the
	# harness failed (bail out, signal, or the script died before its plan)
	if [ "$TG_BAILED" = 1 ] || [ -n "$TG_SIGNAL" ]; then
		[ "$rc" -ne 0 ] || rc=1
		exit "$rc"
	fi
	if [ -n "$TG_PLANNED" ] && [ "$TG_PLANNED" != "$TG_TESTNUM" ]; then
		diag "planned $TG_PLANNED tests but ran $TG_TESTNUM (exit status $rc)"
		exit 1
	fi
	exit 0
}

# ---------------------------------------------------------------- set-up

[ "${TG_SKIP_INTEGRATION:-0}" = 1 ] && skip_all "TG_SKIP_INTEGRATION=1 (run by the quick start outside make distcheck)"
[ "$(id -u)" = 0 ] || skip_all "needs root (smtp-sink -u, postfix -c)"
for tg_tool in postfix postconf postqueue smtp-sink smtp-source; do
	require_cmd "$PF_SBIN/$tg_tool" postfix
done
require_cmd ss iproute2
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 5))' 2>/dev/null ||
	bail_out "python3 (>= 3.5) is missing: install the Debian package python3"

TG_TMP=$(mktemp -d /tmp/tollgate-it.XXXXXX) || bail_out "mktemp failed"
chmod 755 "$TG_TMP"          # smtp-sink (postfix) and workers (nobody) look inside
trap tg_cleanup EXIT
TG_SIGNAL=
trap 'TG_SIGNAL=INT; exit 130' INT
trap 'TG_SIGNAL=TERM; exit 143' TERM
trap 'TG_SIGNAL=HUP; exit 129' HUP
: >"$TG_TMP/ports"

# require_tollgated - the daemon must be built (make check builds it)
require_tollgated() {
	[ -x "$TOLLGATED" ] || bail_out "tollgated not built ($TOLLGATED): run make first"
}

# ---------------------------------------------------------------- ports and waits

# free_port - print a loopback TCP port nobody listens on (and that this
# test has not handed out before).  The kernel is asked by binding the port;
# ports come from below the ephemeral range so outgoing connections of the
# test cannot take one between the choice and the listener's bind.
# Use as PORT=$(free_port) || bail_out "no free port".
free_port() {
	local p
	p=$("$PYTHON" - "$TG_TMP/ports" <<'EOF'
import random, socket, sys
used = set(open(sys.argv[1]).read().split())
for _ in range(500):
    p = random.randint(20000, 32000)
    if str(p) in used:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
EOF
	)
	# (a bail_out here would only leave the command substitution)
	[ -n "$p" ] || { echo "free_port: no free port" >&2; return 1; }
	echo "$p" >>"$TG_TMP/ports"
	echo "$p"
}

# port_listening - something listens on HOST:PORT (checked without connecting)
port_listening() { ss -Hltn "sport = :$2" 2>/dev/null | grep -qF "$1:$2"; }

# wait_port - wait until HOST PORT listens, TIMEOUT seconds
wait_port() { wait_until "port_listening $1 $2" "${3:-10}"; }

# wait_until - evaluate CONDITION every 0.2 s until it holds; 1 on timeout
wait_until() {
	local cond=$1 t=${2:-30}
	local deadline=$((SECONDS + t))
	while ! eval "$cond"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
	return 0
}

# ---------------------------------------------------------------- smtp-sink

# start_sink - an smtp-sink on a free port dumping each message to a file
# in SINK_DIR: start_sink [EXTRA-OPTIONS...]
start_sink() {
	SINK_PORT=$(free_port) || bail_out "no free port"
	SINK_DIR=$TG_TMP/sink
	mkdir -p "$SINK_DIR"
	chown postfix "$SINK_DIR"
	"$PF_SBIN/smtp-sink" -u postfix "$@" -d "$SINK_DIR/%Y%m%d%H%M%S." "127.0.0.1:$SINK_PORT" 256 \
		>>"$TG_TMP/smtp-sink.log" 2>&1 &
	SINK_PID=$!
	tg_track "$SINK_PID"
	wait_port 127.0.0.1 "$SINK_PORT" 10 || bail_out "smtp-sink did not listen on $SINK_PORT"
}

# sink_files - the dumped messages, one path a line (oldest first)
sink_files() { find "$SINK_DIR" -type f 2>/dev/null | sort; }

# count_sink - number of messages smtp-sink dumped
count_sink() { sink_files | wc -l; }

# sink_grep - files holding a line matching ERE: sink_grep ERE
sink_grep() { sink_files | xargs -r grep -lE -- "$1"; }

# sink_count_grep - number of dumped messages with a line matching ERE
sink_count_grep() { sink_grep "$1" | wc -l; }

# msg_headers - unfolded header section of a message file
msg_headers() { $SMTPCLIENT headers "$1"; }

# ---------------------------------------------------------------- Postfix

# pf_write_main_cf - main.cf of the private instance
pf_write_main_cf() {
	cat >"$PF_DIR/main.cf" <<EOF
# private Postfix of a tollgate integration test ($TG_TMP)
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
myhostname = pf$$.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$SINK_PORT
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $TG_TMP
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
delay_warning_time = 0
biff = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
smtp_dns_support_level = disabled
message_size_limit = 104857600
EOF
}

# pf_write_master_cf - master.cf of the private instance, whole; with 1 the
# re-injection smtpd is included, with 0 it is left out
pf_write_master_cf() {
	{
		cat <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$PF_INJECT_PORT inet n - n - - smtpd
  -o content_filter=amavisfeed:[127.0.0.1]:$TG_LMTP_PORT
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
amavisfeed unix -       -       n       -       $PF_MAXPROC     lmtp
  -o lmtp_data_done_timeout=1200
  -o lmtp_send_xforward_command=yes
  -o lmtp_tls_note_starttls_offer=no
EOF
		[ "$1" = 1 ] && cat <<EOF
127.0.0.1:$PF_REINJECT_PORT inet n - n - - smtpd
  -o content_filter=
  -o smtpd_delay_reject=no
  -o smtpd_client_restrictions=permit_mynetworks,reject
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o smtpd_data_restrictions=reject_unauth_pipelining
  -o smtpd_end_of_data_restrictions=
  -o smtpd_restriction_classes=
  -o mynetworks=127.0.0.0/8
  -o smtpd_error_sleep_time=0
  -o smtpd_soft_error_limit=1001
  -o smtpd_hard_error_limit=1000
  -o smtpd_client_connection_count_limit=0
  -o smtpd_client_connection_rate_limit=0
  -o receive_override_options=no_header_body_checks,no_unknown_recipient_checks,no_milters
  -o local_header_rewrite_clients=
  -o smtpd_milters=
  -o local_recipient_maps=
  -o relay_recipient_maps=
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
EOF
	} >"$PF_DIR/master.cf"
}

# start_postfix - the private instance: start_postfix [AMAVISFEED-MAXPROC]
# Needs start_sink first.  Sets PF_DIR, PF_INJECT_PORT, PF_REINJECT_PORT and
# TG_LMTP_PORT (the port tollgated will listen on).
start_postfix() {
	[ -n "${SINK_PORT:-}" ] || bail_out "start_postfix needs start_sink first"
	PF_DIR=$TG_TMP/postfix
	PF_MAXPROC=${1:-2}
	PF_INJECT_PORT=$(free_port) || bail_out "no free port"
	PF_REINJECT_PORT=$(free_port) || bail_out "no free port"
	[ -n "${TG_LMTP_PORT:-}" ] || TG_LMTP_PORT=$(free_port) || bail_out "no free port"
	mkdir -p "$PF_DIR/queue"    # the rest is made by postfix start (post-install create-missing)
	pf_write_main_cf
	pf_write_master_cf 1
	TG_POSTFIX_DIRS+=("$PF_DIR")
	if ! "$PF_SBIN/postfix" -c "$PF_DIR" start >"$TG_TMP/postfix-start.log" 2>&1; then
		diag_file "$TG_TMP/postfix-start.log" 20
		bail_out "postfix -c $PF_DIR start failed"
	fi
	if ! wait_port 127.0.0.1 "$PF_INJECT_PORT" 15 || ! wait_port 127.0.0.1 "$PF_REINJECT_PORT" 15; then
		diag_file "$TG_TMP/postfix-start.log" 20
		diag_file "$PF_DIR/maillog" 20
		bail_out "private Postfix did not listen"
	fi
}

# postfix_master_pid - pid of the instance's master, from its pid file
postfix_master_pid() {
	local f=${1:-$PF_DIR}/queue/pid/master.pid
	[ -r "$f" ] && tr -dc '0-9' <"$f"
}

# postfix_stop_dir - stop an instance and make sure its master and all its
# children are gone: postfix_stop_dir DIR
postfix_stop_dir() {
	local d=$1 mpid kids p
	mpid=$(postfix_master_pid "$d")
	kids=
	[ -n "$mpid" ] && kids=$(descendants_of "$mpid")
	"$PF_SBIN/postfix" -c "$d" stop >/dev/null 2>&1
	if [ -n "$mpid" ] && ! wait_gone 15 "$mpid"; then
		diag "postfix master $mpid still there after postfix stop: SIGKILL"
		kill -KILL "$mpid" 2>/dev/null
		wait_gone 5 "$mpid"
	fi
	# shellcheck disable=SC2086
	if [ -n "$kids" ] && ! wait_gone 10 $kids; then
		for p in $kids; do pid_alive "$p" && kill -KILL "$p" 2>/dev/null; done
	fi
	return 0
}

# stop_postfix - stop the private instance now (the trap does it otherwise)
stop_postfix() {
	local keep=() d
	postfix_stop_dir "$PF_DIR"
	for d in "${TG_POSTFIX_DIRS[@]}"; do [ "$d" = "$PF_DIR" ] || keep+=("$d"); done
	TG_POSTFIX_DIRS=("${keep[@]}")
}

# postconf_pf - postconf of the private instance
postconf_pf() { "$PF_SBIN/postconf" -c "$PF_DIR" "$@"; }

# postfix_queue_json - one JSON object per queued message
postfix_queue_json() { "$PF_SBIN/postqueue" -c "$PF_DIR" -j 2>/dev/null; }

# postfix_queue_count - number of messages in the instance's queue
postfix_queue_count() { postfix_queue_json | grep -c '^{'; }

# postfix_queue_count_in - messages in one queue: postfix_queue_count_in deferred
postfix_queue_count_in() { postfix_queue_json | grep -c "\"queue_name\": *\"$1\""; }

# postfix_flush - attempt delivery of everything queued now
postfix_flush() { "$PF_SBIN/postqueue" -c "$PF_DIR" -f >/dev/null 2>&1; }

# postfix_reload - re-read main.cf/master.cf
postfix_reload() { "$PF_SBIN/postfix" -c "$PF_DIR" reload >/dev/null 2>&1; }

# stop_reinjection - take the re-injection smtpd away (master.cf + reload)
stop_reinjection() {
	pf_write_master_cf 0
	postfix_reload || return 1
	wait_until "! port_listening 127.0.0.1 $PF_REINJECT_PORT" 15
}

# start_reinjection - put the re-injection smtpd back
start_reinjection() {
	pf_write_master_cf 1
	postfix_reload || return 1
	wait_port 127.0.0.1 "$PF_REINJECT_PORT" 15
}

# postfix_send - one message into the injection smtpd; prints the dialogue
# postfix_send [smtpclient send options...]
postfix_send() { $SMTPCLIENT send 127.0.0.1 "$PF_INJECT_PORT" "$@"; }

# settle - wait for a definite end instead of a fixed sleep before an
# absence check ("no second copy"): until the private Postfix (when one
# runs) has nothing in its incoming and active queues and the count that
# COUNT-CMD prints (default count_sink) has not changed for QUIET seconds
# (default 3); at most MAX seconds (default 60); 1 on timeout.
# Deferred mail is left alone (flush it first if it matters).
# settle [QUIET] [MAX] [COUNT-CMD]
settle() {
	local quiet=${1:-3} max=${2:-60} count=${3:-count_sink} n last=x since busy
	local deadline=$((SECONDS + max))
	since=$SECONDS
	while :; do
		n=$(eval "$count" 2>/dev/null)
		[ "$n" = "$last" ] || { last=$n; since=$SECONDS; }
		busy=0
		if [ -n "${PF_DIR:-}" ] && [ -n "$(postfix_master_pid)" ]; then
			busy=$(postfix_queue_json | grep -cE '"queue_name": *"(incoming|active)"')
		fi
		if [ "$busy" = 0 ] && [ $((SECONDS - since)) -ge "$quiet" ]; then return 0; fi
		[ "$busy" = 0 ] || since=$SECONDS
		if [ "$SECONDS" -ge "$deadline" ]; then
			diag "settle: not settled within ${max}s (count '$n', $busy in incoming/active)"
			return 1
		fi
		sleep 0.5
	done
}

# queued_as - the queue id from a dialogue's "queued as" reply, on stdin
queued_as() { sed -n 's/^S: 250 .*queued as \([0-9A-Za-z]*\).*/\1/p' | tail -n 1; }

# ---------------------------------------------------------------- tollgated

# tg_sigdb - the tests' ClamAV database, made once per build by the
# project's generator tests/data/make-sigdb (EICAR, the clamav-testfiles
# samples and the files inside them, 1000 synthetic hashes) and shared by
# the tests; prints its directory. Made again when the generator is newer.
# When the generator fails (e.g. clamav-testfiles missing) it says why on
# stderr, returns 1 and still prints the directory, which then does not
# exist: tollgated refuses to start on it, never runs without ClamAV.
tg_sigdb() {
	local dir="${top_builddir:-.}/tests/sigdb" gen="${top_srcdir:-.}/tests/data/make-sigdb"
	local log="${top_builddir:-.}/tests/sigdb.log"
	mkdir -p "${top_builddir:-.}/tests"
	(
		flock 9
		if [ ! -s "$dir/SHA256SUMS" ] || [ "$gen" -nt "$dir/SHA256SUMS" ]; then
			rm -rf "$dir" "$dir.tmp"
			"${PYTHON:-python3}" "$gen" "$dir.tmp" 1000 >"$log" 2>&1 && mv "$dir.tmp" "$dir"
		fi
	) 9>"${top_builddir:-.}/tests/.sigdb.lock"
	echo "$dir"
	[ -s "$dir/SHA256SUMS" ] && return 0
	echo "tg_sigdb: $gen failed: $(tail -n 3 "$log" 2>/dev/null | tr '\n' ' ')" >&2
	return 1
}

# start_tollgated - write TG_CONF and start tollgated in the foreground,
# logging to TG_LOG: start_tollgated [CONF-LINES]
# CONF-LINES ("name = value" lines) replace the defaults of the same name.
# The default listener is lmtp:127.0.0.1:$TG_LMTP_PORT and the default
# forward_method the re-injection smtpd when Postfix runs, else the sink.
start_tollgated() {
	local extra=${1:-} fwd name line ports p
	require_tollgated
	[ -n "${TG_LMTP_PORT:-}" ] || TG_LMTP_PORT=$(free_port) || bail_out "no free port"
	TG_CONF=$TG_TMP/tollgated.conf
	TG_LOG=$TG_TMP/tollgated.log
	TG_PIDFILE=$TG_TMP/tollgated.pid
	TG_SPOOL=$TG_TMP/spool
	mkdir -p "$TG_SPOOL"
	chmod 0755 "$TG_SPOOL"	# as root makes it: the master gives each worker its own directory
	if [ -n "${PF_REINJECT_PORT:-}" ]; then fwd=$PF_REINJECT_PORT; else fwd=${SINK_PORT:-10025}; fi
	TG_SIGDB=$(tg_sigdb)
	{
		echo "# tollgated config of an integration test ($TG_TMP)"
		while IFS= read -r line; do
			name=${line%%=*}; name=${name// /}
			printf '%s\n' "$extra" | grep -Eq "^[[:space:]]*${name}[[:space:]]*=" || printf '%s\n' "$line"
		done <<EOF
listen = lmtp:127.0.0.1:$TG_LMTP_PORT
forward_method = smtp:[127.0.0.1]:$fwd
max_servers = 2
max_requests = 1000
child_timeout = 120s
smtpd_timeout = 60s
pid_file = $TG_PIDFILE
tmp_dir = $TG_SPOOL
daemon_user = nobody
myhostname = tollgate.example.com
mydomain = example.com
forward_connection_cache_time = 5s
clamav_database = $TG_SIGDB
clamav_tmp_dir = $TG_SPOOL
control_socket = $TG_TMP/tollgated.ctl
EOF
		[ -n "$extra" ] && printf '%s\n' "$extra"
	} >"$TG_CONF"
	echo "=== start $(date '+%T') ===" >>"$TG_LOG"
	"$TOLLGATED" -f -c "$TG_CONF" >>"$TG_LOG" 2>&1 &
	TG_PID=$!
	tg_track "$TG_PID"
	# wait for every TCP listener of the config
	# ("host:port" pairs; an IPv6 host keeps its brackets, as ss prints it)
	ports=$(sed -n 's/^listen[[:space:]]*=//p' "$TG_CONF" | tr ', ' '\n' | grep -v ':unix:' |
		sed -n 's/^[a-z]*:\(.*\):\([0-9][0-9]*\)$/\1 \2/p' | tr ' ' '|')
	for p in $ports; do
		if ! wait_until "port_listening '${p%|*}' ${p#*|} || ! pid_alive $TG_PID" 20 || ! pid_alive "$TG_PID"; then
			diag_file "$TG_LOG" 30 "tollgated log"
			bail_out "tollgated did not listen on ${p%|*}:${p#*|}"
		fi
	done
	return 0
}

# stop_tollgated - SIGTERM, wait for master and workers, forget the pid
stop_tollgated() {
	[ -n "${TG_PID:-}" ] || return 0
	kill_tree "$TG_PID" 30
	tg_untrack "$TG_PID"
	TG_PID=
}

# tollgated_workers - pids of the master's children (the workers)
tollgated_workers() { children_of "$TG_PID"; }

# tollgated_worker_count - number of workers
tollgated_worker_count() { tollgated_workers | wc -l; }

# proc_title - the process title (what ps shows) of PID
proc_title() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/ *$//'; }

# tollgated_busy_worker - pid of a worker whose title says "forwarding",
# else of one whose title is not "idle"
tollgated_busy_worker() {
	local p t other=
	for p in $(tollgated_workers); do
		t=$(proc_title "$p")
		case $t in
		*forwarding*) echo "$p"; return 0 ;;
		*idle*|"") ;;
		*) other=${other:-$p} ;;
		esac
	done
	[ -n "$other" ] && echo "$other"
}

# tg_log_count - number of tollgated log lines matching ERE
tg_log_count() { grep -cE -- "$1" "$TG_LOG" 2>/dev/null; }

# ---------------------------------------------------------------- slow sink

# start_slowsink - a small SMTP server that can be slow on purpose, to hold a
# tollgated worker in the middle of a message: start_slowsink DELAY
# Mail from a sender whose local part is "slow-data" gets its 354 reply to
# DATA only after DELAY seconds (the filter is forwarding, downstream has
# nothing yet); mail from "slow-dot" is saved as soon as the final dot
# arrives but gets its 250 only after DELAY seconds (downstream has accepted,
# the filter does not know yet: the window of a duplicate).  Other mail is
# answered at once.  Each message is saved to SLOW_DIR/N.eml (written under
# a temporary name, then renamed), with X-Mail-Args/X-Rcpt-Args lines in
# front; SLOW_EVENTS gets "data N SENDER" when DATA arrives and
# "saved N SENDER" when a message was saved.  Sets SLOW_PORT.
start_slowsink() {
	SLOW_PORT=$(free_port) || bail_out "no free port"
	SLOW_DIR=$TG_TMP/slowsink
	SLOW_EVENTS=$TG_TMP/slowsink.events
	mkdir -p "$SLOW_DIR"
	: >"$SLOW_EVENTS"
	cat >"$TG_TMP/slowsink.py" <<'EOF'
import os, socketserver, sys, threading, time
port, outdir, events, delay = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
lock = threading.Lock()
counter = [0]

def event(text):
    with lock, open(events, "a") as f:
        f.write(text + "\n")

class Handler(socketserver.StreamRequestHandler):
    timeout = 300
    def say(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()
    def handle(self):
        try:
            self.session()
        except (OSError, ValueError):
            pass          # the client went away (a killed worker): drop the transaction
    def session(self):
        self.say("220 slowsink ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "LHLO"):
                self.say("250-slowsink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE")
            elif verb == "HELO":
                self.say("250 slowsink")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip(), []
                self.say("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip())
                self.say("250 2.1.5 Ok")
            elif verb == "DATA":
                with lock:
                    counter[0] += 1
                    n = counter[0]
                event("data %d %s" % (n, sender))
                if "<slow-data@" in (sender or ""):
                    time.sleep(delay)
                self.say("354 End data with <CR><LF>.<CR><LF>")
                body = []
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return            # lost before the dot: nothing saved
                    if l in (b".\r\n", b".\n"):
                        break
                    body.append(l[1:] if l.startswith(b"..") else l)
                tmp = os.path.join(outdir, ".%d.tmp" % n)
                with open(tmp, "wb") as f:
                    f.write(("X-Mail-Args: %s\r\n" % sender).encode())
                    for r in rcpts:
                        f.write(("X-Rcpt-Args: %s\r\n" % r).encode())
                    f.write(b"".join(body))
                os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
                event("saved %d %s" % (n, sender))
                if "<slow-dot@" in (sender or ""):
                    time.sleep(delay)
                self.say("250 2.0.0 Ok: queued as SLOW%d" % n)
            elif verb == "RSET":
                sender, rcpts = None, []
                self.say("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("250 2.0.0 Ok")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", port), Handler).serve_forever()
EOF
	"$PYTHON" "$TG_TMP/slowsink.py" "$SLOW_PORT" "$SLOW_DIR" "$SLOW_EVENTS" "$1" \
		>>"$TG_TMP/slowsink.log" 2>&1 &
	SLOW_PID=$!
	tg_track "$SLOW_PID"
	wait_port 127.0.0.1 "$SLOW_PORT" 10 || bail_out "slow sink did not listen on $SLOW_PORT"
}

# slow_count_grep - number of messages at the slow sink matching ERE
slow_count_grep() { find "$SLOW_DIR" -name '*.eml' -print0 | xargs -0 -r grep -lE -- "$1" | wc -l; }

# ---------------------------------------------------------------- scanning tests

# MKMSG - the test-message generator (tests/integration/mkmsg.py): EICAR
# plain/base64/nested/zipped, a banned name in a zip, clamav-testfiles
# attachments, a clean multi-part message: $MKMSG KIND --out FILE [...]
MKMSG="$PYTHON $TG_HELPERS/mkmsg.py"

# lmtp_deliver - one LMTP transaction with tollgated: greeting, LHLO, MAIL,
# one RCPT per recipient, DATA FILE, one reply per recipient, QUIT; prints
# the dialogue: lmtp_deliver FILE SENDER RCPT... (port: TG_LMTP_PORT, or
# LMTP_PORT when set)
lmtp_deliver() {
	local file=$1 from=$2 r
	shift 2
	{
		echo "<"
		echo "= LHLO client.example.net"
		echo "= MAIL FROM:<$from>"
		for r in "$@"; do echo "= RCPT TO:<$r>"; done
		echo "= DATA"
		echo "data $file"
		echo "<$#"
		echo "= QUIT"
	} | $SMTPCLIENT script 127.0.0.1 "${LMTP_PORT:-$TG_LMTP_PORT}"
}

# after_dot - the server lines after the final dot of a dialogue (stdin),
# up to the QUIT, without the "S: " prefix: the per-recipient replies
after_dot() { sed -n '/^C: \.$/,/^C: QUIT$/p' | sed -n 's/^S: //p'; }

# ---------------------------------------------------------------- TLS sink

# tls_test_cert - a throwaway self-signed certificate (CN and SAN localhost,
# SAN IP 127.0.0.1), made once per test with the openssl CLI; prints the
# path of the PEM certificate (the key is beside it, .key for .pem). The
# certificate is its own CA: use it as a CAfile to verify the sink.
tls_test_cert() {
	local crt=$TG_TMP/tls-cert.pem key=$TG_TMP/tls-cert.key
	if [ ! -s "$crt" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
			-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			-keyout "$key" -out "$crt" >"$TG_TMP/openssl.log" 2>&1 || return 1
		chmod 644 "$crt" "$key"    # test key, read by workers running as nobody
	fi
	echo "$crt"
}

# start_tlssink MODE - a python SMTP server for TLS towards the next hop.
# MODE: "tls" offers STARTTLS (certificate from tls_test_cert); "plain"
# never offers it (STARTTLS gets 502); "refuse" offers it and answers 454.
# Every command is recorded in TLSSINK_EVENTS as "cmd CONN plain|tls VERB"
# (so a test can prove that no MAIL/RCPT/DATA arrived in plaintext), plus
# "conn CONN", "starttls CONN ok|failed REASON" and "saved N CONN SENDER
# tls=yes|no". Each message is saved to TLSSINK_DIR/N.eml (temporary name,
# then renamed) with X-Mail-Args, X-Rcpt-Args and X-TLS (yes CIPHER, or
# no) lines in front. Sets TLSSINK_PORT, TLSSINK_DIR, TLSSINK_EVENTS,
# TLSSINK_PID (tracked: the cleanup trap stops it) and TLSSINK_CERT. Each
# call starts another sink with its own directory and events file.
start_tlssink() {
	local mode=${1:-tls}
	TLSSINK_CERT=$(tls_test_cert) || bail_out "openssl could not make a test certificate"
	TLSSINK_PORT=$(free_port) || bail_out "no free port"
	TLSSINK_DIR=$TG_TMP/tlssink.$TLSSINK_PORT
	TLSSINK_EVENTS=$TG_TMP/tlssink.$TLSSINK_PORT.events
	mkdir -p "$TLSSINK_DIR"
	: >"$TLSSINK_EVENTS"
	[ -f "$TG_TMP/tlssink.py" ] || cat >"$TG_TMP/tlssink.py" <<'EOF'
import os, socketserver, ssl, sys, threading
port, outdir, events, mode, cert = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
key = cert[:-4] + ".key"
lock = threading.Lock()
counter = {"conn": 0, "msg": 0}
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)

def event(text):
    with lock, open(events, "a") as f:
        f.write(text + "\n")

def nextnum(what):
    with lock:
        counter[what] += 1
        return counter[what]

class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.sock = self.request
        self.sock.settimeout(120)
        self.rfile = self.sock.makefile("rb")
        self.tls = None
    def say(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
    def handle(self):
        self.conn = nextnum("conn")
        event("conn %d" % self.conn)
        try:
            self.session()
        except (OSError, ValueError) as e:
            event("lost %d %s" % (self.conn, e))
    def ehlo(self):
        caps = ["tlssink", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE"]
        if self.tls is None and mode in ("tls", "refuse"):
            caps.append("STARTTLS")
        self.say("\r\n".join("250%s%s" % ("-" if i < len(caps) - 1 else " ", c) for i, c in enumerate(caps)))
    def session(self):
        self.say("220 tlssink ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                event("eof %d" % self.conn)
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            event("cmd %d %s %s" % (self.conn, "tls" if self.tls else "plain", verb))
            if verb in ("EHLO", "LHLO"):
                sender, rcpts = None, []
                self.ehlo()
            elif verb == "HELO":
                self.say("250 tlssink")
            elif verb == "STARTTLS":
                if self.tls is not None or mode == "plain":
                    self.say("502 5.5.1 STARTTLS not available")
                elif mode == "refuse":
                    self.say("454 4.7.0 TLS not available due to temporary reason")
                else:
                    self.say("220 2.0.0 Ready to start TLS")
                    try:
                        self.sock = ctx.wrap_socket(self.sock, server_side=True)
                    except (OSError, ssl.SSLError) as e:
                        event("starttls %d failed %s" % (self.conn, e))
                        return
                    self.rfile = self.sock.makefile("rb")
                    self.tls = self.sock.cipher()[0]
                    sender, rcpts = None, []
                    event("starttls %d ok %s %s" % (self.conn, self.sock.version(), self.tls))
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip(), []
                self.say("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip())
                self.say("250 2.1.5 Ok")
            elif verb == "DATA":
                n = nextnum("msg")
                self.say("354 End data with <CR><LF>.<CR><LF>")
                body = []
                while True:
                    l = self.rfile.readline()
                    if not l:
                        event("eof %d" % self.conn)
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    body.append(l[1:] if l.startswith(b"..") else l)
                tmp = os.path.join(outdir, ".%d.tmp" % n)
                with open(tmp, "wb") as f:
                    f.write(("X-Mail-Args: %s\r\n" % sender).encode())
                    for r in rcpts:
                        f.write(("X-Rcpt-Args: %s\r\n" % r).encode())
                    f.write(("X-TLS: %s\r\n" % (("yes " + self.tls) if self.tls else "no")).encode())
                    f.write(b"".join(body))
                os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
                event("saved %d %d %s tls=%s" % (n, self.conn, sender, "yes" if self.tls else "no"))
                self.say("250 2.0.0 Ok: queued as TLS%d" % n)
            elif verb == "RSET":
                sender, rcpts = None, []
                self.say("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("250 2.0.0 Ok")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", port), Handler).serve_forever()
EOF
	"$PYTHON" "$TG_TMP/tlssink.py" "$TLSSINK_PORT" "$TLSSINK_DIR" "$TLSSINK_EVENTS" "$mode" "$TLSSINK_CERT" \
		>>"$TG_TMP/tlssink.log" 2>&1 &
	TLSSINK_PID=$!
	tg_track "$TLSSINK_PID"
	wait_port 127.0.0.1 "$TLSSINK_PORT" 10 || bail_out "TLS sink did not listen on $TLSSINK_PORT"
}

# start_sink_named - another smtp-sink, dumping into its own directory
# $TG_TMP/sink-NAME: start_sink_named NAME [EXTRA-OPTIONS...]. Sets
# NSINK_PORT, NSINK_DIR and NSINK_PID (tracked); SINK_* are left alone.
start_sink_named() {
	local name=$1; shift
	NSINK_PORT=$(free_port) || bail_out "no free port"
	NSINK_DIR=$TG_TMP/sink-$name
	mkdir -p "$NSINK_DIR"
	chown postfix "$NSINK_DIR"
	"$PF_SBIN/smtp-sink" -u postfix "$@" -d "$NSINK_DIR/%Y%m%d%H%M%S." "127.0.0.1:$NSINK_PORT" 256 \
		>>"$TG_TMP/smtp-sink-$name.log" 2>&1 &
	NSINK_PID=$!
	tg_track "$NSINK_PID"
	wait_port 127.0.0.1 "$NSINK_PORT" 10 || bail_out "smtp-sink $name did not listen on $NSINK_PORT"
}

# dir_count_grep - messages under DIR (a named smtp-sink's or a TLS sink's)
# with a line matching ERE; temporary dot files are left out:
# dir_count_grep DIR ERE
dir_count_grep() { find "$1" -type f ! -name '.*' -print0 2>/dev/null | xargs -0 -r grep -lE -- "$2" | wc -l; }

# ---------------------------------------------------------------- before-queue

# postfix_inject_opts - restart the private Postfix with the injection
# smtpd's "-o content_filter=amavisfeed:..." replaced by the given
# name=value options (one -o each), e.g. for a before-queue milter:
#   postfix_inject_opts content_filter= smtpd_milters=inet:127.0.0.1:$P milter_default_action=tempfail
# Without arguments the integration-guide master.cf is restored. A full
# stop and start, so that no smtpd with the old options is left.
postfix_inject_opts() {
	local o lines=
	pf_write_master_cf 1
	if [ $# -gt 0 ]; then
		for o in "$@"; do lines="$lines  -o $o
"; done
		awk -v repl="$lines" '!done && /^  -o content_filter=amavisfeed:/ { printf "%s", repl; done = 1; next } { print }' \
			"$PF_DIR/master.cf" >"$PF_DIR/master.cf.new" && mv "$PF_DIR/master.cf.new" "$PF_DIR/master.cf"
	fi
	postfix_stop_dir "$PF_DIR"
	if ! "$PF_SBIN/postfix" -c "$PF_DIR" start >>"$TG_TMP/postfix-start.log" 2>&1 ||
	   ! wait_port 127.0.0.1 "$PF_INJECT_PORT" 15; then
		diag_file "$TG_TMP/postfix-start.log" 20
		bail_out "private Postfix did not come back with the new injection options"
	fi
}

# ---------------------------------------------------------------- fault sink

# start_faultsink DELAY N - a python SMTP server that misbehaves on purpose
# for the first N messages of each kind, chosen by the sender's local part:
#   f421@       MAIL gets "421 4.3.2 Service shutting down" and the
#               connection is closed
#   drop-data@  DATA gets 354, then the connection is closed after the
#               first two lines of the message (closed mid-DATA)
#   slow-data@  the 354 comes after DELAY seconds
#   slow-dot@   the message is saved, the 250 comes after DELAY seconds
#   late-dot@   the final dot is answered after DELAY seconds, and the
#               message is saved then only if the client is still
#               connected (a downstream that commits when it answers:
#               a client that gave up has left no copy); events "late N"
#               when the dot arrived, "aborted N" when the client was gone
# Other mail (and the N+1th of a kind) is answered at once. Each saved
# message goes to FAULT_DIR/N.eml (temporary name, then renamed) with
# X-Mail-Args/X-Rcpt-Args lines in front; FAULT_EVENTS gets "KIND N SENDER"
# lines (mail, 421, data, dropped, saved). SIGSTOP/SIGCONT of FAULT_PID
# freezes and thaws it. Sets FAULT_PORT, FAULT_DIR, FAULT_EVENTS, FAULT_PID.
start_faultsink() {
	FAULT_PORT=$(free_port) || bail_out "no free port"
	FAULT_DIR=$TG_TMP/faultsink
	FAULT_EVENTS=$TG_TMP/faultsink.events
	mkdir -p "$FAULT_DIR"
	: >"$FAULT_EVENTS"
	cat >"$TG_TMP/faultsink.py" <<'PYEOF'
import os, select, socket, socketserver, sys, threading, time
port, outdir, events, delay, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
counter = {"msg": 0}

def event(text):
    with lock, open(events, "a") as f:
        f.write(text + "\n")

def first(kind):
    """true for the first `limit` uses of a misbehaviour"""
    with lock:
        counter[kind] = counter.get(kind, 0) + 1
        return counter[kind] <= limit

class Handler(socketserver.StreamRequestHandler):
    timeout = 300
    def say(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()
    def handle(self):
        try:
            self.session()
        except (OSError, ValueError):
            pass
    def session(self):
        self.say("220 faultsink ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "LHLO"):
                self.say("250-faultsink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE")
            elif verb == "HELO":
                self.say("250 faultsink")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip().split(" ")[0], []
                if "<f421@" in sender and first("421"):
                    event("421 0 %s" % sender)
                    self.say("421 4.3.2 Service shutting down")
                    return
                event("mail 0 %s" % sender)
                self.say("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip())
                self.say("250 2.1.5 Ok")
            elif verb == "DATA":
                with lock:
                    counter["msg"] += 1
                    n = counter["msg"]
                event("data %d %s" % (n, sender))
                if "<slow-data@" in (sender or "") and first("slow-data"):
                    time.sleep(delay)
                self.say("354 End data with <CR><LF>.<CR><LF>")
                drop = "<drop-data@" in (sender or "") and first("drop")
                body = []
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    body.append(l[1:] if l.startswith(b"..") else l)
                    if drop and len(body) >= 2:
                        event("dropped %d %s" % (n, sender))
                        return
                if "<late-dot@" in (sender or "") and first("late-dot"):
                    event("late %d %s" % (n, sender))
                    time.sleep(delay)
                    r, _, _ = select.select([self.connection], [], [], 0)
                    if r and not self.connection.recv(1, socket.MSG_PEEK):
                        event("aborted %d %s" % (n, sender))
                        return
                tmp = os.path.join(outdir, ".%d.tmp" % n)
                with open(tmp, "wb") as f:
                    f.write(("X-Mail-Args: %s\r\n" % sender).encode())
                    for r in rcpts:
                        f.write(("X-Rcpt-Args: %s\r\n" % r).encode())
                    f.write(b"".join(body))
                os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
                event("saved %d %s" % (n, sender))
                if "<slow-dot@" in (sender or "") and first("slow-dot"):
                    time.sleep(delay)
                self.say("250 2.0.0 Ok: queued as FAULT%d" % n)
            elif verb == "RSET":
                sender, rcpts = None, []
                self.say("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("250 2.0.0 Ok")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", port), Handler).serve_forever()
PYEOF
	"$PYTHON" "$TG_TMP/faultsink.py" "$FAULT_PORT" "$FAULT_DIR" "$FAULT_EVENTS" "$1" "${2:-1}" \
		>>"$TG_TMP/faultsink.log" 2>&1 &
	FAULT_PID=$!
	tg_track "$FAULT_PID"
	wait_port 127.0.0.1 "$FAULT_PORT" 10 || bail_out "fault sink did not listen on $FAULT_PORT"
}

# fault_count_grep - number of messages at the fault sink matching ERE
fault_count_grep() { find "$FAULT_DIR" -name '*.eml' -print0 | xargs -0 -r grep -lE -- "$1" | wc -l; }

# ---------------------------------------------------------------- exit hooks

TG_EXIT_HOOKS=()
# tg_at_exit CMD - run CMD (eval) when the script ends, before the usual
# cleanup (e.g. to unmount a tmpfs); hooks run in the order given
tg_at_exit() {
	TG_EXIT_HOOKS+=("$1")
	trap 'tg_run_exit_hooks' EXIT
}
tg_run_exit_hooks() {
	local rc=$? h
	for h in "${TG_EXIT_HOOKS[@]}"; do eval "$h" >/dev/null 2>&1; done
	(exit "$rc")
	tg_cleanup
}

# count_sink_msgid ID - number of sink dumps whose Message-ID is <ID>
count_sink_msgid() { sink_count_grep "^Message-ID: <$1>"; }

# ---------------------------------------------------------------- redis

# start_redis [PORT] - a private redis-server on 127.0.0.1 (a free port, or
# PORT to bring one back on the same port), no persistence (--save ''
# --appendonly no), its files in $TG_TMP/redis; pid tracked for the
# cleanup. Sets REDIS_PORT and REDIS_PID. stop_redis stops it by pid.
start_redis() {
	require_cmd redis-server redis-server
	REDIS_PORT=${1:-$(free_port)} || bail_out "no free port"
	mkdir -p "$TG_TMP/redis"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
		--dir "$TG_TMP/redis" --daemonize no --protected-mode yes \
		>>"$TG_TMP/redis.log" 2>&1 &
	REDIS_PID=$!
	tg_track "$REDIS_PID"
	wait_port 127.0.0.1 "$REDIS_PORT" 10 || bail_out "redis-server did not listen on $REDIS_PORT"
}

# stop_redis - SIGTERM the private redis-server, wait, forget its pid
stop_redis() {
	[ -n "${REDIS_PID:-}" ] || return 0
	kill_tree "$REDIS_PID" 10
	tg_untrack "$REDIS_PID"
	REDIS_PID=
}

# ================================================================ peers
# Helpers of t_rspamd.sh, t_amavisd_milter.sh and t_bank_selectors.sh:
# a private rspamd, a private amavisd-milter, a Cyrus sasldb for a
# private Postfix smtpd, and extra smtpd services in the private Postfix.

# start_rspamd - a private rspamd in the foreground: Debian's
# /etc/rspamd/rspamd.conf with LOCAL_CONFDIR, DBDIR, RUNDIR and LOGDIR in
# $TG_TMP/rspamd, the normal, controller and proxy workers on free
# loopback ports (one process each; the normal worker also on the unix
# socket RSPAMD_SOCKET, mode 0666), its log in RSPAMD_LOG, DNS pointed
# at a dead local port, no Redis, and a five-line public-suffix list
# (url_tld) instead of the 9600-entry one rspamd compiles for ~25 s at
# each start. GTUBE is found by a built-in rule without network. Sets
# RSPAMD_PORT (the normal worker: what tollgate asks), RSPAMD_SOCKET,
# RSPAMD_DIR, RSPAMD_LOG and RSPAMD_PID (tracked). stop_rspamd stops it
# by pid.
start_rspamd() {
	local r=$TG_TMP/rspamd p2 p3
	command -v rspamd >/dev/null && id _rspamd >/dev/null 2>&1 ||
		bail_out "rspamd is not installed (apt-get install rspamd)"
	RSPAMD_DIR=$r
	RSPAMD_LOG=$r/log/rspamd.log
	RSPAMD_PORT=$(free_port) && p2=$(free_port) && p3=$(free_port) || bail_out "no free port"
	mkdir -p "$r/conf/override.d" "$r/conf/local.d" "$r/db" "$r/run" "$r/log"
	RSPAMD_SOCKET=$r/run/normal.sock
	printf 'bind_socket = ["127.0.0.1:%s", "%s mode=0666"];\ncount = 1;\n' "$RSPAMD_PORT" "$RSPAMD_SOCKET" \
		>"$r/conf/override.d/worker-normal.inc"
	printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$p2" >"$r/conf/override.d/worker-controller.inc"
	printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$p3" >"$r/conf/override.d/worker-proxy.inc"
	printf 'type = "file";\nfilename = "%s";\nlevel = "info";\n' "$RSPAMD_LOG" >"$r/conf/override.d/logging.inc"
	printf 'com\nnet\norg\ntest\nexample\n' >"$r/tld.dat"
	printf 'dns { nameserver = ["127.0.0.1:1"]; timeout = 0.5s; retransmits = 1; }\nurl_tld = "%s/tld.dat";\n' \
		"$r" >"$r/conf/local.d/options.inc"
	chown -R _rspamd:_rspamd "$r"
	rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf --var LOCAL_CONFDIR="$r/conf" \
		--var DBDIR="$r/db" --var RUNDIR="$r/run" --var LOGDIR="$r/log" -p "$r/run/rspamd.pid" \
		>>"$r/out" 2>&1 &
	RSPAMD_PID=$!
	tg_track "$RSPAMD_PID"
	if ! wait_until "port_listening 127.0.0.1 $RSPAMD_PORT || ! pid_alive $RSPAMD_PID" 120 ||
	   ! pid_alive "$RSPAMD_PID"; then
		diag_file "$r/out" 15 "rspamd output"
		diag_file "$RSPAMD_LOG" 15 "rspamd log"
		bail_out "rspamd did not listen on 127.0.0.1:$RSPAMD_PORT"
	fi
}

# stop_rspamd - SIGTERM the private rspamd (main process and workers),
# wait until its port is closed, forget its pid
stop_rspamd() {
	[ -n "${RSPAMD_PID:-}" ] || return 0
	kill_tree "$RSPAMD_PID" 15
	tg_untrack "$RSPAMD_PID"
	RSPAMD_PID=
	wait_until "! port_listening 127.0.0.1 $RSPAMD_PORT" 10
}

# start_amavisd_milter SOCKET [OPTION...] - Debian's amavisd-milter in the
# foreground as nobody:nogroup (tollgated's default daemon_user, so the
# workers can read its files), milter socket on a free loopback port,
# AM.PDP requests to SOCKET (tollgated's ampdp:unix: listener), working
# directory and pid file in $TG_TMP/amavis/tmp/milter (AMAVIS_BASE=$TG_TMP/amavis/tmp is
# what ampdp_tempdir_base must list), extra OPTIONs as given (e.g. -B);
# its output is line-buffered into AMILTER_LOG.
# Sets AMILTER_PORT, AMILTER_PID (tracked), AMILTER_LOG, AMAVIS_BASE.
start_amavisd_milter() {
	local sock=$1 w
	shift
	[ -x /usr/sbin/amavisd-milter ] || bail_out "amavisd-milter is not installed (apt-get install amavisd-milter)"
	command -v setpriv >/dev/null || bail_out "setpriv (util-linux) is missing"
	AMAVIS_BASE=$TG_TMP/amavis/tmp
	w=$AMAVIS_BASE/milter
	mkdir -p "$w"
	chmod 0755 "$TG_TMP/amavis"
	chown nobody:nogroup "$AMAVIS_BASE" "$w"
	chmod 0750 "$AMAVIS_BASE" "$w"
	AMILTER_PORT=$(free_port) || bail_out "no free port"
	AMILTER_LOG=$TG_TMP/amavisd-milter.log
	setpriv --reuid=nobody --regid=nogroup --clear-groups stdbuf -oL -eL /usr/sbin/amavisd-milter -f "$@" \
		-s "inet:$AMILTER_PORT@127.0.0.1" -S "$sock" -w "$w" -p "$w/amavisd-milter.pid" \
		>>"$AMILTER_LOG" 2>&1 &
	AMILTER_PID=$!
	tg_track "$AMILTER_PID"
	wait_port 127.0.0.1 "$AMILTER_PORT" 10 || { diag_file "$AMILTER_LOG" 10; bail_out "amavisd-milter did not listen"; }
}

# postfix_add_smtpd PORT [NAME=VALUE...] - one more smtpd service in the
# private Postfix on 127.0.0.1:PORT with the given -o options, then a
# reload and a wait for the port. master.cf is rewritten by
# start_postfix, postfix_inject_opts and start/stop_reinjection: call
# this after them (the added service is lost when they run again).
postfix_add_smtpd() {
	local port=$1 o
	shift
	{
		echo "127.0.0.1:$port inet n - n - - smtpd"
		for o in "$@"; do echo "  -o $o"; done
	} >>"$PF_DIR/master.cf"
	postfix_reload
	wait_port 127.0.0.1 "$port" 15 || { diag_file "$PF_DIR/maillog" 15; bail_out "Postfix did not listen on $port"; }
}

# sasl_setup USER PASSWORD - a Cyrus SASL configuration for the private
# Postfix's smtpd (start_postfix first) in $PF_DIR/sasl: smtpd.conf
# (auxprop sasldb, PLAIN and LOGIN) and a sasldb2 with USER@$SASL_REALM
# (made by saslpasswd2, package sasl2-bin; readable by postfix). Debian's
# Postfix looks for smtpd.conf in $config_directory/sasl whatever
# cyrus_sasl_config_path says, hence the place. Use with the smtpd
# options in SASL_SMTPD_OPTS. Sets SASL_DIR, SASL_REALM, SASL_SMTPD_OPTS.
sasl_setup() {
	command -v saslpasswd2 >/dev/null || bail_out "saslpasswd2 is missing (apt-get install sasl2-bin libsasl2-modules)"
	[ -n "${PF_DIR:-}" ] || bail_out "sasl_setup needs start_postfix first"
	SASL_DIR=$PF_DIR/sasl
	SASL_REALM=example.test
	mkdir -p "$SASL_DIR"
	printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: %s/sasldb2\n' \
		"$SASL_DIR" >"$SASL_DIR/smtpd.conf"
	printf '%s' "$2" | saslpasswd2 -p -c -f "$SASL_DIR/sasldb2" -u "$SASL_REALM" "$1" ||
		bail_out "saslpasswd2 could not make $SASL_DIR/sasldb2"
	chown -R postfix "$SASL_DIR"
	chmod 0600 "$SASL_DIR/sasldb2"
	SASL_SMTPD_OPTS=(smtpd_sasl_auth_enable=yes smtpd_sasl_type=cyrus smtpd_sasl_path=smtpd
		"cyrus_sasl_config_path=$SASL_DIR" "smtpd_sasl_local_domain=$SASL_REALM" smtpd_tls_auth_only=no
		smtpd_sasl_security_options=noanonymous)
}

# auth_plain USER PASSWORD - the base64 argument of AUTH PLAIN
auth_plain() { printf '\0%s\0%s' "$1" "$2" | base64 -w0; }
# ================================================================ end of peers
