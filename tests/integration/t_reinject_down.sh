#!/bin/bash
# t_reinject_down.sh - the re-injection smtpd is gone: tollgated must answer
# Postfix with a 4xx (never 2xx), so the message stays in Postfix's queue;
# once the path is back, a flush delivers it exactly once.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 10
start_sink
start_postfix 2
start_tollgated

if stop_reinjection; then ok "re-injection smtpd removed (master.cf + reload)"; else not_ok "re-injection smtpd removed (master.cf + reload)"; fi

out=$(postfix_send --to user1@example.com --subject "reinject down $$" --message-id "reinject-down-$$@example.net")
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "Postfix accepted the message (${qid:-none})"

deferred_line() { grep -E "$qid: to=<user1@example.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$TG_LMTP_PORT.*status=deferred" "$PF_DIR/maillog" | head -n 1; }
wait_until '[ -n "$(deferred_line)" ]' 40
like "$(deferred_line)" 'status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 4[0-9][0-9] 4\.[0-9]+\.[0-9]+ ' \
	"tollgated answered the amavisfeed delivery with a 4xx"
like "$(deferred_line)" 'said: 451 4\.5\.0 ' "the 4xx is 451 4.5.0"
wait_until '[ "$(postfix_queue_count_in deferred)" -eq 1 ]' 10
is "$(postfix_queue_count_in deferred)" 1 "the message waits in Postfix's deferred queue"
is "$(count_sink)" 0 "nothing reached the sink"
is "$(grep -c "status=sent" "$PF_DIR/maillog")" 0 "Postfix logged no delivery"

if start_reinjection; then ok "re-injection smtpd back"; else not_ok "re-injection smtpd back"; fi
postfix_flush
wait_until '[ "$(count_sink)" -ge 1 ] && [ "$(postfix_queue_count)" -eq 0 ]' 60
settle 3 60    # queue idle and the sink count stable: a duplicate would be there
is "$(count_sink)" 1 "after the flush it arrived exactly once"
is "$(postfix_queue_count)" 0 "Postfix queue is empty"
