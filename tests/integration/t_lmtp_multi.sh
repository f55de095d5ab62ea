#!/bin/bash
# t_lmtp_multi.sh - LMTP with three recipients: one reply per recipient after
# the final dot (RFC 2033), each given only after the downstream answered,
# and every recipient delivered; then the same through Postfix's amavisfeed.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 10
start_sink
start_postfix 2
start_tollgated

# --- a direct LMTP session with tollgated
printf 'From: <sender@example.net>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nTo: <user1@example.com>\nSubject: lmtp multi %s\nMessage-ID: <lmtp-direct-%s@example.net>\n\nthree recipients\n' $$ $$ >"$TG_TMP/direct.eml"
out=$($SMTPCLIENT script 127.0.0.1 "$TG_LMTP_PORT" <<EOS
<
= LHLO client.example.net
= MAIL FROM:<sender@example.net>
= RCPT TO:<user1@example.com>
= RCPT TO:<user2@example.com>
= RCPT TO:<user3@example.com>
= DATA
data $TG_TMP/direct.eml
<3
= QUIT
EOS
)
after=$(printf '%s\n' "$out" | sed -n '/^C: \.$/,/^C: QUIT$/p' | grep '^S: ')
is "$(printf '%s\n' "$after" | grep -c '^S: ')" 3 "exactly 3 replies after the final dot"
rx="^S: 250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:$PF_REINJECT_PORT\\): 250 2\\.0\\.0 Ok: queued as [0-9A-F]+$"
is "$(printf '%s\n' "$after" | grep -cE "$rx")" 3 "each is 250 2.0.0 from MTA(smtp:[127.0.0.1]:$PF_REINJECT_PORT): 250 2.0.0 Ok: queued as ..."
[ "$(printf '%s\n' "$after" | grep -cE "$rx")" = 3 ] || diag "$out"
like "$(printf '%s\n' "$out" | tail -n 1)" '^S: 221 ' "QUIT after the replies gets 221"

direct_rcpts() { sink_grep "lmtp-direct-$$@" | xargs -r grep -h '^X-Rcpt-Args:' | sed 's/^X-Rcpt-Args: \(<[^>]*>\).*/\1/' | sort | tr '\n' ' '; }
wait_until '[ "$(direct_rcpts)" = "<user1@example.com> <user2@example.com> <user3@example.com> " ]' 30
is "$(direct_rcpts)" "<user1@example.com> <user2@example.com> <user3@example.com> " "all 3 recipients arrived at the sink, once each"
is "$(sink_grep "lmtp-direct-$$@" | xargs -r grep -l '^X-Virus-Scanned: tollgate at example.com' | wc -l)" \
	"$(sink_count_grep "lmtp-direct-$$@")" "every copy carries X-Virus-Scanned"

# --- the same through Postfix: injection smtpd -> amavisfeed (LMTP) -> tollgated
out=$(postfix_send --to user4@example.com --to user5@example.com --to user6@example.com \
	--subject "lmtp multi via postfix $$" --message-id "lmtp-pf-$$@example.net")
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "Postfix accepted the 3-recipient message (${qid:-none})"
pf_rcpts() { sink_grep "lmtp-pf-$$@" | xargs -r grep -h '^X-Rcpt-Args:' | sed 's/^X-Rcpt-Args: \(<[^>]*>\).*/\1/' | sort | tr '\n' ' '; }
wait_until '[ "$(pf_rcpts)" = "<user4@example.com> <user5@example.com> <user6@example.com> " ]' 40
is "$(pf_rcpts)" "<user4@example.com> <user5@example.com> <user6@example.com> " "via Postfix: all 3 recipients arrived, once each"
wait_until '[ "$(grep -c "$qid: to=<user[456]@example.com>, relay=127.0.0.1\[127.0.0.1\]:$TG_LMTP_PORT.*status=sent (250 2.0.0 from MTA" "$PF_DIR/maillog")" -ge 3 ]' 10
is "$(grep -c "$qid: to=<user[456]@example.com>, relay=127.0.0.1\[127.0.0.1\]:$TG_LMTP_PORT.*status=sent (250 2.0.0 from MTA" "$PF_DIR/maillog")" 3 \
	"Postfix logged 3 per-recipient 'sent' replies from tollgated"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 20
is "$(postfix_queue_count)" 0 "Postfix queue is empty"
is "$(tg_log_count 'Passed CLEAN')" 2 "tollgated logged 2 Passed CLEAN lines (one per message)"
