#!/bin/bash
# t_destiny.sh - the final_*_destiny settings and per-recipient policy:
# reject (554 per recipient over LMTP; through Postfix the mail bounces),
# bounce (250 2.5.0 ... DSN was sent, and tollgated's own DSN reaches the
# sender; for EICAR too, which fakes no sender: Debian's amavisd
# viruses_that_fake_sender_maps), tempfail (450), virus_lovers_maps and
# bypass_virus_checks_maps for one of two recipients, and soft_bounce.
# tollgated is restarted with another configuration for each part; Postfix
# and the sink stay.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 34
start_sink
start_postfix 2

# restart_tollgated - stop tollgated and start it with CONF-LINES
restart_tollgated() { stop_tollgated; start_tollgated "$1"; }

# replies - the per-recipient replies of an LMTP dialogue (on stdin)
replies() { after_dot | grep -v '^221 '; }

# sink_for - dumped messages whose envelope recipient is ADDR
sink_for() { sink_grep "^X-Rcpt-Args: <$1>"; }

for k in eicar-b64 banned-zip clean; do
	$MKMSG "$k" --out "$TG_TMP/$k.eml" --to rcpt@example.com --subject "destiny $k $$" --message-id "$k-$$@example.net"
done
V=$TG_TMP/eicar-b64.eml B=$TG_TMP/banned-zip.eml C=$TG_TMP/clean.eml
INF='INFECTED: Eicar-Test-Signature\.UNOFFICIAL'

# ------------------------------------------------------------ reject
start_tollgated "final_virus_destiny = reject"
out=$(lmtp_deliver "$V" sender-rej@example.net rej-1@example.com rej-2@example.com)
r=$(printf '%s\n' "$out" | replies)
is "$(printf '%s\n' "$r" | grep -cE "^554 5\\.7\\.0 Reject, id=[0-9]+-[0-9]+ - $INF\$")" 2 \
	"reject: LMTP gives each recipient 554 5.7.0 Reject, id=... - INFECTED: Eicar-Test-Signature.UNOFFICIAL"
[ "$(printf '%s\n' "$r" | grep -c '^554 ')" = 2 ] || diag "$out"
is "$(tg_log_count "Blocked INFECTED \\(Eicar-Test-Signature\\.UNOFFICIAL\\) \\{RejectedInbound\\}, .*<rej-1@example.com>,<rej-2@example.com>")" 1 \
	"reject: log line Blocked INFECTED (...) {RejectedInbound}"

out=$(postfix_send --file "$V" --from sender-pfrej@example.net --to pfrej-1@example.com --to pfrej-2@example.com)
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "reject via Postfix: the injection smtpd accepted the message (${qid:-none})"
pf_bounced() { grep -cE "$qid: to=<pfrej-[12]@example.com>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$TG_LMTP_PORT,.*status=bounced \\(host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\] said: 554 5\\.7\\.0 Reject, id=[0-9-]+ - $INF" "$PF_DIR/maillog"; }
wait_until '[ "$(pf_bounced)" -ge 2 ]' 30
is "$(pf_bounced)" 2 "reject via Postfix: maillog has status=bounced (... said: 554 5.7.0 Reject ... INFECTED) for both recipients"
pf_bounce_msg() { sink_for sender-pfrej@example.net | xargs -r grep -l "^X-Postfix-Queue-ID: $qid" | head -n 1; }
wait_until '[ -n "$(pf_bounce_msg)" ]' 30
bm=$(pf_bounce_msg)
check "reject via Postfix: Postfix's bounce for $qid reached the sender at the sink" test -n "$bm"
like "$(grep -h '^X-Mail-Args:' "${bm:-/dev/null}") $(msg_headers "${bm:-/dev/null}" | grep -i '^Content-Type:')" \
	'^X-Mail-Args: <>.* Content-Type: multipart/report; report-type=delivery-status' \
	"reject via Postfix: the bounce is from <> and a multipart/report"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 20
is "$(postfix_queue_count)" 0 "reject via Postfix: the queue is empty"

# ------------------------------------------------------------ bounce
restart_tollgated "final_banned_destiny = bounce
final_virus_destiny = bounce"
out=$(lmtp_deliver "$V" sender-vbnc@example.net vbnc-1@example.com)
like "$(printf '%s\n' "$out" | replies)" \
	"^250 2\\.5\\.0 Ok <vbnc-1@example\\.com>, DSN was sent \\(554 5\\.7\\.0 Bounce, id=[0-9]+-[0-9]+ - $INF\\)\$" \
	"virus + bounce: 250 2.5.0 Ok <rcpt>, DSN was sent (554 5.7.0 Bounce, ...) (EICAR fakes no sender)"
