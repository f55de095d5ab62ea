#!/bin/bash
# t_amavisd_milter.sh - AM.PDP end to end with the real bridge: a private
# Postfix (smtpd_milters, no content_filter) -> Debian's amavisd-milter
# (-B: the milter macro {daemon_name} is sent as policy_bank=) ->
# tollgated's ampdp:unix: listener. Clean mail is accepted with
# X-Virus-Scanned inserted by amavisd-milter (insheader) and delivered;
# EICAR is refused at SMTP time with 554 5.7.0 (final_virus_destiny =
# reject), nothing queued; a second smtpd with -o
# milter_macro_daemon_name=SUBMISSION makes amavisd-milter ask for the
# policy bank SUBMISSION, whose x_header_line and final_virus_destiny
# (discard) then apply; after SMTP AUTH (a third smtpd with Cyrus SASL)
# amavisd-milter asks for the bank SMTP_AUTH, whose x_header_line then
# applies; tollgated stopped -> the SMTP client gets a 4xx.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 20
start_sink
start_postfix 1
SOCK=$TG_TMP/ampdp.sock
start_amavisd_milter "$SOCK" -B
start_tollgated "listen = lmtp:127.0.0.1:$TG_LMTP_PORT ampdp:unix:$SOCK
ampdp_tempdir_base = $AMAVIS_BASE
final_virus_destiny = reject
policy_bank_SUBMISSION = { x_header_line = tollgate submission at example.com } { final_virus_destiny = discard }
policy_bank_SMTP_AUTH = { x_header_line = tollgate authenticated at example.com }"
wait_until "[ -S '$SOCK' ]" 20 || bail_out "tollgated did not create $SOCK"
chown nobody:nogroup "$SOCK"    # amavisd-milter runs as the workers' user

MILTER_OPTS=(content_filter= "smtpd_milters=inet:127.0.0.1:$AMILTER_PORT" milter_default_action=tempfail
	milter_protocol=6 milter_content_timeout=120s)
postfix_inject_opts "${MILTER_OPTS[@]}"
SUB_PORT=$(free_port) || bail_out "no free port"
postfix_add_smtpd "$SUB_PORT" "${MILTER_OPTS[@]}" milter_macro_daemon_name=SUBMISSION
sasl_setup alice 'Secret-42'
AUTH_PORT=$(free_port) || bail_out "no free port"
postfix_add_smtpd "$AUTH_PORT" "${MILTER_OPTS[@]}" "${SASL_SMTPD_OPTS[@]}"

for k in clean eicar-b64; do
	for via in mx sub auth; do
		$MKMSG "$k" --out "$TG_TMP/$k-$via.eml" --to rcpt@example.com --subject "amilter $k $via $$" \
			--message-id "$k-$via-$$@example.net"
	done
done
# send PORT FILE RCPT - one SMTP transaction into Postfix; the dialogue
send() { $SMTPCLIENT send 127.0.0.1 "$1" --file "$2" --from sender@example.net --to "$3"; }
# final_reply - the reply to the end of data in a dialogue (stdin)
final_reply() { grep '^S: ' | grep -v '^S: 221 ' | tail -n 1 | sed 's/^S: //'; }
# sink_subject SUBJECT - sink files with that exact Subject
sink_subject() { sink_grep "^Subject: $1\$"; }

# ------------------------------------------------------------ clean
out=$(send "$PF_INJECT_PORT" "$TG_TMP/clean-mx.eml" clean@example.com)
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "clean: Postfix accepted the message after amavisd-milter (${qid:-none})"
wait_until '[ -n "$(sink_subject "amilter clean mx $$")" ]' 30
f=$(sink_subject "amilter clean mx $$" | head -n 1)
check "clean: delivered to the sink" test -n "$f"
is "$(msg_headers "${f:-/dev/null}" | grep -c '^X-Virus-Scanned: tollgate at example\.com$')" 1 \
	"clean: X-Virus-Scanned inserted once (AM.PDP insheader, applied by amavisd-milter)"
like "$(tg_log_count "Passed CLEAN .*<sender@example.net> -> <clean@example.com>.*Queue-ID: $qid")" '^1$' \
	"clean: tollgated logged Passed CLEAN with Postfix's queue id (AM.PDP queue_id)"

