#!/bin/bash
# t_banks.sh - policy banks, the amavis-users 2015 scenarios:
#   - interface policy: a second listener whose bank rejects viruses
#     where the default discards them
#   - client-IP policy: mail from a trusted network (XFORWARD ADDR)
#     bypasses the banned-files check but NEVER the virus check
#   - MYNETS (client in mynetworks) with originating = yes: logged as
#     Internal, and the ORIGINATING bank applies on top
#   - a table naming the bank is read from the file at start-up; a bank
#     with a bad setting is a start-up error (tollgated -t exits 1)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 14
start_sink
STRICT_PORT=$(free_port)
cat >"$TG_TMP/clients.cidr" <<CIDR
# the trusted relay of the 2015 thread
192.0.2.0/24 TRUSTED
CIDR
start_tollgated "forward_method = smtp:[127.0.0.1]:$SINK_PORT
listen = lmtp:127.0.0.1:$(free_port) lmtp:127.0.0.1:$STRICT_PORT
interface_policy = inline:{ $STRICT_PORT=STRICT }
client_ipaddr_policy = cidr:$TG_TMP/clients.cidr
mynetworks = 198.51.100.0/24
policy_bank_STRICT = { final_virus_destiny = reject }
policy_bank_TRUSTED = { bypass_banned_checks_maps = inline:{ .=yes } }
    { bypass_spam_checks_maps = inline:{ .=yes } }
policy_bank_MYNETS = { originating = yes }
policy_bank_ORIGINATING = { x_header_line = tollgate outbound at example.com }"
DEFAULT_PORT=$(sed -n 's/^listen = lmtp:127.0.0.1:\([0-9]*\) .*/\1/p' "$TG_CONF" | tail -n 1)

# send FILE PORT XFORWARD-ADDR RCPT - one LMTP transaction, replies after the dot
send() {
	{
		echo "<"
		echo "= LHLO client.example.net"
		[ -n "$3" ] && echo "= XFORWARD ADDR=$3 NAME=relay.example.net HELO=relay.example.net"
		echo "= MAIL FROM:<sender@example.net>"
		echo "= RCPT TO:<$4>"
		echo "= DATA"
		echo "data $1"
		echo "<"
		echo "= QUIT"
	} | $SMTPCLIENT script 127.0.0.1 "$2" | after_dot | grep -v '^221 '
}

$MKMSG eicar-b64 --out "$TG_TMP/eicar.eml" --to a@example.com --message-id "eicar-$$@example.net"
$MKMSG banned-zip --out "$TG_TMP/banned.eml" --to a@example.com --message-id "banned-$$@example.net"
$MKMSG clean --out "$TG_TMP/clean.eml" --to a@example.com --message-id "clean-$$@example.net"

# --- interface policy
like "$(send "$TG_TMP/eicar.eml" "$DEFAULT_PORT" "" default@example.com)" '^250 2\.7\.0 Ok, discarded, .*INFECTED' \
	"default listener: a virus is discarded (250 2.7.0)"
like "$(send "$TG_TMP/eicar.eml" "$STRICT_PORT" "" strict@example.com)" '^554 5\.7\.0 Reject, .*INFECTED' \
	"listener with interface_policy bank STRICT: a virus is rejected (554 5.7.0)"
check "the log names the STRICT bank" grep -qE 'Blocked INFECTED .*\{Rejected[A-Za-z]*\}, STRICT' "$TG_LOG"

# --- client-IP policy: trusted relay bypasses banned checks, never virus checks
like "$(send "$TG_TMP/banned.eml" "$DEFAULT_PORT" 203.0.113.9 other@example.com)" '^250 2\.7\.0 Ok, discarded, .*BANNED' \
	"banned content from an ordinary client is discarded"
like "$(send "$TG_TMP/banned.eml" "$DEFAULT_PORT" 192.0.2.7 trusted@example.com)" '^250 2\.0\.0 from MTA' \
	"the same from the trusted network (client_ipaddr_policy -> TRUSTED) is delivered"
wait_until '[ "$(sink_count_grep "banned-$$@")" -ge 1 ]' 10
is "$(sink_grep "banned-$$@" | xargs -r grep -l '^X-Rcpt-Args: <trusted@example.com>' | wc -l)" 1 \
	"only the trusted copy reached the sink"
like "$(send "$TG_TMP/eicar.eml" "$DEFAULT_PORT" 192.0.2.7 trusted@example.com)" '^250 2\.7\.0 Ok, discarded, .*INFECTED' \
	"a virus from the trusted network is still discarded: the bank never bypasses virus checks"
check "the log names the TRUSTED bank for the client (banned check bypassed: CLEAN)" grep -qE 'Passed CLEAN .*, TRUSTED \[192\.0\.2\.7\]' "$TG_LOG"

# --- MYNETS and ORIGINATING
like "$(send "$TG_TMP/clean.eml" "$DEFAULT_PORT" 198.51.100.20 out@example.org)" '^250 2\.0\.0 from MTA' \
	"clean mail from mynetworks is delivered"
check "logged as Internal with the MYNETS,ORIGINATING path and LOCAL" \
	grep -qE 'Passed CLEAN \{RelayedInternal\}, MYNETS,ORIGINATING LOCAL \[198\.51\.100\.20\]' "$TG_LOG"
wait_until '[ "$(sink_grep "clean-$$@" | xargs -r grep -l "out@example.org" | wc -l)" -ge 1 ]' 10
# (an empty file list would make grep read stdin: check for the copy first)
out_copy=$(sink_grep "clean-$$@" | xargs -r grep -l "out@example.org" | head -n 1)
check "the ORIGINATING bank's x_header_line is on the delivered copy" \
	grep -q '^X-Virus-Scanned: tollgate outbound at example.com' "${out_copy:-/nonexistent}"
like "$(send "$TG_TMP/clean.eml" "$DEFAULT_PORT" 203.0.113.9 in@example.com)" '^250 2\.0\.0 from MTA' \
	"clean mail from elsewhere is delivered"
check "logged as Inbound without a bank" grep -qE 'Passed CLEAN \{RelayedInbound\}, \[203\.0\.113\.9\]' "$TG_LOG"

# --- a bad bank is a configuration error, with the bank's name
printf 'policy_bank_BAD = { final_virus_destiny = sometimes }\nclamav_database =\n' >"$TG_TMP/bad.conf"
out=$("$TOLLGATED" -t -c "$TG_TMP/bad.conf" 2>&1); rc=$?
like "$rc $out" '^1 .*bad\.conf:1: policy bank BAD: final_virus_destiny: "sometimes" is not ' \
	"tollgated -t fails on a bank with a bad value, with file:line, the bank and the setting"
