#!/bin/bash
# t_route.sh - per-recipient routing (routing/route.h): each recipient's
# forward method and TLS policy, as documented configurations.
#
#  1. amavis-users 2013 ("force TLS for certain domains"): forward_method_maps
#     sends @tls.example to sink B, the rest to the global method (sink A);
#     a multi-recipient message becomes one delivery per method, each LMTP
#     reply names its own method. forward_tls_policy_maps = encrypt for B:
#     plaintext B gives 450 4.7.4 (554 5.7.4 with tls_failure_action = 5xx)
#     and nothing reaches B; a STARTTLS-capable B gets the mail under TLS;
#     a plaintext or STARTTLS-refusing server at encrypt never sees MAIL;
#     a method's own tls= beats the map; verify and secure against a
#     throwaway self-signed certificate.
#  2. Postfix's sender_dependent_default_transport design (2009):
#     sender_dependent_forward_method_maps by sender, sender without
#     extension, @domain; DUNNO ends the search; the null sender as "<>" or
#     (empty_address_sender_key empty) not looked up; forward_method_maps
#     beats the sender map.
#  3. a table that fails (Redis down, redis_failure_action = tempfail): that
#     recipient gets 451 4.3.5, the others are delivered; behind Postfix it
#     stays deferred and arrives once Redis is back (without a reload).
#  4. through Postfix: injection smtpd -> amavisfeed -> tollgated -> the
#     re-injection smtpd for most recipients, a sink for @tls.example; also
#     with TLS forced for the sink (deferred in Postfix, the rest delivered).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd openssl openssl

plan 83

# shellcheck disable=SC2119
start_sink                      # sink A: global method, and Postfix's relayhost
A_PORT=$SINK_PORT A_DIR=$SINK_DIR
start_sink_named b              # sink B: plaintext smtp-sink
B_PORT=$NSINK_PORT B_DIR=$NSINK_DIR
start_postfix 2
A="smtp:[127.0.0.1]:$A_PORT" B="smtp:[127.0.0.1]:$B_PORT"
RX_A="smtp:\\[127\\.0\\.0\\.1\\]:$A_PORT" RX_B="smtp:\\[127\\.0\\.0\\.1\\]:$B_PORT"

restart_tollgated() { stop_tollgated; start_tollgated "$1"; }
# replies - the per-recipient replies of an LMTP dialogue (stdin)
replies() { after_dot | grep -v '^221 '; }
# nth N - line N of stdin
nth() { sed -n "${1}p"; }
# rcpt_at DIR SENDER RCPT - messages in DIR from SENDER with envelope recipient RCPT
rcpt_at() { find "$1" -type f ! -name '.*' -print0 2>/dev/null | xargs -0 -r grep -lE -- "^X-Mail-Args: <$2>" |
	xargs -r grep -lE -- "^X-Rcpt-Args: <$3>" | wc -l; }
# from DIR SENDER - messages in DIR from SENDER
from() { dir_count_grep "$1" "^X-Mail-Args: <$2>"; }
# events_count FILE ERE - lines of a TLS sink's events file matching ERE
events_count() { grep -cE -- "$2" "$1"; }

$MKMSG clean --out "$TG_TMP/m.eml" --to rcpt@example.com --subject "route $$" --message-id "route-$$@example.net"
M=$TG_TMP/m.eml
# smtp-sink answers the dot with a bare "250 2.0.0 Ok"
OK_A="^250 2\\.0\\.0 from MTA\\($RX_A\\): 250 2\\.0\\.0 Ok\$"
OK_B="^250 2\\.0\\.0 from MTA\\($RX_B\\): 250 2\\.0\\.0 Ok\$"

