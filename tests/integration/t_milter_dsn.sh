#!/bin/bash
# t_milter_dsn.sh - before the queue, a mixed outcome is reported as on the
# LMTP path: with final_virus_destiny = reject, EICAR to a virus lover and
# to another recipient through a real Postfix (smtpd_milters): the client
# gets one 250, the lover gets the message, the other recipient is removed
# (SMFIR_DELRCPT) and the envelope sender gets a DSN (RFC 3464, through
# forward_method) naming that recipient. No DSN to the null sender, nor for
# a virus known to fake its sender (amavisd's viruses_that_fake_sender rule).
# Also the admin's side of the configuration: with mydomain unset the
# message says "X-Virus-Scanned: tollgate at <myhostname less its first
# label>", and a bad value is reported with file:line by tollgated -t and
# tollgate check-config, also when it is only checked after loading.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}

start_sink
start_postfix 2
MPORT=$(free_port) || bail_out "no free port"
postfix_inject_opts content_filter= "smtpd_milters=inet:127.0.0.1:$MPORT" milter_default_action=tempfail \
	milter_protocol=6 milter_content_timeout=120s

# our own small signature database: EICAR, and a "worm" (a virus that fakes
# its sender by amavisd's rule) matching a harmless marker string
SIGDB=$TG_TMP/sigdb-dsn
mkdir -p "$SIGDB"
WORM_TEXT='TOLLGATE-FAKE-SENDER-WORM-MARKER-0123456789-NOT-A-VIRUS'
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
{
	printf 'Eicar-Test-Signature:0:0:%s\n' \
		"$(hex 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')"
	printf 'Win.Worm.TollgateFake-1:0:*:%s\n' "$(hex "$WORM_TEXT")"
} >"$SIGDB/test.ndb"
chmod -R a+rX "$SIGDB"
BASECONF="listen = milter:127.0.0.1:$MPORT
clamav_database = $SIGDB"

# restart_tollgated - tollgated with the milter listener and CONF-LINES
restart_tollgated() { stop_tollgated; start_tollgated "$BASECONF${1:+
$1}"; }
# sink_for - dumped messages whose envelope recipient is ADDR
sink_for() { sink_grep "^X-Rcpt-Args: <$1>"; }
# final_reply - the reply to the end of data in a dialogue (stdin)
final_reply() { grep '^S: ' | grep -v '^S: 221 ' | tail -n 1 | sed 's/^S: //'; }
# body_of - a dumped message without the sink's X-* envelope lines, CRs removed
body_of() { tr -d '\r' <"$1"; }

$MKMSG eicar-b64 --out "$TG_TMP/eicar.eml" --to lover@example.com --to other@example.com \
	--subject "milter dsn eicar $$" --message-id "dsn-eicar-$$@example.net"
printf '%s\n' "$WORM_TEXT" >"$TG_TMP/worm.txt"
$MKMSG attach --attach "$TG_TMP/worm.txt" --out "$TG_TMP/worm.eml" --to lover@example.com \
	--to other@example.com --subject "milter dsn worm $$" --message-id "dsn-worm-$$@example.net"
$MKMSG clean --out "$TG_TMP/clean.eml" --to dom@example.com --subject "milter mydomain $$" \
	--message-id "dsn-clean-$$@example.net"

