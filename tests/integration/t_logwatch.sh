#!/bin/bash
# t_logwatch.sh - tollgated's per-message log lines stay parseable by the
# amavis log tools: Debian's logwatch amavis service script reads a log
# made here (clean, virus, banned, bad header) and must count every
# message in its summary with no "Unmatched Entries".
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
LW=/usr/share/logwatch/scripts/services/amavis
require_file "$LW" logwatch

plan 6
start_sink
start_tollgated "forward_method = smtp:[127.0.0.1]:$SINK_PORT
syslog_ident = amavis"
$MKMSG clean --out "$TG_TMP/clean.eml" --to a@example.com --message-id "lw-clean-$$@example.net"
$MKMSG eicar-b64 --out "$TG_TMP/eicar.eml" --to a@example.com --message-id "lw-eicar-$$@example.net"
$MKMSG banned-zip --out "$TG_TMP/banned.eml" --to a@example.com --message-id "lw-banned-$$@example.net"
printf 'From: <s@example.net>\nTo: <a@example.com>\nSubject: no date\nMessage-ID: <lw-badh-%s@example.net>\n\nbody\n' $$ >"$TG_TMP/badh.eml"
for m in clean eicar banned badh; do
	lmtp_deliver "$TG_TMP/$m.eml" sender@example.net a@example.com >/dev/null
done
wait_until '[ "$(tg_log_count "(Passed|Blocked) ")" -ge 4 ]' 10
# what syslog would have written: "Mon DD HH:MM:SS host amavis[pid]: ..."
sed -n 's/^\([A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]*\)\.[0-9]* \(amavis\[[0-9]*\]: \)/\1 mx \2/p' "$TG_LOG" |
	grep -E 'amavis\[[0-9]+\]: \([0-9-]+\) (Passed|Blocked) ' >"$TG_TMP/maillog"
is "$(wc -l <"$TG_TMP/maillog")" 4 "4 per-message lines logged under the amavis ident"
# logwatch strips the syslog header before calling the service script
out=$(sed 's/^.*amavis\[[0-9]*\]: //' "$TG_TMP/maillog" | LOGWATCH_DETAIL_LEVEL=10 perl "$LW" 2>&1)
like "$out" '4 +Total messages scanned' "logwatch counts all 4 messages"
like "$out" 'Malware blocked' "... the virus as Malware blocked"
like "$out" 'Banned name blocked' "... the banned attachment as Banned name blocked"
like "$out" 'Bad header passed' "... the message without Date as Bad header passed"
check "no Unmatched Entries" bash -c "! printf '%s\n' \"\$1\" | grep -q 'Unmatched Entries'" _ "$out"
[ "$TG_FAILS" -eq 0 ] || diag "$out"