# ====================================================== 1. forward_method_maps
restart_tollgated "forward_method = $A
forward_method_maps = inline:{ @tls.example=$B, .tls.example=$B }"
out=$(lmtp_deliver "$M" s1@example.net a1@example.com b1@tls.example a2@example.org b2@mx.tls.example)
r=$(printf '%s\n' "$out" | replies)
is "$(printf '%s\n' "$r" | wc -l)" 4 "1a: four per-recipient LMTP replies"
like "$(printf '%s\n' "$r" | nth 1)" "$OK_A" "1a: a1@example.com (no map entry): reply names the global method $A"
like "$(printf '%s\n' "$r" | nth 2)" "$OK_B" "1a: b1@tls.example (@tls.example): reply names $B"
like "$(printf '%s\n' "$r" | nth 3)" "$OK_A" "1a: a2@example.org: reply names $A"
like "$(printf '%s\n' "$r" | nth 4)" "$OK_B" "1a: b2@mx.tls.example (parent domain .tls.example): reply names $B"
wait_until '[ "$(from "$A_DIR" s1@example.net)" -ge 1 ] && [ "$(from "$B_DIR" s1@example.net)" -ge 1 ]' 10
is "$(from "$A_DIR" s1@example.net)/$(rcpt_at "$A_DIR" s1@example.net a1@example.com)/$(rcpt_at "$A_DIR" s1@example.net a2@example.org)" "1/1/1" \
	"1a: sink A got one message (one delivery) for a1@example.com and a2@example.org"
is "$(from "$B_DIR" s1@example.net)/$(rcpt_at "$B_DIR" s1@example.net b1@tls.example)/$(rcpt_at "$B_DIR" s1@example.net b2@mx.tls.example)" "1/1/1" \
	"1a: sink B got one message (one delivery) for b1@tls.example and b2@mx.tls.example"
is "$(rcpt_at "$A_DIR" s1@example.net '[^>]*tls\.example')/$(rcpt_at "$B_DIR" s1@example.net '[^>]*example\.(com|org)')" "0/0" \
	"1a: each recipient arrived only at its own sink"

# ------------------------------------------- 1b. force TLS for @tls.example
restart_tollgated "forward_method = $A
forward_method_maps = inline:{ @tls.example=$B }
forward_tls_policy_maps = inline:{ [127.0.0.1]:$B_PORT=encrypt }"
out=$(lmtp_deliver "$M" s2@example.net a1@example.com b1@tls.example)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)" "$OK_A" "1b: encrypt for B: the recipient for A is delivered"
like "$(printf '%s\n' "$r" | nth 2)" "^450 4\\.7\\.4 TLS is required but was not available: STARTTLS not offered by $RX_B\$" \
	"1b: the recipient for plaintext B gets 450 4.7.4 TLS is required but was not available: STARTTLS not offered by ..."
is "$(from "$B_DIR" s2@example.net)" 0 "1b: nothing reached sink B"
is "$(from "$A_DIR" s2@example.net)/$(rcpt_at "$A_DIR" s2@example.net b1@tls.example)" "1/0" "1b: sink A got a1 only"
is "$(tg_log_count "forwarding to $RX_B: TLS is required \\(level encrypt\\) but was not available: STARTTLS not offered")" 1 \
	"1b: log line: forwarding to smtp:[...]:B: TLS is required (level encrypt) but was not available"

restart_tollgated "forward_method = $A
forward_method_maps = inline:{ @tls.example=$B }
forward_tls_policy_maps = inline:{ [127.0.0.1]:$B_PORT=encrypt }
tls_failure_action = 5xx"
out=$(lmtp_deliver "$M" s3@example.net b1@tls.example a1@example.com)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)" "^554 5\\.7\\.4 TLS is required but was not available: STARTTLS not offered by $RX_B\$" \
	"1b: tls_failure_action = 5xx: 554 5.7.4 TLS is required but was not available"
like "$(printf '%s\n' "$r" | nth 2)" "$OK_A" "1b: 5xx: the recipient for A is delivered"
is "$(from "$B_DIR" s3@example.net)/$(rcpt_at "$A_DIR" s3@example.net a1@example.com)" "0/1" "1b: 5xx: nothing at B, a1 at A"

