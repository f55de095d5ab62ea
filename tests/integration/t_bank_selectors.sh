#!/bin/bash
# t_bank_selectors.sh - the policy-bank selectors that need a real
# Postfix in front (README "Policy banks"; docs/milter.md "Policy banks
# from milter macros"), each asserted by its bank's effect:
#   - SASL login: a private smtpd with Cyrus SASL (sasldb) and tollgated's
#     milter listener in smtpd_milters; after AUTH, Postfix sends
#     {auth_authen} and sasl_policy_bank (AUTHUSERS: banned checks
#     bypassed) applies; the same smtpd without AUTH gets the default
#   - {daemon_name}: an smtpd with -o milter_macro_daemon_name=INTERNAL
#     (the amavis-users 2015 thread); interface_policy maps
#     milter:INTERNAL to the bank INTERNALIF (banned content rejected at
#     SMTP time instead of discarded)
#   - MYNETS / ORIGINATING through Postfix's XFORWARD (amavisfeed with
#     lmtp_send_xforward_command=yes): a client on 127.0.0.1 is in
#     mynetworks (MYNETS sets originating, the ORIGINATING bank sets its
#     own X-Virus-Scanned text); a client Postfix sees as 192.0.2.1 (a
#     second smtpd that trusts our XFORWARD) gets neither
# AM.PDP's policy_bank= is t_amavisd_milter.sh's (amavisd-milter -B).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 15
start_sink
start_postfix 1
MPORT=$(free_port) || bail_out "no free port"
start_tollgated "listen = lmtp:127.0.0.1:$TG_LMTP_PORT milter:127.0.0.1:$MPORT
max_servers = 4
policy_bank_MYNETS = { originating = yes }
policy_bank_ORIGINATING = { x_header_line = tollgate outbound at example.com }
sasl_policy_bank = AUTHUSERS
policy_bank_AUTHUSERS = { bypass_banned_checks_maps = inline:{ .=yes } }
interface_policy = inline:{ milter:INTERNAL=INTERNALIF }
policy_bank_INTERNALIF = { final_banned_destiny = reject }"

sasl_setup alice 'Secret-42'
MILTER_OPTS=(content_filter= "smtpd_milters=inet:127.0.0.1:$MPORT" milter_default_action=tempfail
	milter_protocol=6 milter_content_timeout=120s)
SASL_PORT=$(free_port) && DN_PORT=$(free_port) && XF_PORT=$(free_port) || bail_out "no free port"
postfix_add_smtpd "$SASL_PORT" "${MILTER_OPTS[@]}" "${SASL_SMTPD_OPTS[@]}"
postfix_add_smtpd "$DN_PORT" "${MILTER_OPTS[@]}" milter_macro_daemon_name=INTERNAL
postfix_add_smtpd "$XF_PORT" "content_filter=amavisfeed:[127.0.0.1]:$TG_LMTP_PORT" smtpd_authorized_xforward_hosts=127.0.0.0/8

for k in banned-zip clean; do
	for n in auth noauth dn; do
		$MKMSG "$k" --out "$TG_TMP/$k-$n.eml" --to rcpt@example.com --subject "sel $k $n $$" --message-id "$k-$n-$$@example.net"
	done
done
# sink_subject SUBJECT - sink files with that exact Subject
sink_subject() { sink_grep "^Subject: $1\$"; }
# smtp_session PORT FILE RCPT [AUTH-PLAIN-ARG] - one SMTP transaction
# (with AUTH PLAIN when given); prints the reply to the end of data
smtp_session() {
	{
		echo "<"
		echo "= EHLO client.example.net"
		[ -n "${4:-}" ] && echo "= AUTH PLAIN $4"
		echo "= MAIL FROM:<sender@example.net>"
		echo "= RCPT TO:<$3>"
		echo "= DATA"
		echo "data $2"
		echo "<"
		echo "= QUIT"
	} | $SMTPCLIENT script 127.0.0.1 "$1" | after_dot | grep -v '^221 ' | tail -n 1
}

# ------------------------------------------------------------ SASL login -> sasl_policy_bank
AUTH=$(auth_plain alice 'Secret-42')
like "$(printf '= EHLO c.example.net\n= AUTH PLAIN %s\n= QUIT\n' "$AUTH" | sed '1i <' |
	$SMTPCLIENT script 127.0.0.1 "$SASL_PORT" | grep '^S: 235')" '^S: 235 2\.7\.0' \
	"SASL: Postfix's smtpd authenticates alice against the private sasldb (235)"
