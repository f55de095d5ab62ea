#!/bin/bash
# t_once.sh - exactly once when a worker dies between two deliveries of
# one message, through a real Postfix and Redis: the delivered record of
# a group is written right after its downstream 2xx, not at the end.
#
#   forward_method_maps sends b@ to a fault sink whose answer to the
#   final dot never comes on the first try (late-dot, 60 s); a@ goes the
#   normal way (re-injection smtpd -> smtp-sink), and is delivered first.
#   While the worker waits for b@'s downstream, the test SIGKILLs it:
#   Postfix loses the LMTP connection and keeps the message. Its retry
#   (same XFORWARD IDENT, same content) is answered "delivered on an
#   earlier try" for a@ and delivers b@. In the end: a@ has exactly one
#   copy, b@ exactly one, Postfix's queue is empty.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd redis-server redis-server

plan 8
start_redis
start_sink
start_faultsink 60 1
start_postfix 2
start_tollgated "state_redis_server = 127.0.0.1:$REDIS_PORT
state_key_prefix = tgonce$$:
forward_method_maps = inline:{ b@example.com=smtp:[127.0.0.1]:$FAULT_PORT }
forward_connection_cache_time = 0"

MID="once-$$@example.net"
acopies() { count_sink_msgid "$MID"; }
bcopies() { dir_count_grep "$FAULT_DIR" "^Message-ID: <$MID>"; }

qid=$(postfix_send --from late-dot@example.net --to a@example.com --to b@example.com --message-id "$MID" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "Postfix accepted the message for a@ and b@ (${qid:-none})"

# a@'s group is done (its copy is at the sink) and b@'s downstream holds the dot
wait_until '[ "$(acopies)" -ge 1 ] && grep -q "^late " "$FAULT_EVENTS"' 60
w=$(tollgated_busy_worker)
if [ "$(acopies)" -ge 1 ] && grep -q "^late " "$FAULT_EVENTS" && [ -n "$w" ]; then
	command -v tg_expect_worker_death >/dev/null && tg_expect_worker_death "$w"
	kill -KILL "$w"
	ok "a@ delivered, b@'s final dot unanswered: worker $w SIGKILLed"
else
	not_ok "a@ delivered, b@'s final dot unanswered: worker SIGKILLed (a@ copies $(acopies), worker '${w}')"
	diag_file "$FAULT_EVENTS" 10 "fault sink events"
fi
wait_until "grep -q 'died of signal 9' '$TG_LOG'" 10
check "the master saw the worker die of SIGKILL" grep -q 'died of signal 9' "$TG_LOG"

deferred() { grep -E "$qid: to=<[ab]@example.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$TG_LMTP_PORT.*status=deferred" "$PF_DIR/maillog" | head -n 1; }
wait_until '[ -n "$(deferred)" ]' 30
like "$(deferred)" 'status=deferred' "Postfix kept the message after the lost LMTP connection"

# settled - Postfix's queue is empty and both copy counts stayed the same
# over 3 looks 2 s apart (flushing meanwhile): nothing more is on its way
settled() {
	local i last="" now
	for i in 1 2 3; do
		postfix_flush
		sleep 2
		now="$(postfix_queue_count)/$(acopies)/$(bcopies)"
		case $now in 0/*) ;; *) return 1 ;; esac
		[ -z "$last" ] || [ "$now" = "$last" ] || return 1
		last=$now
	done
}
wait_until settled 120
is "$(postfix_queue_count)" 0 "the retry emptied Postfix's queue"
is "$(acopies)" 1 "a@: exactly one copy (the retry did not deliver it again)"
is "$(bcopies)" 1 "b@: exactly one copy (delivered by the retry)"
like "$(tg_log_count "<a@example.com> was delivered on an earlier try of $qid: not again")" '^[1-9]' \
	"the retry found a@'s delivered record in Redis"