# ------------------------------------------- 1c. a STARTTLS-capable next hop
start_tlssink tls
T_PORT=$TLSSINK_PORT T_DIR=$TLSSINK_DIR T_EV=$TLSSINK_EVENTS CERT=$TLSSINK_CERT
T="smtp:[127.0.0.1]:$T_PORT" RX_T="smtp:\\[127\\.0\\.0\\.1\\]:$T_PORT"
restart_tollgated "forward_method = $A
forward_method_maps = inline:{ @tls.example=$T }
forward_tls_policy_maps = inline:{ [127.0.0.1]:$T_PORT=encrypt }"
out=$(lmtp_deliver "$M" s4@example.net a1@example.com b1@tls.example)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)" "$OK_A" "1c: a1 to A"
like "$(printf '%s\n' "$r" | nth 2)" "^250 2\\.0\\.0 from MTA\\($RX_T\\): 250 2\\.0\\.0 Ok: queued as TLS[0-9]+\$" \
	"1c: encrypt towards a STARTTLS server: b1@tls.example delivered (250 2.0.0 from MTA(smtp:[...]:T))"
is "$(rcpt_at "$T_DIR" s4@example.net b1@tls.example)/$(dir_count_grep "$T_DIR" '^X-TLS: yes ')" "1/1" \
	"1c: the TLS sink saved the message, received under TLS (X-TLS: yes)"
is "$(events_count "$T_EV" '^starttls [0-9]+ ok TLSv1\.[23] ')" 1 "1c: the TLS sink recorded one successful STARTTLS ($(grep -m1 '^starttls' "$T_EV"))"
is "$(events_count "$T_EV" '^cmd [0-9]+ plain (MAIL|RCPT|DATA|BDAT)')/$(events_count "$T_EV" '^cmd [0-9]+ tls MAIL')" "0/1" \
	"1c: MAIL, RCPT and DATA came only after STARTTLS"
is "$(events_count "$T_EV" '^cmd [0-9]+ tls EHLO')" 1 "1c: EHLO was sent again under TLS"

# precedence of the TLS policy: the method's tls= > forward_tls_policy_maps >
# forward_tls_security_level
restart_tollgated "forward_method = $A
forward_method_maps = inline:{ @tls.example=$B, {@t.example = $T tls=encrypt} }
forward_tls_policy_maps = inline:{ [127.0.0.1]:$A_PORT=none }
forward_tls_security_level = encrypt"
out=$(lmtp_deliver "$M" s4b@example.net a1@example.com b1@tls.example c@t.example)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)" "$OK_A" "1c: forward_tls_security_level = encrypt, but the policy map says none for A: delivered to plaintext A"
like "$(printf '%s\n' "$r" | nth 2)" "^450 4\\.7\\.4 TLS is required but was not available: STARTTLS not offered by $RX_B\$" \
	"1c: B, not in the policy map, takes the global level encrypt: 450 4.7.4"
like "$(printf '%s\n' "$r" | nth 3)" "^250 2\\.0\\.0 from MTA\\(${RX_T}[^)]*\\): 250 2\\.0\\.0 Ok: queued as TLS[0-9]+\$" \
	"1c: {@t.example = smtp:[...]:T tls=encrypt}: delivered"
is "$(rcpt_at "$T_DIR" s4b@example.net c@t.example)/$(grep -l '^X-Rcpt-Args: <c@t.example>' "$T_DIR"/*.eml 2>/dev/null | xargs -r grep -c '^X-TLS: yes ')/$(from "$B_DIR" s4b@example.net)" "1/1/0" \
	"1c: c@t.example arrived at the TLS sink under TLS; nothing at B"

