#!/bin/bash
# t_ratelimit_q.sh - a rate limit with the action "quarantine" where
# there is no quarantine (state_redis_server set, quarantine_dir empty):
# "quarantined" is the promise of a copy, so a message over the limit
# must never get a 2xx when nothing was written.
#
#   - the config check (tollgated -t) warns about the combination
#   - through a real Postfix: the 1st message from q@ (1/1h) is delivered;
#     the 2nd gets 451 4.7.1 (no "250 2.7.0 ... quarantined") and stays
#     in Postfix's queue; nothing of it reaches the sink
#   - directly over LMTP: the 3rd is answered 451 4.7.1, never 2xx
#   - with quarantine_dir set, the same limit still quarantines (250 2.7.0)
#     and the file is there: the fix does not take the feature away
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd redis-server redis-server

plan 10
start_redis
start_sink
start_postfix 2

RL="state_redis_server = 127.0.0.1:$REDIS_PORT
state_key_prefix = tgq$$:
rate_limit_maps = inline:{ { sender:q@example.net = 1/1h quarantine } }"
start_tollgated "$RL"

# --- config check
printf '%s\n' "clamav_database =" "$RL" >"$TG_TMP/check.conf"
out=$("$TOLLGATED" -c "$TG_TMP/check.conf" -t 2>&1)
like "$out" 'rate_limit_maps has the action quarantine but quarantine_dir is empty' \
	"tollgated -t warns: action quarantine without quarantine_dir"

# --- through Postfix
q1=$(postfix_send --from q@example.net --to user@example.com --message-id "rlq-1-$$@example.net" | queued_as)
wait_until '[ "$(count_sink_msgid "rlq-1-$$@example.net")" -ge 1 ]' 30
is "$(count_sink_msgid "rlq-1-$$@example.net")" 1 "1st message from q@ (within 1/1h) delivered (${q1:-no queue id})"

q2=$(postfix_send --from q@example.net --to user@example.com --message-id "rlq-2-$$@example.net" | queued_as)
like "$q2" '^[0-9A-F]{6,}$' "Postfix accepted the 2nd message (${q2:-none})"
line() { grep -E "$q2: to=<user@example.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$TG_LMTP_PORT.*status=" "$PF_DIR/maillog" | head -n 1; }
wait_until '[ -n "$(line)" ]' 40
like "$(line)" 'status=deferred \(host [^ ]* said: 451 4\.7\.1 .*rate limit 1/1h quarantine.*no quarantine to hold it' \
	"2nd: 451 4.7.1 (over the limit, no quarantine to hold it)"
unlike_2xx() { ! grep -E "$q2: .*status=sent" "$PF_DIR/maillog" | grep -q .; }
check "2nd: Postfix did not log it as sent (no 2xx from tollgated)" unlike_2xx
wait_until '[ "$(postfix_queue_count_in deferred)" -eq 1 ]' 10
is "$(postfix_queue_count_in deferred)" 1 "2nd: it waits in Postfix's deferred queue"
is "$(count_sink_msgid "rlq-2-$$@example.net")" 0 "2nd: nothing of it reached the sink"

# --- directly over LMTP
r=$($SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --from q@example.net --to user@example.com \
	--message-id "rlq-3-$$@example.net" 2>&1 | after_dot | grep -v '^221 ')
like "$r" '^451 4\.7\.1 ' "3rd over LMTP: 451 4.7.1 ($(printf '%s' "$r" | cut -c1-90))"

# --- with a quarantine the action still works
stop_tollgated
mkdir -p "$TG_TMP/quarantine"
chmod 1777 "$TG_TMP/quarantine"
start_tollgated "$RL
quarantine_dir = $TG_TMP/quarantine"
r=$($SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --from q@example.net --to user@example.com \
	--message-id "rlq-4-$$@example.net" 2>&1 | after_dot | grep -v '^221 ')
like "$r" '^250 2\.7\.0 .*quarantined' "with quarantine_dir: 250 2.7.0 ... quarantined"
is "$(dir_count_grep "$TG_TMP/quarantine" "^Message-ID: <rlq-4-$$@example.net>")" 1 \
	"with quarantine_dir: the quarantined copy is there"
