#!/bin/bash
# t_deadline.sh - a message's deliveries end inside child_timeout: a
# downstream that answers the final dot only after child_timeout gets
# its connection closed and the client a 451 4.4.2 from a live worker,
# before the master would kill it (child_timeout = 8s here; the margin
# is 2 s, so the deadline is 6 s after DATA).
#
#   - config check: a forward timeout set above what fits is refused,
#     the built-in defaults fit the built-in child_timeout, and a short
#     child_timeout with default forward timeouts is accepted
#   - over LMTP: 451 4.4.2 within child_timeout, the same worker pid
#     afterwards, no "exceeded child_timeout" and no worker death
#   - through a real Postfix with Redis on: the message stays queued
#     (deferred, 451 4.4.2), the downstream never got a copy (late-dot:
#     it commits only when it answers, and finds us gone), the retry
#     delivers it, and it arrives exactly once
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd redis-server redis-server

plan 13

# ---------------------------------------------------------------- config check
printf '%s\n' "clamav_database =" "child_timeout = 8s" "forward_data_done_timeout = 10s" >"$TG_TMP/big.conf"
out=$("$TOLLGATED" -c "$TG_TMP/big.conf" -t 2>&1); rc=$?
like "$rc $out" '^1 .*forward_data_done_timeout = 10s cannot fit in child_timeout = 8s' \
	"tollgated -t refuses forward_data_done_timeout = 10s with child_timeout = 8s"
printf '%s\n' "clamav_database =" "forward_command_timeout = 470s" >"$TG_TMP/cmd.conf"
out=$("$TOLLGATED" -c "$TG_TMP/cmd.conf" -t 2>&1); rc=$?
like "$rc $out" '^1 .*forward_command_timeout = 470s cannot fit in child_timeout = 480s' \
	"tollgated -t refuses forward_command_timeout = 470s with the default child_timeout"
printf '%s\n' "clamav_database =" "child_timeout = 8s" >"$TG_TMP/short.conf"
out=$("$TOLLGATED" -c "$TG_TMP/short.conf" -t 2>&1); rc=$?
is "$rc" 0 "child_timeout = 8s with default forward timeouts is accepted (the deadline cuts them) ${out:+: $out}"
d=$("$TOLLGATED" -d)
val() { printf '%s\n' "$d" | sed -n "s/^$1 = \([0-9]*\)s\$/\1/p"; }
fits() { [ "$(val forward_connect_timeout)" -lt 450 ] && [ "$(val forward_command_timeout)" -lt 450 ] &&
	[ "$(val forward_data_done_timeout)" -lt 450 ] && [ "$(val child_timeout)" -eq 480 ]; }
check "the default forward timeouts fit the default child_timeout less its margin (480 - 30 s): connect $(val forward_connect_timeout), command $(val forward_command_timeout), data done $(val forward_data_done_timeout)" fits

# ---------------------------------------------------------------- over LMTP
start_redis
start_sink
start_faultsink 20 2
start_postfix 2
start_tollgated "child_timeout = 8s
max_servers = 1
state_redis_server = 127.0.0.1:$REDIS_PORT
state_key_prefix = tgdl$$:
forward_method_maps = inline:{ b@example.com=smtp:[127.0.0.1]:$FAULT_PORT }
forward_connection_cache_time = 0"
wait_until '[ "$(tollgated_worker_count)" -eq 1 ]' 10
w0=$(tollgated_workers)

t0=$(date +%s%N)
r=$($SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --from late-dot@example.net --to b@example.com \
	--message-id "dl-lmtp-$$@example.net" --timeout 30 2>&1 | after_dot | grep -v '^221 ')
dt=$((($(date +%s%N) - t0) / 1000000))
like "$r" '^451 4\.4\.2 ' "LMTP: a downstream slower than child_timeout gives 451 4.4.2 ($(printf '%s' "$r" | cut -c1-100))"
check "LMTP: the reply came within child_timeout ($dt ms)" [ "$dt" -lt 8000 ]
is "$(tollgated_workers)" "$w0" "LMTP: the same worker answered and lives on (pid $w0)"
is "$(tg_log_count 'exceeded child_timeout|died of signal')" 0 "LMTP: nothing was killed"

# ---------------------------------------------------------------- through Postfix
MID="dl-pf-$$@example.net"
copies() { dir_count_grep "$FAULT_DIR" "^Message-ID: <$MID>"; }
qid=$(postfix_send --from late-dot@example.net --to b@example.com --message-id "$MID" | queued_as)
deferred() { grep -E "$qid: to=<b@example.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$TG_LMTP_PORT.*status=deferred" "$PF_DIR/maillog" | head -n 1; }
wait_until '[ -n "$(deferred)" ]' 40
like "$(deferred)" 'said: 451 4\.4\.2 ' "Postfix: deferred with tollgated's 451 4.4.2 (${qid:-no queue id})"
# both slow tries end at the downstream as "aborted": it never had a copy
wait_until '[ "$(grep -c "^aborted " "$FAULT_EVENTS")" -ge 2 ]' 40
is "$(grep -c '^aborted ' "$FAULT_EVENTS")" 2 "both slow tries were given up by tollgated before the downstream answered"
settled() {
	local i last="" now
	for i in 1 2 3; do
		postfix_flush
		sleep 2
		now="$(postfix_queue_count)/$(copies)"
		case $now in 0/*) ;; *) return 1 ;; esac
		[ -z "$last" ] || [ "$now" = "$last" ] || return 1
		last=$now
	done
}
wait_until settled 120
is "$(postfix_queue_count)" 0 "Postfix: the retry emptied the queue"
is "$(copies)" 1 "Postfix: the message arrived exactly once"
is "$(tg_log_count 'exceeded child_timeout|died of signal')" 0 "nothing was killed in the whole test"