# ------------------------------------------- 1d. nothing in plaintext at encrypt
start_tlssink plain; P_PORT=$TLSSINK_PORT P_DIR=$TLSSINK_DIR P_EV=$TLSSINK_EVENTS
start_tlssink refuse; R_PORT=$TLSSINK_PORT R_DIR=$TLSSINK_DIR R_EV=$TLSSINK_EVENTS
start_tlssink plain; Y_PORT=$TLSSINK_PORT Y_DIR=$TLSSINK_DIR
restart_tollgated "forward_method = $A
forward_method_maps = inline:{ @plain.example=smtp:[127.0.0.1]:$P_PORT, @refuse.example=smtp:[127.0.0.1]:$R_PORT,
  {@may.example = smtp:[127.0.0.1]:$Y_PORT tls=may} }
forward_tls_policy_maps = inline:{ [127.0.0.1]:$P_PORT=encrypt, [127.0.0.1]:$R_PORT=encrypt, [127.0.0.1]:$Y_PORT=encrypt }"
out=$(lmtp_deliver "$M" s5@example.net x@plain.example y@refuse.example z@may.example a1@example.com)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)" "^450 4\\.7\\.4 TLS is required but was not available: STARTTLS not offered by smtp:\\[127\\.0\\.0\\.1\\]:$P_PORT\$" \
	"1d: plaintext server at encrypt: 450 4.7.4 ... STARTTLS not offered"
like "$(printf '%s\n' "$r" | nth 2)" "^450 4\\.7\\.4 TLS is required but was not available: STARTTLS refused: 454 4\\.7\\.0 TLS not available" \
	"1d: server refusing STARTTLS (454) at encrypt: 450 4.7.4 ... STARTTLS refused: 454 ..."
like "$(printf '%s\n' "$r" | nth 3)" "^250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:${Y_PORT}[^)]*\\): 250 2\\.0\\.0 Ok: queued as TLS[0-9]+\$" \
	"1d: the method's own tls=may beats forward_tls_policy_maps (encrypt): delivered in plaintext"
like "$(printf '%s\n' "$r" | nth 4)" "$OK_A" "1d: a1 to A"
is "$(events_count "$P_EV" '^cmd [0-9]+ plain EHLO')/$(events_count "$P_EV" '^cmd [0-9]+ [a-z]+ (MAIL|RCPT|DATA|BDAT)')/$(dir_count_grep "$P_DIR" .)" "1/0/0" \
	"1d: the plaintext server saw EHLO but no MAIL, RCPT or DATA, and saved nothing"
is "$(events_count "$R_EV" '^cmd [0-9]+ plain STARTTLS')/$(events_count "$R_EV" '^cmd [0-9]+ [a-z]+ (MAIL|RCPT|DATA|BDAT)')/$(dir_count_grep "$R_DIR" .)" "1/0/0" \
	"1d: the refusing server saw STARTTLS but no MAIL, RCPT or DATA, and saved nothing"
is "$(events_count "$P_EV" '^cmd [0-9]+ plain QUIT')/$(events_count "$R_EV" '^cmd [0-9]+ plain QUIT')" "1/1" \
	"1d: both sessions refused for want of TLS ended with QUIT"
is "$(rcpt_at "$Y_DIR" s5@example.net z@may.example)/$(dir_count_grep "$Y_DIR" '^X-TLS: no')" "1/1" \
	"1d: tls=may towards a plaintext server: z@may.example saved, without TLS"

# ------------------------------------------- 1e. verify and secure
restart_tollgated "forward_method = $A
forward_method_maps = inline:{ {@v-ok.example = $T tls=verify tls_CAfile=$CERT},
  {@v-bad.example = $T tls=verify},
  {@s-ok.example = $T tls=secure tls_CAfile=$CERT},
  {@s-bad.example = $T tls=secure tls_CAfile=$CERT tls_match=other.example} }"
