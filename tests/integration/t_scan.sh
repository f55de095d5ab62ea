#!/bin/bash
# t_scan.sh - virus and banned-name scanning with the default destinies
# (discard): EICAR as a plain body, a base64 attachment, inside a nested
# message/rfc822 and inside a zip; clamav-testfiles samples; a banned name
# (readme.exe) in a zip; a clean multi-part message that must arrive byte
# for byte; quarantine files and their index; the virus_admin notice; and
# one infected message through Postfix's amavisfeed.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 35
start_sink
start_postfix 2
QDIR=$TG_TMP/quarantine
mkdir -p "$QDIR"
chown nobody "$QDIR"
ADMIN=virusadmin@example.com
start_tollgated "quarantine_dir = $QDIR
virus_admin = $ADMIN"

TF=/usr/share/clamav-testfiles
DISCARD_RX='^250 2\.7\.0 Ok, discarded, id=[0-9]+-[0-9]+ - INFECTED: Eicar-Test-Signature\.UNOFFICIAL$'

# count_rx - number of lines on stdin matching ERE
count_rx() { grep -cE -- "$1"; }

# --- EICAR in four shapes, two recipients each: both discarded
for kind in eicar-plain eicar-b64 eicar-nested eicar-zip; do
	$MKMSG "$kind" --out "$TG_TMP/$kind.eml" --to "blocked-$kind-1@example.com" --to "blocked-$kind-2@example.com" \
		--subject "scan $kind $$" --message-id "$kind-$$@example.net"
	out=$(lmtp_deliver "$TG_TMP/$kind.eml" sender@example.net "blocked-$kind-1@example.com" "blocked-$kind-2@example.com")
	replies=$(printf '%s\n' "$out" | after_dot | grep -v '^221 ')
	is "$(printf '%s\n' "$replies" | count_rx "$DISCARD_RX")" 2 \
		"$kind: both recipients get 250 2.7.0 Ok, discarded, id=... - INFECTED: Eicar-Test-Signature.UNOFFICIAL"
	[ "$(printf '%s\n' "$replies" | count_rx "$DISCARD_RX")" = 2 ] || diag "$out"
done

# --- clamav-testfiles samples, one message each, and three in one message
# (their hash signatures come from make-sigdb.sh; the EICAR-only fallback
# database of tg_sigdb has none)
HAVE_SAMPLES=1
grep -qs '^[0-9a-f]*:[0-9]*:ClamAV-Test-File\.' "$TG_SIGDB"/*.hdb || HAVE_SAMPLES=0
for s in clam.exe clam.zip clam.pdf clam.ole.doc; do
	if [ ! -f "$TF/$s" ]; then not_ok "sample $s detected: $TF/$s is missing (apt-get install clamav-testfiles)"; continue; fi
	if [ "$HAVE_SAMPLES" = 0 ]; then not_ok "sample $s detected: no ClamAV-Test-File signatures in $TG_SIGDB"; continue; fi
	$MKMSG attach --out "$TG_TMP/sample-$s.eml" --attach "$TF/$s" --to "blocked-sample-$s@example.com" \
		--subject "sample $s $$" --message-id "sample-$s-$$@example.net"
	out=$(lmtp_deliver "$TG_TMP/sample-$s.eml" sender@example.net "blocked-sample-$s@example.com")
	like "$(printf '%s\n' "$out" | after_dot | head -n 1)" \
		'^250 2\.7\.0 Ok, discarded, id=[0-9]+-[0-9]+ - INFECTED: ClamAV-Test-File\.[^ ]+\.UNOFFICIAL$' \
		"$s attached: discarded as INFECTED: ClamAV-Test-File..."
done
if [ "$HAVE_SAMPLES" = 1 ] && [ -f "$TF/clam.exe" ] && [ -f "$TF/clam.pdf" ] && [ -f "$TF/clam.tar.gz" ]; then
	$MKMSG attach --out "$TG_TMP/samples3.eml" --attach "$TF/clam.exe" --attach "$TF/clam.pdf" --attach "$TF/clam.tar.gz" \
		--to blocked-samples3@example.com --subject "three samples $$" --message-id "samples3-$$@example.net"
	out=$(lmtp_deliver "$TG_TMP/samples3.eml" sender@example.net blocked-samples3@example.com)
	like "$(printf '%s\n' "$out" | after_dot | head -n 1)" \
		'^250 2\.7\.0 Ok, discarded, id=[0-9]+-[0-9]+ - INFECTED: ClamAV-Test-File\.' \
		"clam.exe + clam.pdf + clam.tar.gz in one message: discarded as INFECTED"
else
	not_ok "three samples in one message: clamav-testfiles or their signatures are missing"
fi

# --- a banned name in a zip (harmless bytes called readme.exe)
$MKMSG banned-zip --out "$TG_TMP/banned.eml" --to blocked-banned-1@example.com --to blocked-banned-2@example.com \
	--subject "banned $$" --message-id "banned-$$@example.net"
out=$(lmtp_deliver "$TG_TMP/banned.eml" sender@example.net blocked-banned-1@example.com blocked-banned-2@example.com)
rx='^250 2\.7\.0 Ok, discarded, id=[0-9]+-[0-9]+ - BANNED: .*readme\.exe'
is "$(printf '%s\n' "$out" | after_dot | count_rx "$rx")" 2 "readme.exe in a zip: both recipients get 250 2.7.0 Ok, discarded, id=... - BANNED: ...readme.exe"
[ "$(printf '%s\n' "$out" | after_dot | count_rx "$rx")" = 2 ] || diag "$out"

# --- a clean multi-part message: delivered, body byte for byte
$MKMSG clean --out "$TG_TMP/clean.eml" --to clean-1@example.com --to clean-2@example.com \
	--subject "clean multipart $$" --message-id "clean-$$@example.net"
out=$(lmtp_deliver "$TG_TMP/clean.eml" sender@example.net clean-1@example.com clean-2@example.com)
rx="^250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:$PF_REINJECT_PORT\\): 250 2\\.0\\.0 Ok: queued as [0-9A-F]+$"
is "$(printf '%s\n' "$out" | after_dot | count_rx "$rx")" 2 "clean: both recipients get 250 2.0.0 from MTA(smtp:[127.0.0.1]:$PF_REINJECT_PORT): 250 2.0.0 Ok: queued as ..."
wait_until '[ "$(sink_count_grep "^Message-ID: <clean-$$@example.net>")" -ge 1 ]' 30
cf=$(sink_grep "^Message-ID: <clean-$$@example.net>" | head -n 1)
is "$(sink_grep "^Message-ID: <clean-$$@example.net>" | xargs -r grep -h '^X-Rcpt-Args:' | sed 's/^X-Rcpt-Args: \(<[^>]*>\).*/\1/' | sort | tr '\n' ' ')" \
	"<clean-1@example.com> <clean-2@example.com> " "clean: both recipients arrived at the sink"
