#!/bin/bash
# t_milter.sh - the milter listener behind a real Postfix (smtpd_milters on
# the injection smtpd, no content_filter): a clean message is accepted with
# X-Virus-Scanned inserted and arrives at the sink; EICAR is refused at the
# SMTP level with final_virus_destiny = reject (5xx, nothing queued) and
# discarded by default (250, nothing delivered); a virus lover keeps the
# message with the alert header while the other recipient is removed
# (SMFIR_DELRCPT); recipients needing different headers get a personalised
# copy through forward_method; tollgated down gives the client a 4xx
# (milter_default_action = tempfail).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

start_sink
start_postfix 2
MPORT=$(free_port) || bail_out "no free port"
postfix_inject_opts content_filter= "smtpd_milters=inet:127.0.0.1:$MPORT" milter_default_action=tempfail \
	milter_protocol=6 milter_content_timeout=120s
BASECONF="listen = milter:127.0.0.1:$MPORT"

# restart_tollgated - tollgated with the milter listener and CONF-LINES
restart_tollgated() { stop_tollgated; start_tollgated "$BASECONF${1:+
$1}"; }
# sink_for - dumped messages whose envelope recipient is ADDR
sink_for() { sink_grep "^X-Rcpt-Args: <$1>"; }
# log_now - tollgated log lines matching ERE since its last start
log_now() { awk '/^=== start/ { n = 0 } { l[n++] = $0 } END { for (i = 0; i < n; i++) print l[i] }' "$TG_LOG" | grep -cE -- "$1"; }
# final_reply - the reply to the end of data in a dialogue (stdin)
final_reply() { grep '^S: ' | grep -v '^S: 221 ' | tail -n 1 | sed 's/^S: //'; }

for k in eicar-b64 clean; do
	$MKMSG "$k" --out "$TG_TMP/$k.eml" --to rcpt@example.com --subject "milter $k $$" --message-id "$k-$$@example.net"
done
V=$TG_TMP/eicar-b64.eml C=$TG_TMP/clean.eml
INF='INFECTED: Eicar-Test-Signature\.UNOFFICIAL'

# ------------------------------------------------------------ clean
restart_tollgated "final_virus_destiny = reject"
out=$(postfix_send --file "$C" --from sender-c@example.net --to clean-1@example.com)
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "clean: Postfix accepted the message after the milter (${qid:-none})"
wait_until '[ -n "$(sink_for clean-1@example.com)" ]' 30
cf=$(sink_for clean-1@example.com | head -n 1)
check "clean: the message arrived at the sink" test -n "$cf"
h=$(msg_headers "${cf:-/dev/null}")
is "$(printf '%s\n' "$h" | grep -c '^X-Virus-Scanned: tollgate at example\.com$')" 1 "clean: X-Virus-Scanned inserted once"
is "$(printf '%s\n' "$h" | grep '^Subject:')" "Subject: milter clean $$" "clean: Subject unchanged"
is "$($SMTPCLIENT bodyhash "$C")" "$($SMTPCLIENT bodyhash --sink "${cf:-/dev/null}")" "clean: body unchanged"
is "$(tg_log_count "Passed CLEAN .*Queue-ID: $qid")" 1 "clean: tollgated logged Passed CLEAN with Postfix's queue id (macro i)"
is "$(tg_log_count 'MILTER ACCEPT')" 1 "clean: MILTER ACCEPT logged"

# ------------------------------------------------------------ reject
n0=$(count_sink)
out=$(postfix_send --file "$V" --from sender-r@example.net --to rej-1@example.com --to rej-2@example.com)
like "$(printf '%s\n' "$out" | final_reply)" "^554 5\\.7\\.0 Reject, id=[0-9]+-[0-9]+ - $INF\$" \
	"reject: the SMTP client gets 554 5.7.0 Reject ... INFECTED after the data"
is "$(postfix_queue_count)" 0 "reject: nothing queued"
sleep 1
is "$(count_sink)" "$n0" "reject: nothing delivered"
is "$(tg_log_count 'MILTER REJECT: 554 5\.7\.0 Reject')" 1 "reject: MILTER REJECT logged"