# ------------------------------------------------------------ EICAR: 5xx at SMTP time
out=$(send "$PF_INJECT_PORT" "$TG_TMP/eicar-b64-mx.eml" virus@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^554 5\.7\.0 Reject, id=[0-9]+-[0-9]+ - INFECTED: ' \
	"EICAR: the SMTP client gets 554 5.7.0 Reject ... INFECTED after the data"
is "$(postfix_queue_count)" 0 "EICAR: nothing queued"
sleep 1
is "$(sink_subject "amilter eicar-b64 mx $$" | wc -l)" 0 "EICAR: nothing delivered"
like "$(tg_log_count 'Blocked INFECTED .*<sender@example.net> -> <virus@example.com>')" '^1$' "EICAR: tollgated logged Blocked INFECTED"

# ------------------------------------------------------------ policy_bank= from {daemon_name} (-B)
out=$(send "$SUB_PORT" "$TG_TMP/clean-sub.eml" subclean@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "bank SUBMISSION: clean mail accepted"
wait_until '[ -n "$(sink_subject "amilter clean sub $$")" ]' 30
f=$(sink_subject "amilter clean sub $$" | head -n 1)
is "$(msg_headers "${f:-/dev/null}" | grep '^X-Virus-Scanned:')" "X-Virus-Scanned: tollgate submission at example.com" \
	"bank SUBMISSION: its x_header_line is on the delivered copy"
check "bank SUBMISSION: tollgated's log line names the bank" \
	grep -qE 'Passed CLEAN .*SUBMISSION.*<sender@example.net> -> <subclean@example.com>' "$TG_LOG"
out=$(send "$SUB_PORT" "$TG_TMP/eicar-b64-sub.eml" subvirus@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' \
	"bank SUBMISSION: EICAR gets 250 (the bank's final_virus_destiny = discard, not reject)"
wait_until '[ "$(grep -c "milter-discard" "$PF_DIR/maillog")" -ge 1 ]' 10
like "$(grep -c 'milter-discard' "$PF_DIR/maillog")" '^[1-9]' "bank SUBMISSION: Postfix discarded it (milter-discard)"
sleep 1
is "$(sink_subject "amilter eicar-b64 sub $$" | wc -l)" 0 "bank SUBMISSION: the virus was not delivered"

# ------------------------------------------------------------ policy_bank=SMTP_AUTH after SMTP AUTH
out=$({
	echo "<"
	echo "= EHLO client.example.net"
	echo "= AUTH PLAIN $(auth_plain alice 'Secret-42')"
	echo "= MAIL FROM:<sender@example.net>"
	echo "= RCPT TO:<authclean@example.com>"
	echo "= DATA"
	echo "data $TG_TMP/clean-auth.eml"
	echo "<"
	echo "= QUIT"
} | $SMTPCLIENT script 127.0.0.1 "$AUTH_PORT")
like "$(printf '%s\n' "$out" | grep '^S: 235')" '^S: 235 ' "SMTP AUTH: Postfix authenticated alice (private sasldb)"
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "SMTP AUTH: clean mail accepted"
wait_until '[ -n "$(sink_subject "amilter clean auth $$")" ]' 30
f=$(sink_subject "amilter clean auth $$" | head -n 1)
is "$(msg_headers "${f:-/dev/null}" | grep '^X-Virus-Scanned:')" "X-Virus-Scanned: tollgate authenticated at example.com" \
	"SMTP AUTH: amavisd-milter asked for the bank SMTP_AUTH, whose x_header_line is on the copy"
check "SMTP AUTH: tollgated's log line names the SMTP_AUTH bank" \
	grep -qE 'Passed CLEAN .*SMTP_AUTH.*-> <authclean@example.com>' "$TG_LOG"

# ------------------------------------------------------------ tollgated down
stop_tollgated
out=$(send "$PF_INJECT_PORT" "$TG_TMP/clean-mx.eml" down@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^4[0-9][0-9] 4\.[0-9.]+ Content scanner malfunction' \
	"tollgated stopped: the SMTP client gets amavisd-milter's 4xx Content scanner malfunction"
wait_until 'grep -q "could not connect to amavisd socket $SOCK" "$AMILTER_LOG"' 10
check "amavisd-milter logged that it could not reach tollgated's AM.PDP socket" \
	grep -q "could not connect to amavisd socket $SOCK" "$AMILTER_LOG"