if [ -n "$cf" ]; then
	is "$($SMTPCLIENT bodyhash --sink "$cf")" "$($SMTPCLIENT bodyhash "$TG_TMP/clean.eml")" "clean: the body after the header section is byte-identical"
	like "$(msg_headers "$cf")" '^X-Virus-Scanned: tollgate at example\.com$' "clean: X-Virus-Scanned: tollgate at example.com"
	like "$(msg_headers "$cf" | grep -c '^X-Amavis-Alert:')" '^0$' "clean: no X-Amavis-Alert"
else
	not_ok "clean: the body after the header section is byte-identical"
	not_ok "clean: X-Virus-Scanned: tollgate at example.com"
	not_ok "clean: no X-Amavis-Alert"
fi

# --- one infected message through Postfix: injection smtpd -> amavisfeed
out=$(postfix_send --file "$TG_TMP/eicar-b64.eml" --to blocked-pf-1@example.com --to blocked-pf-2@example.com)
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "Postfix accepted the infected message (${qid:-none})"
pf_discarded() { grep -cE "$qid: to=<blocked-pf-[12]@example.com>, relay=127.0.0.1\[127.0.0.1\]:$TG_LMTP_PORT,.*status=sent \(250 2\.7\.0 Ok, discarded, id=[0-9-]+ - INFECTED: Eicar-Test-Signature\.UNOFFICIAL\)" "$PF_DIR/maillog"; }
wait_until '[ "$(pf_discarded)" -ge 2 ]' 30
is "$(pf_discarded)" 2 "via Postfix: amavisfeed logged status=sent (250 2.7.0 Ok, discarded ... INFECTED) for both recipients"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 20
is "$(postfix_queue_count)" 0 "via Postfix: the queue is empty"

# --- the log lines
is "$(tg_log_count 'Blocked INFECTED \(Eicar-Test-Signature\.UNOFFICIAL\) \{DiscardedInbound,Quarantined\}, .*mail_id: [^ ]+, .*quarantine: virus-[^ ,]+, [0-9]+ ms$')" 5 \
	"5 log lines: Blocked INFECTED (Eicar-Test-Signature.UNOFFICIAL) {DiscardedInbound,Quarantined}, ..., quarantine: virus-<id>, N ms"