: >"$T_EV"
out=$(lmtp_deliver "$M" s6@example.net u@v-ok.example v@v-bad.example w@s-ok.example x@s-bad.example)
r=$(printf '%s\n' "$out" | replies)
OK_T="^250 2\\.0\\.0 from MTA\\(${RX_T}[^)]*\\): 250 2\\.0\\.0 Ok: queued as TLS[0-9]+\$"
like "$(printf '%s\n' "$r" | nth 1)" "$OK_T" "1e: verify with the certificate as CAfile: delivered"
like "$(printf '%s\n' "$r" | nth 2)" "^450 4\\.7\\.4 TLS is required but was not available: certificate verification failed: self-signed certificate" \
	"1e: verify against the system trust store: 450 4.7.4 ... certificate verification failed: self-signed certificate"
like "$(printf '%s\n' "$r" | nth 3)" "$OK_T" "1e: secure without a match name: the next-hop 127.0.0.1 matches the IP SAN: delivered"
like "$(printf '%s\n' "$r" | nth 4)" "^450 4\\.7\\.4 TLS is required but was not available: certificate verification failed: hostname mismatch" \
	"1e: secure with tls_match=other.example: 450 4.7.4 ... certificate verification failed: hostname mismatch"
is "$(rcpt_at "$T_DIR" s6@example.net u@v-ok.example)/$(rcpt_at "$T_DIR" s6@example.net w@s-ok.example)/$(rcpt_at "$T_DIR" s6@example.net '[vx]@[vs]-bad\.example')" "1/1/0" \
	"1e: the TLS sink saved u@v-ok and w@s-ok, nothing for the failed recipients"
is "$(events_count "$T_EV" '^cmd [0-9]+ plain (MAIL|RCPT|DATA|BDAT)')/$(events_count "$T_EV" '^cmd [0-9]+ tls MAIL')" "0/2" \
	"1e: no MAIL/RCPT/DATA in plaintext; MAIL only on the two verified sessions"
is "$(events_count "$T_EV" '^starttls [0-9]+ failed')" 2 "1e: the TLS sink saw the two failed handshakes (tollgated aborted them)"

# ====================================================== 2. sender-dependent
SDM="sender_dependent_forward_method_maps = inline:{ @special.example=$B, vip@special.example=DUNNO, <>=$B }"
restart_tollgated "forward_method = $A
$SDM"
out=$(lmtp_deliver "$M" x@special.example r2a@example.com r2b@example.org)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)/$(printf '%s\n' "$r" | nth 2)" "${OK_B%\$}/${OK_B#^}" \
	"2: sender x@special.example (@special.example): both recipients' replies name $B"
is "$(from "$B_DIR" x@special.example)/$(from "$A_DIR" x@special.example)" "1/0" "2: x@special.example's message is at B (one delivery), not at A"
out=$(lmtp_deliver "$M" vip@special.example r2c@example.com)
like "$(printf '%s\n' "$out" | replies)" "$OK_A" "2: sender vip@special.example = DUNNO: the global method (A), not @special.example's B"
is "$(from "$A_DIR" vip@special.example)/$(from "$B_DIR" vip@special.example)" "1/0" "2: vip@special.example's message is at A, not at B"
out=$(lmtp_deliver "$M" vip+news@special.example r2d@example.com)
like "$(printf '%s\n' "$out" | replies)" "$OK_A" "2: sender vip+news@special.example: looked up without extension, DUNNO: A"
out=$(lmtp_deliver "$M" other@example.net r2e@example.com)
like "$(printf '%s\n' "$out" | replies)" "$OK_A" "2: a sender the map does not know: the global method"
out=$(lmtp_deliver "$M" "" null2@example.com)
like "$(printf '%s\n' "$out" | replies)" "$OK_B" "2: the null sender, looked up as <>: $B"
is "$(rcpt_at "$B_DIR" '' null2@example.com)/$(rcpt_at "$A_DIR" '' null2@example.com)" "1/0" "2: the null sender's message is at B, not at A"
is "$(tg_log_count 'no forward method')" 0 "2: no lookup failure logged"

restart_tollgated "forward_method = $A
$SDM
empty_address_sender_key ="
out=$(lmtp_deliver "$M" "" null3@example.com)
like "$(printf '%s\n' "$out" | replies)" "$OK_A" "2: empty_address_sender_key empty: the null sender is not looked up: the global method"
is "$(rcpt_at "$A_DIR" '' null3@example.com)/$(rcpt_at "$B_DIR" '' null3@example.com)" "1/0" "2: ... its message is at A, not at B"
out=$(lmtp_deliver "$M" y@special.example r2f@example.com)
like "$(printf '%s\n' "$out" | replies)" "$OK_B" "2: ... while a sender in the map still goes to B"

restart_tollgated "forward_method = $A
$SDM
forward_method_maps = inline:{ listed@example.com=$A, dunno@example.com=DUNNO }"
out=$(lmtp_deliver "$M" z@special.example listed@example.com unlisted@example.com dunno@example.com)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)" "$OK_A" "2: forward_method_maps beats the sender map: listed@example.com to A"
like "$(printf '%s\n' "$r" | nth 2)" "$OK_B" "2: an unlisted recipient of the same message follows the sender map (B)"
like "$(printf '%s\n' "$r" | nth 3)" "$OK_B" "2: forward_method_maps DUNNO for dunno@example.com: the sender map decides (B)"
is "$(rcpt_at "$A_DIR" z@special.example listed@example.com)/$(rcpt_at "$B_DIR" z@special.example listed@example.com)/$(rcpt_at "$B_DIR" z@special.example unlisted@example.com)/$(rcpt_at "$B_DIR" z@special.example dunno@example.com)/$(rcpt_at "$A_DIR" z@special.example '(un|dunno)[a-z]*@example.com')" \
	"1/0/1/1/0" "2: listed@ at A only; unlisted@ and dunno@ at B only"