out=$(lmtp_deliver "$B" sender-bnc@example.net bnc-1@example.com bnc-2@example.com)
r=$(printf '%s\n' "$out" | replies)
rx='^250 2\.5\.0 Ok <bnc-N@example\.com>, DSN was sent \(554 5\.7\.0 Bounce, id=[0-9]+-[0-9]+ - BANNED: .*readme\.exe\)$'
like "$(printf '%s\n' "$r" | sed -n 1p)" "${rx/N/1}" "banned + bounce: 1st reply 250 2.5.0 Ok <bnc-1@example.com>, DSN was sent (554 5.7.0 Bounce, ... BANNED: ...readme.exe)"
like "$(printf '%s\n' "$r" | sed -n 2p)" "${rx/N/2}" "banned + bounce: 2nd reply 250 2.5.0 Ok <bnc-2@example.com>, DSN was sent (...)"
is "$(tg_log_count 'Blocked BANNED \(.*readme\.exe\) \{BouncedInbound\}')" 1 "banned + bounce: log line Blocked BANNED (...) {BouncedInbound}"
wait_until '[ -n "$(sink_for sender-bnc@example.net)" ]' 30
dsn=$(sink_for sender-bnc@example.net | head -n 1)
check "banned + bounce: a DSN reached the sender at the sink" test -n "$dsn"
like "$(grep -h '^X-Mail-Args:' "${dsn:-/dev/null}")" '^X-Mail-Args: <>' "the DSN's envelope sender is <>"
h=$(msg_headers "${dsn:-/dev/null}")
like "$(printf '%s\n' "$h" | grep -i '^Content-Type:')" '^Content-Type: multipart/report;.*report-type=delivery-status' \
	"the DSN is Content-Type: multipart/report; report-type=delivery-status"
like "$(grep -c '^Content-Type: message/delivery-status' "${dsn:-/dev/null}") $(grep -cE '^Final-Recipient: rfc822; ?bnc-[12]@example\.com' "${dsn:-/dev/null}") $(grep -c '^Action: failed' "${dsn:-/dev/null}")" \
	'^1 2 2$' "the DSN has a message/delivery-status part with Final-Recipient and Action: failed for both recipients"
wait_until '[ -n "$(sink_for sender-vbnc@example.net)" ]' 30
is "$(sink_count_grep '^X-Rcpt-Args: <sender-vbnc@example\.net>')" 1 "one DSN to the sender of the EICAR message"
is "$(sink_count_grep '^X-Rcpt-Args: <v?bnc-[12]@example\.com>')" 0 "no copy at the sink for the bounced recipients"

# ------------------------------------------------------------ tempfail
restart_tollgated "final_virus_destiny = tempfail"
out=$(lmtp_deliver "$V" sender-tf@example.net tf-1@example.com tf-2@example.com)
r=$(printf '%s\n' "$out" | replies)
is "$(printf '%s\n' "$r" | grep -cE "^450 4\\.7\\.0 [^,]*, id=[0-9]+-[0-9]+ - $INF\$")" 2 \
	"tempfail: each recipient gets 450 4.7.0 ..., id=... - INFECTED: Eicar-Test-Signature.UNOFFICIAL"
[ "$(printf '%s\n' "$r" | grep -c '^450 ')" = 2 ] || diag "$out"
is "$(tg_log_count 'Blocked INFECTED \(Eicar-Test-Signature\.UNOFFICIAL\) \{TempFailedInbound\}')" 1 "tempfail: log line {TempFailedInbound}"

# ------------------------------------------------------------ lovers and bypass
restart_tollgated "virus_lovers_maps = inline:{ lover@example.com=yes }
bypass_virus_checks_maps = inline:{ bypass@example.com=yes }"
out=$(lmtp_deliver "$V" sender-lov@example.net lover@example.com nolover@example.com)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | sed -n 1p)" "^250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:$PF_REINJECT_PORT\\): 250 2\\.0\\.0 Ok: queued as [0-9A-F]+\$" \
	"virus lover: 250 2.0.0 from MTA(...): ... queued as ..."
like "$(printf '%s\n' "$r" | sed -n 2p)" "^250 2\\.7\\.0 Ok, discarded, id=[0-9]+-[0-9]+ - $INF\$" \
	"the other recipient of the same message: 250 2.7.0 Ok, discarded, ... INFECTED"