# ------------------------------------------------------------ discard (the default)
restart_tollgated ""
out=$(postfix_send --file "$V" --from sender-d@example.net --to disc-1@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "discard: the SMTP client gets 250"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 10
is "$(postfix_queue_count)" 0 "discard: nothing left in the queue"
sleep 2
is "$(sink_for disc-1@example.com | wc -l)" 0 "discard: nothing delivered"
is "$(tg_log_count '^.*MILTER DISCARD')" 1 "discard: MILTER DISCARD logged"
like "$(grep -c 'milter-discard' "$PF_DIR/maillog")" '^[1-9]' "discard: Postfix logged milter-discard"

# ------------------------------------------------------------ lover + other: DELRCPT
restart_tollgated "virus_lovers_maps = inline:{ lover@example.com=yes }"
out=$(postfix_send --file "$V" --from sender-l@example.net --to lover@example.com --to other@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "lover: the SMTP client gets 250"
wait_until '[ -n "$(sink_for lover@example.com)" ]' 30
lf=$(sink_for lover@example.com | head -n 1)
check "lover: the virus lover's copy arrived" test -n "$lf"
like "$(msg_headers "${lf:-/dev/null}" | grep '^X-Amavis-Alert:')" \
	'^X-Amavis-Alert: INFECTED, message contains virus: Eicar-Test-Signature\.UNOFFICIAL$' \
	"lover: it carries X-Amavis-Alert: INFECTED ..."
sleep 2
is "$(sink_for other@example.com | wc -l)" 0 "lover: the other recipient was removed (no copy)"
is "$(grep -c 'to=<other@example.com>.*status=sent' "$PF_DIR/maillog")" 0 "lover: Postfix never delivered to the other recipient"
is "$(log_now 'MILTER ACCEPT: [0-9]+ header edits, 1 recipients removed')" 1 "lover: MILTER ACCEPT with 1 recipient removed"

# ------------------------------------------------------------ personalised copy
restart_tollgated "bypass_virus_checks_maps = inline:{ bypass@example.com=yes }"
out=$(postfix_send --file "$C" --from sender-p@example.net --to bypass@example.com --to scanned@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "personalised: the SMTP client gets 250"
wait_until '[ -n "$(sink_for bypass@example.com)" ] && [ -n "$(sink_for scanned@example.com)" ]' 30
bf=$(sink_for bypass@example.com) sf=$(sink_for scanned@example.com)
is "$(printf '%s\n' "$bf" | grep -c .)/$(printf '%s\n' "$sf" | grep -c .)" "1/1" "personalised: each recipient got exactly one copy"
is "$(msg_headers "$(printf '%s\n' "$bf" | head -n 1)" | grep -c '^X-Virus-Scanned:')" 0 "personalised: the bypass recipient's copy has no X-Virus-Scanned"
is "$(msg_headers "$(printf '%s\n' "$sf" | head -n 1)" | grep -c '^X-Virus-Scanned:')" 1 "personalised: the scanned recipient's copy has X-Virus-Scanned"
is "$(log_now 'MILTER ACCEPT: [0-9]+ header edits, 1 recipients removed')" 1 "personalised: one recipient removed from the client's copy (delivered here)"

# ------------------------------------------------------------ several messages, one connection
restart_tollgated ""
cat >"$TG_TMP/two.script" <<EOS
<
> EHLO client.example.net
<
> MAIL FROM:<two@example.net>
<
> RCPT TO:<two-1@example.com>
<
> DATA
<
> Subject: first $$
>
> one
> .
<
> RSET
<
> MAIL FROM:<two@example.net>
<
> RCPT TO:<two-2@example.com>
<
> DATA
<
> Subject: second $$
>
> two
> .
<
> QUIT
<
EOS
out=$($SMTPCLIENT script 127.0.0.1 "$PF_INJECT_PORT" "$TG_TMP/two.script" 2>&1)
is "$(printf '%s\n' "$out" | grep -c '^S: 250 .*queued as')" 2 "two messages and an RSET over one SMTP (and milter) connection: both queued"
wait_until '[ -n "$(sink_for two-1@example.com)" ] && [ -n "$(sink_for two-2@example.com)" ]' 30
is "$(sink_for two-1@example.com | xargs -r grep -l '^X-Virus-Scanned:' | wc -l)/$(sink_for two-2@example.com | xargs -r grep -l '^X-Virus-Scanned:' | wc -l)" \
	"1/1" "both arrived scanned"

# ------------------------------------------------------------ tollgated down
stop_tollgated
out=$(postfix_send --file "$C" --from sender-down@example.net --to down@example.com)
st=$?
like "$(printf '%s\n' "$out" | grep '^S: [45]' | head -n 1)" '^S: 4[0-9][0-9] ' "tollgated down: the SMTP client gets a 4xx (milter_default_action = tempfail)"
is "$st" 1 "tollgated down: the message was not accepted"
is "$(postfix_queue_count)" 0 "tollgated down: nothing queued"

done_testing