# ====================================================== 3. a failing table
REDIS_PORT=$(free_port) || bail_out "no free port"
# rconf METHOD ACTION - the config of part 3
rconf() { printf '%s\n' "forward_method = $1" \
	"forward_method_maps = inline:{ good@example.com=$A, special@example.com=$B }, redis:fwd" \
	"redis_server = 127.0.0.1:$REDIS_PORT" "redis_timeout = 1s" "redis_failure_action = $2"; }
restart_tollgated "$(rconf "$A" tempfail)"
out=$(lmtp_deliver "$M" s7@example.net good@example.com other@example.com special@example.com)
r=$(printf '%s\n' "$out" | replies)
like "$(printf '%s\n' "$r" | nth 1)" "$OK_A" "3: Redis down: good@example.com, found in the inline table first, is delivered"
like "$(printf '%s\n' "$r" | nth 2)" '^451 4\.3\.5 Error in processing, id=[0-9]+-[0-9]+: forward method lookup failed$' \
	"3: other@example.com, whose lookup reached Redis: 451 4.3.5 Error in processing ... forward method lookup failed"
like "$(printf '%s\n' "$r" | nth 3)" "$OK_B" "3: special@example.com (inline) to B"
is "$(rcpt_at "$A_DIR" s7@example.net other@example.com)/$(rcpt_at "$B_DIR" s7@example.net other@example.com)/$(rcpt_at "$A_DIR" s7@example.net good@example.com)" "0/0/1" \
	"3: nothing delivered for other@example.com; good@example.com at A"
like "$(tg_log_count '<other@example.com>: no forward method: forward_method_maps: ')" '^[1-9]' \
	"3: warning logged: <other@example.com>: no forward method: forward_method_maps: ..."

restart_tollgated "$(rconf "$A" ignore)"
out=$(lmtp_deliver "$M" s7i@example.net other@example.com)
like "$(printf '%s\n' "$out" | replies)" "$OK_A" "3: redis_failure_action = ignore: the Redis table is skipped, the global method"

