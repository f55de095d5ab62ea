#!/bin/bash
# t_spamscore.sh - spam scoring in the message path, with a private
# SpamAssassin spamd: GTUBE (score 1000) against per-recipient levels,
# amavisd's X-Spam-* headers and subject tag, spam lovers, bypass, and
# a spamd that is down (the mail passes unscored, logged).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd spamd spamd

plan 11
start_sink
SPAMD_PORT=$(free_port) || bail_out "no free port"
SPAMD_DIR=$TG_TMP/spamd
mkdir -p "$SPAMD_DIR"
chown nobody "$SPAMD_DIR"
spamd -x -L -4 -i "127.0.0.1:$SPAMD_PORT" -A 127.0.0.1 -r "$SPAMD_DIR/spamd.pid" -s stderr -m 1 \
	--min-children=1 --max-spare=1 -u nobody -H "$SPAMD_DIR" --cf='use_bayes 0' --cf='bayes_auto_learn 0' \
	>"$SPAMD_DIR/log" 2>&1 &
tg_track $!
wait_until 'grep -qs "server started" "$SPAMD_DIR/log"' 120 || { diag_file "$SPAMD_DIR/log" 20; bail_out "spamd did not start"; }

start_tollgated "forward_method = smtp:[127.0.0.1]:$SINK_PORT
spam_scanner = spamd
spamd_address = 127.0.0.1:$SPAMD_PORT
final_spam_destiny = discard
spam_kill_level_maps = inline:{ tolerant@example.com=5000 }
spam_lovers_maps = inline:{ lover@example.com=yes }
bypass_spam_checks_maps = inline:{ bypass@example.com=yes }"

gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
printf 'From: <sender@example.net>\nTo: <x@example.com>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nSubject: offer %s\nMessage-ID: <gtube-%s@example.net>\n\n%s\n' $$ $$ "$gtube" >"$TG_TMP/gtube.eml"
out=$(lmtp_deliver "$TG_TMP/gtube.eml" sender@example.net plain@example.com tolerant@example.com lover@example.com bypass@example.com)
replies=$(printf '%s\n' "$out" | after_dot | grep -v '^221 ')
like "$(printf '%s\n' "$replies" | sed -n 1p)" '^250 2\.7\.0 Ok, discarded, id=.* - spam' "GTUBE to a default recipient: spam, discarded (final_spam_destiny)"
like "$(printf '%s\n' "$replies" | sed -n 2p)" '^250 2\.0\.0 from MTA' "its kill level 5000 (spam_kill_level_maps): delivered"
like "$(printf '%s\n' "$replies" | sed -n 3p)" '^250 2\.0\.0 from MTA' "a spam lover: delivered"
like "$(printf '%s\n' "$replies" | sed -n 4p)" '^250 2\.0\.0 from MTA' "bypass_spam_checks: delivered"
wait_until '[ "$(sink_count_grep "gtube-$$@")" -ge 1 ]' 10
copy_for() { sink_grep "gtube-$$@" | xargs -r grep -l "^X-Rcpt-Args: <$1>" | head -n 1; }
f=$(copy_for tolerant@example.com)
check "the tolerant copy has X-Spam-Flag: YES and a score of 1000 or more" \
	grep -qE '^X-Spam-Score: (1[0-9]{3}|[2-9][0-9]{3})' "$f"
check "... X-Spam-Flag: YES" grep -q '^X-Spam-Flag: YES' "$f"
check "... and the subject tag" grep -q '^Subject: \*\*\*SPAM\*\*\* offer' "$f"
f=$(copy_for bypass@example.com)
# (a missing copy must not pass as "no X-Spam headers")
check "the bypass copy is there and carries no X-Spam headers" bash -c "[ -n '$f' ] && [ -s '$f' ] && ! grep -q '^X-Spam-' '$f'"
check "tollgated logged Blocked SPAM" grep -q 'Blocked SPAM' "$TG_LOG"

# spamd down: passed unscored, logged
kill "$(cat "$SPAMD_DIR/spamd.pid")" 2>/dev/null
wait_until '! port_listening 127.0.0.1 '"$SPAMD_PORT" 20
out=$(lmtp_deliver "$TG_TMP/gtube.eml" sender@example.net plain@example.com)
like "$(printf '%s\n' "$out" | after_dot | grep -v '^221 ' | head -n 1)" '^250 2\.0\.0 from MTA' \
	"with spamd down the mail passes unscored (as amavisd does)"
check "and the log says so" grep -q 'spam check failed, passed unscored' "$TG_LOG"
