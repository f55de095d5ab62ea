#!/bin/bash
# t_rspamd.sh - spam_scanner = rspamd in the message path, against a real
# private rspamd (start_rspamd: Debian's rules, loopback ports, no
# network, no Redis): GTUBE to a default recipient gets final_spam_destiny
# (discard), the same message to a recipient whose spam_kill_level_maps
# level is 5000 is delivered with X-Spam-Flag: YES, the rspamd score and
# the subject tag; clean mail passes with X-Spam-Flag: NO and its
# X-Spam-Score (spam_tag_level empty: always); rspamd_address = unix:PATH
# (rspamd's normal worker on a unix socket) gives the same verdict; with
# rspamd stopped the
# mail passes unscored and the log says so (spam_timeout in params.def:
# "a failure passes the mail unscored (logged), as amavisd does").
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 17
start_sink
start_rspamd
CONF="forward_method = smtp:[127.0.0.1]:$SINK_PORT
spam_scanner = rspamd
spam_timeout = 10s
final_spam_destiny = discard
spam_tag_level =
spam_kill_level_maps = inline:{ tolerant@example.com=5000 }"
start_tollgated "$CONF
rspamd_address = http://127.0.0.1:$RSPAMD_PORT"

# replies FILE RCPT... - the per-recipient LMTP replies after the dot
replies() { local f=$1; shift; lmtp_deliver "$f" sender@example.net "$@" | after_dot | grep -v '^221 '; }
# copy_for ID RCPT - the sink's copy of message ID for envelope recipient RCPT
copy_for() { sink_grep "^Message-ID: <$1>" | xargs -r grep -l "^X-Rcpt-Args: <$2>" | head -n 1; }

gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
printf 'From: <sender@example.net>\nTo: <plain@example.com>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nSubject: offer %s\nMessage-ID: <gtube-%s@example.net>\n\n%s\n' \
	$$ $$ "$gtube" >"$TG_TMP/gtube.eml"
printf 'From: Sender <sender@example.net>\nTo: Plain <plain@example.com>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nSubject: minutes of the meeting\nMessage-ID: <ham-%s@example.net>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello,\n\nthe minutes of yesterday'"'"'s meeting are below. We agreed to meet again\nnext Thursday at ten in the small room.\n\nRegards,\nSender\n' \
	$$ >"$TG_TMP/ham.eml"

# ------------------------------------------------------------ GTUBE
r=$(replies "$TG_TMP/gtube.eml" plain@example.com tolerant@example.com)
like "$(printf '%s\n' "$r" | sed -n 1p)" '^250 2\.7\.0 Ok, discarded, id=[0-9-]+ - spam' \
	"GTUBE to a default recipient: spam, discarded (final_spam_destiny = discard)"
like "$(printf '%s\n' "$r" | sed -n 2p)" '^250 2\.0\.0 from MTA' \
	"GTUBE to a recipient with spam_kill_level_maps 5000: delivered"
wait_until '[ -n "$(copy_for "gtube-$$@example.net" tolerant@example.com)" ]' 15
f=$(copy_for "gtube-$$@example.net" tolerant@example.com)
is "$(copy_for "gtube-$$@example.net" plain@example.com)" "" "the discarded recipient got no copy"
score=$(sed -n 's/^X-Spam-Score: //p' "${f:-/dev/null}" | head -n 1)
check "the tolerant copy's X-Spam-Score is rspamd's GTUBE score, at least the kill level 6.31 (got '${score}')" \
	awk -v s="${score:-x}" 'BEGIN { exit !(s ~ /^[0-9.]+$/ && s + 0 >= 6.31) }'
check "... X-Spam-Flag: YES" grep -q '^X-Spam-Flag: YES' "${f:-/dev/null}"
check "... the subject tag" grep -q "^Subject: \\*\\*\\*SPAM\\*\\*\\* offer $$" "${f:-/dev/null}"
check "... X-Spam-Status names rspamd's GTUBE symbol" grep -qE '^X-Spam-Status: Yes, .*GTUBE' "${f:-/dev/null}"
check "tollgated logged Blocked SPAM" grep -qE 'Blocked SPAM .*<sender@example.net> -> <plain@example.com>' "$TG_LOG"
check "rspamd's own log: the message was checked and GTUBE found" grep -q 'GTUBE' "$RSPAMD_LOG"

# ------------------------------------------------------------ clean
r=$(replies "$TG_TMP/ham.eml" plain@example.com)
like "$r" '^250 2\.0\.0 from MTA' "clean mail to a default recipient: delivered"
wait_until '[ -n "$(copy_for "ham-$$@example.net" plain@example.com)" ]' 15
f=$(copy_for "ham-$$@example.net" plain@example.com)
score=$(sed -n 's/^X-Spam-Score: //p' "${f:-/dev/null}" | head -n 1)
check "the clean copy carries X-Spam-Score with rspamd's score, below the kill level (got '${score}')" \
	awk -v s="${score:-x}" 'BEGIN { exit !(s ~ /^-?[0-9.]+$/ && s + 0 < 6.31) }'
check "... X-Spam-Flag: NO and no subject tag" \
	bash -c "grep -q '^X-Spam-Flag: NO' '${f:-/dev/null}' && grep -q '^Subject: minutes of the meeting' '${f:-/dev/null}'"

# ------------------------------------------------------------ unix socket
stop_tollgated
start_tollgated "$CONF
rspamd_address = unix:$RSPAMD_SOCKET"
n0=$(grep -c 'GTUBE' "$RSPAMD_LOG")
r=$(replies "$TG_TMP/gtube.eml" plain@example.com)
like "$r" '^250 2\.7\.0 Ok, discarded, id=[0-9-]+ - spam' "rspamd_address = unix:PATH: GTUBE is spam, discarded"
check "... and rspamd logged the check" [ "$(grep -c 'GTUBE' "$RSPAMD_LOG")" -gt "$n0" ]

# ------------------------------------------------------------ rspamd down
stop_rspamd
r=$(replies "$TG_TMP/gtube.eml" plain@example.com)
like "$r" '^250 2\.0\.0 from MTA' "with rspamd stopped, GTUBE to a default recipient passes unscored"
check "the log says the spam check failed and the mail passed unscored" \
	grep -qF "spam check failed, passed unscored: rspamd unix:$RSPAMD_SOCKET: " "$TG_LOG"
wait_until '[ "$(sink_count_grep "^Message-ID: <gtube-$$@example.net>")" -ge 2 ]' 15
f=$(copy_for "gtube-$$@example.net" plain@example.com)
check "the unscored copy carries no X-Spam-Flag" bash -c "[ -n '$f' ] && ! grep -q '^X-Spam-Flag:' '$f'"