if [ "$HAVE_SAMPLES" = 1 ] && [ -f "$TF/clam.exe" ] && [ -f "$TF/clam.zip" ] && [ -f "$TF/clam.pdf" ] && [ -f "$TF/clam.ole.doc" ] && [ -f "$TF/clam.tar.gz" ]; then
	is "$(tg_log_count 'Blocked INFECTED \(ClamAV-Test-File\.[^)]*\) \{DiscardedInbound,Quarantined\}')" 5 "5 Blocked INFECTED (ClamAV-Test-File...) log lines, one per sample message"
else
	not_ok "5 Blocked INFECTED (ClamAV-Test-File...) log lines: samples or their signatures are missing"
fi
is "$(tg_log_count 'Blocked BANNED \(.*readme\.exe\) \{DiscardedInbound,Quarantined\}')" 1 "one Blocked BANNED (...readme.exe) {DiscardedInbound,Quarantined} log line"
is "$(tg_log_count "Passed CLEAN \\{RelayedInbound\\}, .*Message-ID: <clean-$$@example.net>")" 1 "one Passed CLEAN {RelayedInbound} log line for the clean message"

# --- quarantine: the file of the base64 EICAR message holds the original
mid=$(grep "Message-ID: <eicar-b64-$$@example.net>" "$TG_LOG" | sed -n 's/.*mail_id: \([^ ,]*\),.*/\1/p' | head -n 1)
like "$mid" '^[A-Za-z0-9_-]{12}$' "mail_id of the base64 EICAR message from the log (${mid:-none})"
qf=$QDIR/virus-$mid
check "quarantine file virus-$mid exists" test -s "$qf"
# (compared with line ends normalised: the file may hold the wire form, CRLF)
grep -q $'\r$' "$qf" 2>/dev/null && diag "note: the quarantine file has CRLF line ends (amavisd writes LF)"
if tr -d '\r' <"$qf" 2>/dev/null | sed -n '/^From: Test Sender/,$p' | cmp -s - "$TG_TMP/eicar-b64.eml"; then
	ok "the quarantine file holds the original message (header section and body, line for line)"
else
	not_ok "the quarantine file holds the original message (header section and body, line for line)"
	diag_file "$qf" 30 "quarantine file"
fi
like "$(msg_headers "$qf" 2>/dev/null)" "^X-Quarantine-ID: <$mid>$" "the quarantine file carries X-Quarantine-ID: <$mid>"
like "$(grep -F " $mid " "$QDIR/index" 2>/dev/null)" " virus .*<sender@example\.net>.*virus-$mid" "the index has a line for $mid (virus, sender, file)"
bmid=$(grep "Message-ID: <banned-$$@example.net>" "$TG_LOG" | sed -n 's/.*mail_id: \([^ ,]*\),.*/\1/p' | head -n 1)
check "banned message quarantined as banned-${bmid:-?}" test -n "$bmid" -a -s "$QDIR/banned-$bmid"
is "$(grep -c ' virus ' "$QDIR/index" 2>/dev/null)" "$(find "$QDIR" -name 'virus-*' | wc -l)" "one index line per virus quarantine file"

# --- the virus_admin notice for the base64 EICAR message
admin_notice() { sink_grep "^X-Rcpt-Args: <$ADMIN>" | xargs -r grep -l "Message-ID: <eicar-b64-$$@example.net>" | head -n 1; }
wait_until '[ -n "$(admin_notice)" ]' 30
an=$(admin_notice)
check "the admin notice for the base64 EICAR message arrived at the sink, addressed to <$ADMIN>" test -n "$an"
h=$(msg_headers "${an:-/dev/null}")
like "$(printf '%s\n' "$h" | grep '^Subject:')" '^Subject: VIRUS \(Eicar-Test-Signature\.UNOFFICIAL\)' "admin notice Subject starts with 'VIRUS (Eicar-Test-Signature.UNOFFICIAL)'"
like "$(printf '%s\n' "$h" | grep '^To:')" "^To: .*<$ADMIN>" "admin notice To: <$ADMIN>"
like "$(grep -h '^X-Mail-Args:' "${an:-/dev/null}")" '^X-Mail-Args: <[^>]+@' "admin notice has a non-null envelope sender (not a DSN)"

# --- nothing at the sink for the blocked recipients
nnotes=$(tg_log_count "notification \\(admin\\) to <$ADMIN>: 250 ")
wait_until '[ "$(sink_count_grep "^X-Rcpt-Args: <$ADMIN>")" -ge "$nnotes" ]' 30
sleep 1
is "$(sink_count_grep '^X-Rcpt-Args: <blocked-')" 0 "no copy at the sink for any blocked recipient"
is "$(sink_count_grep '^X-Rcpt-Args: <sender@example\.net>')" 0 "no DSN to the sender for discarded mail"
