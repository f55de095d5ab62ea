#!/bin/bash
# t_worker_kill.sh - a worker SIGKILLed in the middle of a message loses
# nothing: Postfix keeps the message and delivers it later, and the master
# starts a replacement worker.
#
# tollgated forwards to a deliberately slow downstream (start_slowsink) so
# the kill lands at a known point:
#   A. downstream has not accepted yet (its 354 is held back): the message
#      must arrive exactly once after Postfix retries.
#   B. downstream has accepted (saved) but holds back its 250, so tollgated
#      has not answered Postfix: Postfix retries and the message arrives
#      twice.  That is the documented at-least-once window (like amavisd-new);
#      we assert "not lost" and only report the duplicate.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 14
start_sink
start_slowsink 6
start_postfix 2
start_tollgated "forward_method = smtp:[127.0.0.1]:$SLOW_PORT
max_servers = 2
child_timeout = 60s"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10
is "$(tollgated_worker_count)" 2 "master runs max_servers = 2 workers"

# kill_busy_worker - SIGKILL the worker that is busy; report which one
kill_busy_worker() {
	local w
	wait_until 'w=$(tollgated_busy_worker)' 10 || { diag "no busy worker: $(for p in $(tollgated_workers); do echo "$p $(proc_title "$p")"; done)"; return 1; }
	KILLED=$w
	KILLED_TITLE=$(proc_title "$w")
	tg_expect_worker_death "$w"       # not a crash (lib.sh's crash point)
	kill -KILL "$w"
}

replaced() { local ws; ws=$(tollgated_workers); [ "$(echo "$ws" | grep -c .)" -eq 2 ] && ! echo "$ws" | grep -qx "$KILLED"; }

# --- A: killed while forwarding, before the downstream accepted
out=$(postfix_send --from slow-data@example.net --to user1@example.com --message-id "kill-a-$$@example.net" --subject "kill A")
qid_a=$(printf '%s\n' "$out" | queued_as)
like "$qid_a" '^[0-9A-F]{6,}$' "A: Postfix accepted the message (${qid_a:-none})"
wait_until 'grep -q "^data .*<slow-data@" "$SLOW_EVENTS"' 30
if kill_busy_worker; then ok "A: SIGKILLed busy worker $KILLED"; else not_ok "A: SIGKILLed a busy worker"; fi
# (the downstream holds back its 354: the worker is forwarding, nothing else)
like "${KILLED_TITLE:-}" '^tollgated: worker forwarding( |$)' "A: its title showed its state (${KILLED_TITLE:-none})"
if wait_until replaced 15; then ok "A: the master started a replacement (2 workers again)"; else not_ok "A: the master started a replacement"; diag "workers: $(tollgated_workers | tr '\n' ' ')"; fi
wait_until '[ -n "$(grep "$qid_a: to=<user1@example.com>.*status=deferred" "$PF_DIR/maillog")" ]' 20
like "$(grep "$qid_a: to=<user1@example.com>" "$PF_DIR/maillog" | head -n 1)" 'status=deferred' "A: Postfix deferred the message (kept it)"
postfix_flush
wait_until '[ "$(slow_count_grep "kill-a-$$@")" -ge 1 ]' 60
settle 3 60 'slow_count_grep "kill-a-$$@"'     # a late duplicate must count
n_a=$(slow_count_grep "kill-a-$$@")
if [ "$n_a" -ge 1 ]; then ok "A: the message arrived later (not lost)"; else not_ok "A: the message arrived later (not lost)"; fi
is "$n_a" 1 "A: killed before the downstream accepted: exactly one copy"

# --- B: killed after the downstream accepted, before tollgated answered Postfix
out=$(postfix_send --from slow-dot@example.net --to user2@example.com --message-id "kill-b-$$@example.net" --subject "kill B")
qid_b=$(printf '%s\n' "$out" | queued_as)
like "$qid_b" '^[0-9A-F]{6,}$' "B: Postfix accepted the message (${qid_b:-none})"
wait_until 'grep -q "^saved .*<slow-dot@" "$SLOW_EVENTS"' 30
if kill_busy_worker; then ok "B: SIGKILLed busy worker $KILLED ($KILLED_TITLE)"; else not_ok "B: SIGKILLed a busy worker"; fi
if wait_until replaced 15; then ok "B: the master started a replacement"; else not_ok "B: the master started a replacement"; fi
wait_until '[ -n "$(grep "$qid_b: to=<user2@example.com>.*status=deferred" "$PF_DIR/maillog")" ]' 20
postfix_flush
# the retry is slow too (6 s before the 250)
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 60
settle 3 30 'slow_count_grep "kill-b-$$@"'
n_b=$(slow_count_grep "kill-b-$$@")
if [ "$n_b" -ge 1 ]; then ok "B: the message is not lost ($n_b copies)"; else not_ok "B: the message is not lost"; fi
[ "$n_b" -gt 1 ] && diag "B: $n_b copies: a kill after the downstream accepted but before tollgate answered Postfix duplicates the message (at-least-once, as amavisd-new)"

# --- afterwards, normal mail still flows and nothing is stuck
for i in 1 2 3; do postfix_send --to "user$i@example.com" --message-id "kill-after-$i-$$@example.net" >/dev/null; done
wait_until '[ "$(slow_count_grep "kill-after-[123]-$$@")" -ge 3 ]' 40
is "$(slow_count_grep "kill-after-[123]-$$@")" 3 "3 more messages delivered after the kills"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 20
is "$(postfix_queue_count)" 0 "Postfix queue is empty"