# ... behind Postfix: deferred, then delivered when Redis is back
restart_tollgated "$(rconf "smtp:[127.0.0.1]:$PF_REINJECT_PORT" tempfail)"
out=$(postfix_send --file "$M" --from s8@example.net --to good@example.com --to pfother@example.com)
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "3 via Postfix: the injection smtpd accepted the message (${qid:-none})"
pf_deferred() { grep -cE "$qid: to=<pfother@example.com>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$TG_LMTP_PORT,.*status=deferred \\(host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\] said: 451 4\\.3\\.5 Error in processing, id=[0-9-]+: forward method lookup failed" "$PF_DIR/maillog"; }
wait_until '[ "$(pf_deferred)" -ge 1 ]' 30
like "$(pf_deferred)" '^[1-9]' "3 via Postfix: maillog: pfother@example.com status=deferred (... said: 451 4.3.5 ... forward method lookup failed)"
wait_until '[ "$(rcpt_at "$A_DIR" s8@example.net good@example.com)" -ge 1 ]' 20
is "$(rcpt_at "$A_DIR" s8@example.net good@example.com)/$(rcpt_at "$A_DIR" s8@example.net pfother@example.com)" "1/0" \
	"3 via Postfix: good@example.com reached sink A through the re-injection path, pfother@ did not"
wait_until '[ "$(postfix_queue_count_in deferred)" -ge 1 ]' 15
q=$(postfix_queue_json)
is "$(printf '%s\n' "$q" | grep -c "\"queue_id\": *\"$qid\".*\"queue_name\": *\"deferred\"\\|\"queue_name\": *\"deferred\".*\"queue_id\": *\"$qid\"")/$(printf '%s\n' "$q" | grep "$qid" | grep -c '"address": *"pfother@example.com"')/$(printf '%s\n' "$q" | grep "$qid" | grep -c '"address": *"good@example.com"')" \
	"1/1/0" "3 via Postfix: postqueue -j: $qid is deferred, for pfother@example.com only"
# Redis comes up (empty: nothing found, so the global method): no reload
# needed. Without redis-server, the table is skipped instead (ignore).
if command -v redis-server >/dev/null; then
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
		>"$TG_TMP/redis.log" 2>&1 &
	REDIS_PID=$!
	tg_track "$REDIS_PID"
	wait_port 127.0.0.1 "$REDIS_PORT" 10 || bail_out "redis-server did not listen on $REDIS_PORT"
else
	diag "redis-server is not installed: recovering with redis_failure_action = ignore instead"
	restart_tollgated "$(rconf "smtp:[127.0.0.1]:$PF_REINJECT_PORT" ignore)"
fi
postfix_flush
wait_until '[ "$(rcpt_at "$A_DIR" s8@example.net pfother@example.com)" -ge 1 ]' 40
is "$(rcpt_at "$A_DIR" s8@example.net pfother@example.com)" 1 "3 via Postfix: with Redis back, the deferred recipient arrives, once (the message was not lost)"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 20
is "$(postfix_queue_count)" 0 "3 via Postfix: the queue is empty"
is "$(rcpt_at "$A_DIR" s8@example.net good@example.com)" 1 "3 via Postfix: good@example.com was not delivered twice"

# ====================================================== 4. through Postfix
R4="smtp:\\[127\\.0\\.0\\.1\\]:$PF_REINJECT_PORT"
restart_tollgated "forward_method = smtp:[127.0.0.1]:$PF_REINJECT_PORT
forward_method_maps = inline:{ @tls.example=$B }"
out=$(postfix_send --file "$M" --from s9@example.net --to pa@example.com --to pb@tls.example --to pc@example.org)
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "4: the injection smtpd accepted the 3-recipient message (${qid:-none})"
pf_sent() { grep -E "$qid: to=<$1>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$TG_LMTP_PORT,.*status=sent \\(250 2\\.0\\.0 from MTA\\($2\\): 250 2\\.0\\.0 Ok(: queued as [0-9A-Za-z]+)?\\)" "$PF_DIR/maillog"; }
wait_until '[ -n "$(pf_sent pc@example.org "$R4")" ]' 30
like "$(pf_sent pa@example.com "$R4")" . "4: maillog: pa@example.com sent via amavisfeed: 250 2.0.0 from MTA(smtp:[...]:REINJECT)"
like "$(pf_sent pb@tls.example "$RX_B")" . "4: maillog: pb@tls.example sent via amavisfeed: 250 2.0.0 from MTA(smtp:[...]:B)"
like "$(pf_sent pc@example.org "$R4")" . "4: maillog: pc@example.org sent via amavisfeed: 250 2.0.0 from MTA(smtp:[...]:REINJECT)"
rq=$(pf_sent pa@example.com "$R4" | sed 's/.*queued as \([0-9A-Za-z]*\)).*/\1/')
wait_until '[ "$(rcpt_at "$A_DIR" s9@example.net pc@example.org)" -ge 1 ]' 30
like "$(grep -cE "$rq: to=<p[ac]@example\\.(com|org)>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$A_PORT,.*status=sent" "$PF_DIR/maillog")" '^2$' \
	"4: the re-injected copy ($rq) went on to the relayhost (sink A) for pa@ and pc@"