like "$(smtp_session "$SASL_PORT" "$TG_TMP/banned-zip-noauth.eml" noauth@example.com)" '^250 ' \
	"SASL: banned content without AUTH: 250 (discarded by the default final_banned_destiny)"
sleep 1
is "$(sink_subject "sel banned-zip noauth $$" | wc -l)" 0 "SASL: ... and not delivered"
like "$(smtp_session "$SASL_PORT" "$TG_TMP/banned-zip-auth.eml" auth@example.com "$AUTH")" '^250 ' \
	"SASL: the same after AUTH: accepted"
wait_until '[ -n "$(sink_subject "sel banned-zip auth $$")" ]' 30
is "$(sink_subject "sel banned-zip auth $$" | wc -l)" 1 "SASL: delivered: the AUTHUSERS bank bypassed the banned check"
check "SASL: tollgated's log line names the AUTHUSERS bank" \
	grep -qE 'Passed CLEAN .*AUTHUSERS.*<sender@example.net> -> <auth@example.com>' "$TG_LOG"

# ------------------------------------------------------------ {daemon_name} -> interface_policy milter:NAME
like "$(smtp_session "$DN_PORT" "$TG_TMP/banned-zip-dn.eml" dn@example.com)" '^554 5\.7\.0 Reject, id=[0-9-]+ - BANNED' \
	"daemon_name INTERNAL: banned content rejected at SMTP time (bank INTERNALIF: final_banned_destiny = reject)"
check "daemon_name: tollgated's log line names the INTERNALIF bank" \
	grep -qE 'Blocked BANNED .*INTERNALIF.*-> <dn@example.com>' "$TG_LOG"
like "$(smtp_session "$DN_PORT" "$TG_TMP/clean-dn.eml" dnclean@example.com)" '^250 ' "daemon_name INTERNAL: clean mail accepted"

# ------------------------------------------------------------ MYNETS / ORIGINATING through XFORWARD
out=$(postfix_send --from sender@example.net --to local@example.org --subject "sel mynets $$" --message-id "mynets-$$@example.net")
like "$(printf '%s\n' "$out" | queued_as)" '^[0-9A-F]{6,}$' "MYNETS: a client on 127.0.0.1 queued into the amavisfeed smtpd"
wait_until '[ -n "$(sink_subject "sel mynets $$")" ]' 30
f=$(sink_subject "sel mynets $$" | head -n 1)
is "$(msg_headers "${f:-/dev/null}" | grep '^X-Virus-Scanned:')" "X-Virus-Scanned: tollgate outbound at example.com" \
	"MYNETS: the ORIGINATING bank's x_header_line is on the delivered copy"
check "MYNETS: logged as Internal with MYNETS,ORIGINATING for the XFORWARD address 127.0.0.1" \
	grep -qE 'Passed CLEAN \{RelayedInternal\}, MYNETS,ORIGINATING LOCAL \[127\.0\.0\.1\].*-> <local@example.org>' "$TG_LOG"
out=$($SMTPCLIENT send 127.0.0.1 "$XF_PORT" --xforward "ADDR=192.0.2.1 NAME=outside.example.net" \
	--from sender@example.net --to remote@example.com --subject "sel outside $$" --message-id "outside-$$@example.net")
like "$(printf '%s\n' "$out" | queued_as)" '^[0-9A-F]{6,}$' "outside: Postfix took XFORWARD ADDR=192.0.2.1 and queued the mail"
wait_until '[ -n "$(sink_subject "sel outside $$")" ]' 30
f=$(sink_subject "sel outside $$" | head -n 1)
is "$(msg_headers "${f:-/dev/null}" | grep '^X-Virus-Scanned:')" "X-Virus-Scanned: tollgate at example.com" \
	"outside: the default X-Virus-Scanned (no bank)"
check "outside: logged as Inbound for 192.0.2.1 without a bank" \
	grep -qE 'Passed CLEAN \{RelayedInbound\}, \[192\.0\.2\.1\].*-> <remote@example.com>' "$TG_LOG"
