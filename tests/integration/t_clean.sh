#!/bin/bash
# t_clean.sh - one clean message through the whole amavisfeed chain:
# injection smtpd -> amavisfeed lmtp -> tollgated -> re-injection smtpd ->
# smtp-sink.  Checks the headers tollgate adds, that the body is untouched,
# that XFORWARD reached the re-injection smtpd, and tollgate's log line.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 13
start_sink
start_postfix 2
start_tollgated

msgid="t-clean-$$@example.net"
out=$(postfix_send --helo client.example.net --to user1@example.com --subject "t_clean $$" --message-id "$msgid")
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "Postfix accepted the message (queue id ${qid:-none})"
[ -n "$qid" ] || diag "$out"

if wait_until '[ "$(count_sink)" -ge 1 ]' 40; then ok "the message arrived at smtp-sink"; else not_ok "the message arrived at smtp-sink"; fi
settle 3 30    # queue idle, sink count stable: a late second copy would count
is "$(count_sink)" 1 "exactly one copy at the sink"
f=$(sink_files | head -n 1)
hdrs=$( [ -n "$f" ] && msg_headers "$f")
like "$hdrs" '^X-Virus-Scanned: tollgate at example\.com$' "X-Virus-Scanned: tollgate at example.com"
is "$(printf '%s\n' "$hdrs" | grep -c '^X-Virus-Scanned:')" 1 "exactly one X-Virus-Scanned header"
like "$hdrs" '^Received: .*tollgate' "a Received header from tollgate"

# order, top down: sink, re-injection smtpd, tollgate (X-Virus-Scanned +
# Received), injection smtpd (id $qid), then the original header
line_of() { printf '%s\n' "$hdrs" | grep -nE -- "$1" | head -n 1 | cut -d: -f1; }
xvs=$(line_of '^X-Virus-Scanned:'); tgr=$(line_of '^Received: .*tollgate')
inj=$(line_of "^Received: .* with E?SMTP id $qid"); from=$(line_of '^From:')
if [ -n "$xvs" ] && [ -n "$tgr" ] && [ -n "$inj" ] && [ -n "$from" ] &&
   [ "$xvs" -lt "$inj" ] && [ "$tgr" -lt "$inj" ] && [ "$inj" -lt "$from" ]; then
	ok "tollgate's headers are prepended above Postfix's first Received"
else
	not_ok "tollgate's headers are prepended above Postfix's first Received"
	diag "X-Virus-Scanned at $xvs, tollgate Received at $tgr, injection Received at $inj, From at $from" "$hdrs"
fi

# the re-injection smtpd got the original queue id through XFORWARD IDENT
# (Postfix logs it; its Received header names the real client, tollgated)
reinj_qid=$(printf '%s\n' "$hdrs" | sed -n 's/^Received: .*(Postfix) with E\{0,1\}SMTP id \([0-9A-F]*\).*/\1/p' | head -n 1)
like "$(grep -E "${reinj_qid:-NONE}: client=" "$PF_DIR/maillog")" "client=localhost\\[127\\.0\\.0\\.1\\], orig_queue_id=$qid, orig_client=localhost\\[127\\.0\\.0\\.1\\]" \
	"XFORWARD: the re-injection smtpd logged orig_queue_id=$qid"

# body byte for byte (dot-stuffed line included)
printf 'From: x\n\nHello,\nthis is a clean test message.\n.leading dot line\nBye.\n' >"$TG_TMP/body.ref"
is "$($SMTPCLIENT bodyhash --sink "$f" 2>/dev/null)" "$($SMTPCLIENT bodyhash "$TG_TMP/body.ref")" "body arrived unchanged"

wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 20
is "$(postfix_queue_count)" 0 "Postfix queue is empty"

# Postfix logged the filter's per-recipient reply to the amavisfeed delivery
pfline=$(grep -E "$qid: to=<user1@example.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$TG_LMTP_PORT" "$PF_DIR/maillog" | tail -n 1)
like "$pfline" "status=sent \\(250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:$PF_REINJECT_PORT\\): 250 2\\.0\\.0 Ok: queued as ${reinj_qid:-NONE}\\)" \
	"amavisfeed delivery sent with tollgate's 'from MTA(...)' reply"

# tollgate's one line per message
wait_until 'grep -q "Passed CLEAN" "$TG_LOG"' 5
tgline=$(grep 'Passed CLEAN' "$TG_LOG" | tail -n 1)
like "$tgline" "Passed CLEAN \\{RelayedInbound\\},( [A-Z][A-Za-z0-9_,]*)?( LOCAL)? \\[127\\.0\\.0\\.1\\]:[0-9]+ .*<sender@example\\.net> -> <user1@example\\.com>.*Queue-ID: $qid" \
	"tollgated logged Passed CLEAN with Queue-ID: $qid"
like "$tgline" "queued_as: ${reinj_qid:-NONE}, [0-9]+ ms" "the log line names the re-injection queue id and the time"