wait_until '[ -n "$(sink_for lover@example.com)" ]' 30
lf=$(sink_for lover@example.com | head -n 1)
check "the virus lover's copy arrived at the sink" test -n "$lf"
like "$(msg_headers "${lf:-/dev/null}" | grep '^X-Amavis-Alert:')" \
	'^X-Amavis-Alert: INFECTED, message contains virus: Eicar-Test-Signature\.UNOFFICIAL$' \
	"it carries X-Amavis-Alert: INFECTED, message contains virus: Eicar-Test-Signature.UNOFFICIAL"
like "$(msg_headers "${lf:-/dev/null}" | grep -c '^X-Virus-Scanned: tollgate at example\.com$')" '^1$' "and X-Virus-Scanned (it was scanned)"

out=$(lmtp_deliver "$V" sender-byp@example.net bypass@example.com nobypass@example.com)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | sed -n 1p)/$(printf '%s\n' "$r" | sed -n 2p)" \
	"^250 2\\.0\\.0 from MTA\\(smtp:[^/]*queued as [0-9A-F]+/250 2\\.7\\.0 Ok, discarded, id=[0-9]+-[0-9]+ - $INF\$" \
	"bypass_virus_checks_maps: the bypass recipient is relayed, the other discarded"
wait_until '[ -n "$(sink_for bypass@example.com)" ]' 30
bf=$(sink_for bypass@example.com | head -n 1)
like "$(test -n "$bf" && msg_headers "$bf" | grep -c -E '^(X-Virus-Scanned|X-Amavis-Alert):')" '^0$' \
	"the bypass recipient got the message without X-Virus-Scanned (and without an alert)"
# a clean message to the bypass recipient and a scanned one
out=$(lmtp_deliver "$C" sender-byp3@example.net bypass@example.com scanned3@example.com)
is "$(printf '%s\n' "$out" | replies | grep -c '^250 2\.0\.0 from MTA')" 2 "clean message to bypass + scanned recipient: both relayed"
wait_until '[ -n "$(sink_for scanned3@example.com)" ] && [ "$(sink_grep "^X-Mail-Args: <sender-byp3@" | wc -l)" -ge 2 ]' 30
byp3=$(sink_grep '^X-Mail-Args: <sender-byp3@' | xargs -r grep -l '^X-Rcpt-Args: <bypass@example.com>' | head -n 1)
sc3=$(sink_for scanned3@example.com | head -n 1)
is "$(grep -c '^X-Virus-Scanned:' "${byp3:-/dev/null}")/$(grep -c '^X-Virus-Scanned: tollgate at example\.com' "${sc3:-/dev/null}")" "0/1" \
	"same clean message: no X-Virus-Scanned for the bypass recipient, X-Virus-Scanned for the other"
is "$(sink_count_grep '^X-Rcpt-Args: <no(lover|bypass)@example\.com>')" 0 "no copy at the sink for the discarded recipients"

# ------------------------------------------------------------ soft_bounce
restart_tollgated "final_virus_destiny = reject
soft_bounce = yes"
out=$(lmtp_deliver "$V" sender-sb@example.net sb-1@example.com sb-2@example.com)
r=$(printf '%s\n' "$out" | replies)
is "$(printf '%s\n' "$r" | grep -cE "^450 4\\.7\\.0 .*soft_bounce.*id=[0-9]+-[0-9]+ - $INF\$")" 2 \
	"soft_bounce: reject becomes 450 4.7.0 ... (soft_bounce) ... INFECTED for each recipient"
[ "$(printf '%s\n' "$r" | grep -c '^450 ')" = 2 ] || diag "$out"
out=$(postfix_send --file "$V" --from sender-pfsb@example.net --to pfsb-1@example.com)
sqid=$(printf '%s\n' "$out" | queued_as)
like "$sqid" '^[0-9A-F]{6,}$' "soft_bounce via Postfix: accepted (${sqid:-none})"
pf_deferred() { grep -cE "$sqid: to=<pfsb-1@example.com>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$TG_LMTP_PORT,.*status=deferred \\(host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\] said: 450 4\\.7\\.0 " "$PF_DIR/maillog"; }
wait_until '[ "$(pf_deferred)" -ge 1 ]' 30
like "$(pf_deferred)" '^[1-9]' "soft_bounce via Postfix: maillog has status=deferred (... said: 450 4.7.0 ...), not bounced"
wait_until '[ "$(postfix_queue_count_in deferred)" -ge 1 ]' 15
is "$(postfix_queue_count_in deferred)/$(grep -c "$sqid: .*status=bounced" "$PF_DIR/maillog")" "1/0" \
	"soft_bounce via Postfix: the message waits in the deferred queue, no bounce"
is "$(sink_count_grep '^X-Rcpt-Args: <(sb-[12]|pfsb-1|sender-pfsb)@example\.(com|net)>')" 0 "soft_bounce: nothing delivered and no bounce at the sink"