# ------------------------------------------------------------ mixed: lover + other
restart_tollgated "final_virus_destiny = reject
virus_lovers_maps = inline:{ lover@example.com=yes }"
out=$(postfix_send --file "$TG_TMP/eicar.eml" --from sender-m@example.net --to lover@example.com \
	--to other@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "mixed: the SMTP client gets one 250 for the message"
wait_until '[ -n "$(sink_for lover@example.com)" ] && [ -n "$(sink_for sender-m@example.net)" ]' 30
lf=$(sink_for lover@example.com | head -n 1)
check "mixed: the virus lover got the message" test -n "$lf"
like "$(msg_headers "${lf:-/dev/null}" | grep '^X-Amavis-Alert:')" '^X-Amavis-Alert: INFECTED' \
	"mixed: the lover's copy carries X-Amavis-Alert: INFECTED"
sleep 2
is "$(sink_for other@example.com | wc -l)" 0 "mixed: the other recipient got nothing"
is "$(grep -c 'to=<other@example.com>.*status=sent' "$PF_DIR/maillog")" 0 \
	"mixed: Postfix never delivered to the other recipient"
dsns=$(sink_for sender-m@example.net)
is "$(printf '%s\n' "$dsns" | grep -c .)" 1 "mixed: exactly one message to the envelope sender"
df=$(printf '%s\n' "$dsns" | head -n 1)
d=$(body_of "${df:-/dev/null}")
like "$(printf '%s\n' "$d" | grep '^X-Mail-Args:')" '^X-Mail-Args: <>' "DSN: sent with the null envelope sender"
like "$(msg_headers "${df:-/dev/null}" | grep -i '^Content-Type:')" \
	'multipart/report; report-type=delivery-status' "DSN: a multipart/report of type delivery-status (RFC 3464)"
like "$(msg_headers "${df:-/dev/null}" | grep '^To:')" '^To: <sender-m@example\.net>$' "DSN: To: the envelope sender"
like "$(msg_headers "${df:-/dev/null}" | grep '^Subject:')" \
	'^Subject: Delivery status notification, VIRUS in message apparently from you \(Eicar-Test-Signature' \
	"DSN: Subject says a virus and that other recipients got it"
check "DSN: the text names the removed recipient and why" \
	grep -qzE 'The message WAS NOT relayed to:
  <other@example\.com>:
    554 5\.7\.0 Reject, id=[0-9]+-[0-9]+ - INFECTED' <<<"$d"
check "DSN: Final-Recipient of the removed recipient" grep -qx 'Final-Recipient: rfc822;other@example.com' <<<"$d"
check "DSN: Action: failed" grep -qx 'Action: failed' <<<"$d"
check "DSN: Status: 5.7.0" grep -qx 'Status: 5.7.0' <<<"$d"
check "DSN: Reporting-MTA is tollgated's myhostname" grep -qx 'Reporting-MTA: dns; tollgate.example.com' <<<"$d"
is "$(grep -cE '^Final-Recipient: .*lover@|^  <lover@' <<<"$d")" 0 "DSN: the virus lover, who got the mail, is not reported"
check "DSN: the original header section is returned" grep -qx "Message-ID: <dsn-eicar-$$@example.net>" <<<"$d"
is "$(grep -c 'EICAR-STANDARD' <<<"$d")" 0 "DSN: the virus itself is not returned"
is "$(tg_log_count 'notification \(DSN\) to <sender-m@example\.net>: 250 ')" 1 \
	"mixed: tollgated logged the DSN as accepted by the re-injection smtpd"
is "$(tg_log_count 'MILTER ACCEPT: [0-9]+ header edits, 1 recipients removed')" 1 \
	"mixed: MILTER ACCEPT with 1 recipient removed"

# ------------------------------------------------------------ null sender: no DSN
out=$(postfix_send --file "$TG_TMP/eicar.eml" --from '' --to lover@example.com --to other@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "null sender: the SMTP client gets 250"
wait_until '[ "$(tg_log_count "MILTER ACCEPT")" -ge 2 ]' 30
sleep 2
is "$(tg_log_count 'notification \(DSN\)')" 1 "null sender: no DSN sent (only the first one in the log)"
is "$(sink_count_grep 'report-type=delivery-status')" 1 "null sender: the sink holds no DSN but the first one"

# ------------------------------------------------------------ a virus that fakes its sender: no DSN
out=$(postfix_send --file "$TG_TMP/worm.eml" --from sender-w@example.net --to lover@example.com \
	--to other@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "faked sender: the SMTP client gets 250"
wait_until '[ "$(tg_log_count "MILTER ACCEPT")" -ge 3 ]' 30
check "faked sender: tollgated found the worm" grep -q 'INFECTED (Win\.Worm\.TollgateFake-1' "$TG_LOG"
sleep 2
is "$(sink_for sender-w@example.net | wc -l)" 0 "faked sender: no DSN to a sender the virus made up"
is "$(tg_log_count 'notification \(DSN\) to <sender-w@')" 0 "faked sender: none logged either"

# ------------------------------------------------------------ mydomain unset
restart_tollgated "myhostname = mx.derived.example"
stop_tollgated
sed -i '/^mydomain[[:space:]]*=/d' "$TG_CONF"
is "$(grep -c '^mydomain' "$TG_CONF")" 0 "mydomain: the configuration does not set it"
is "$("$TOLLGATED" -c "$TG_CONF" -a | grep -E '^(mydomain|x_header_line) =')" \
	"mydomain = derived.example
x_header_line = tollgate at derived.example" "mydomain: derived from myhostname, and \$mydomain expands to it"
echo "=== start $(date '+%T') ===" >>"$TG_LOG"
"$TOLLGATED" -f -c "$TG_CONF" >>"$TG_LOG" 2>&1 &
TG_PID=$!
tg_track "$TG_PID"
wait_port 127.0.0.1 "$MPORT" 20 || bail_out "tollgated did not listen on $MPORT"
out=$(postfix_send --file "$TG_TMP/clean.eml" --from sender-c@example.net --to dom@example.com)
like "$(printf '%s\n' "$out" | final_reply)" '^250 ' "mydomain: the clean message is accepted"
wait_until '[ -n "$(sink_for dom@example.com)" ]' 30
cf=$(sink_for dom@example.com | head -n 1)
is "$(msg_headers "${cf:-/dev/null}" | grep '^X-Virus-Scanned:')" "X-Virus-Scanned: tollgate at derived.example" \
	"mydomain unset: X-Virus-Scanned names myhostname less its first label"
stop_tollgated

# ------------------------------------------------------------ config errors carry file:line
printf '# a comment\nforward_method = smtp:[127.0.0.1]:99999\nclamav_database =\n' >"$TG_TMP/bad-fwd.conf"
err=$("$TOLLGATED" -t -c "$TG_TMP/bad-fwd.conf" 2>&1); rc=$?
like "$rc $err" "^1 tollgated: $TG_TMP/bad-fwd\\.conf:2: forward_method: .*port" \
	"config: a forward_method checked after loading is reported at file:line (tollgated -t)"
err=$("$TOLLGATE" check-config -c "$TG_TMP/bad-fwd.conf" 2>&1); rc=$?
like "$rc $err" "^1 .*$TG_TMP/bad-fwd\\.conf:2: forward_method: .*port" "config: the same from tollgate check-config"
printf 'clamav_database =\n\nfinal_virus_destiny = sometimes\n' >"$TG_TMP/bad-destiny.conf"
err=$("$TOLLGATED" -t -c "$TG_TMP/bad-destiny.conf" 2>&1); rc=$?
like "$rc $err" "^1 tollgated: $TG_TMP/bad-destiny\\.conf:3: final_virus_destiny: " \
	"config: a bad destiny is reported at file:line"
printf 'clamav_database =\nmax_requests = many\n' >"$TG_TMP/bad-int.conf"
err=$("$TOLLGATED" -t -c "$TG_TMP/bad-int.conf" 2>&1); rc=$?
like "$rc $err" "^1 tollgated: $TG_TMP/bad-int\\.conf:2: max_requests: " "config: a bad number is reported at file:line"

done_testing