is "$(from "$A_DIR" s9@example.net)/$(rcpt_at "$A_DIR" s9@example.net pa@example.com)/$(rcpt_at "$A_DIR" s9@example.net pc@example.org)/$(rcpt_at "$A_DIR" s9@example.net pb@tls.example)" "1/1/1/0" \
	"4: sink A: one message, for pa@ and pc@, not pb@"
is "$(from "$B_DIR" s9@example.net)/$(rcpt_at "$B_DIR" s9@example.net pb@tls.example)/$(rcpt_at "$B_DIR" s9@example.net 'p[ac]@[^>]*')" "1/1/0" \
	"4: sink B: one message, for pb@tls.example only"
bf=$(find "$B_DIR" -type f ! -name '.*' -print0 | xargs -0 -r grep -l '^X-Mail-Args: <s9@example.net>' | head -n 1)
like "$(msg_headers "${bf:-/dev/null}" | grep -c '^X-Virus-Scanned: tollgate at example\.com$')" '^1$' "4: B's copy was scanned by tollgate (X-Virus-Scanned)"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 20
is "$(postfix_queue_count)" 0 "4: the Postfix queue is empty"

# force TLS for @tls.example behind Postfix: B is plaintext, so pb@ waits
restart_tollgated "forward_method = smtp:[127.0.0.1]:$PF_REINJECT_PORT
forward_method_maps = inline:{ @tls.example=$B }
forward_tls_policy_maps = inline:{ [127.0.0.1]:$B_PORT=encrypt }"
out=$(postfix_send --file "$M" --from s10@example.net --to pa@example.com --to pb@tls.example)
qid=$(printf '%s\n' "$out" | queued_as)
like "$qid" '^[0-9A-F]{6,}$' "4 TLS: accepted (${qid:-none})"
pf_tls_deferred() { grep -cE "$qid: to=<pb@tls.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$TG_LMTP_PORT,.*status=deferred \\(host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\] said: 450 4\\.7\\.4 TLS is required but was not available" "$PF_DIR/maillog"; }
wait_until '[ "$(pf_tls_deferred)" -ge 1 ]' 30
like "$(pf_tls_deferred)" '^[1-9]' "4 TLS: maillog: pb@tls.example status=deferred (... said: 450 4.7.4 TLS is required but was not available ...)"
wait_until '[ "$(rcpt_at "$A_DIR" s10@example.net pa@example.com)" -ge 1 ]' 30
is "$(rcpt_at "$A_DIR" s10@example.net pa@example.com)/$(from "$B_DIR" s10@example.net)" "1/0" "4 TLS: pa@ delivered at A, nothing at B"
wait_until '[ "$(postfix_queue_count_in deferred)" -ge 1 ]' 15
is "$(postfix_queue_json | grep "$qid" | grep -c '"address": *"pb@tls.example"')/$(postfix_queue_count)" "1/1" \
	"4 TLS: postqueue: the message waits deferred for pb@tls.example"
