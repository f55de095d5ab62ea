#!/bin/bash
# t_explain.sh - "tollgate explain" tells what a worker does: each case
# is explained (--json) and then delivered for real through a running
# tollgated with the same configuration, and the two must agree: the
# reply line per recipient (modulo the am_id and the downstream's own
# words after "Ok"), the sink the route leads to, the policy banks. And
# explain itself does nothing: no sink delivery, no quarantine file, no
# DSN, Redis untouched (its key count; a real delivery does change it).
#   destinies  pass, discard (quarantined), bounce (a DSN), reject
#   routes     the global forward_method, forward_method_maps,
#              sender_dependent_forward_method_maps (and DUNNO), a
#              policy bank's forward_method
#   banks      interface_policy (listener), client_ipaddr_policy (client
#              IP), MYNETS (--client in mynetworks), sasl_policy_bank
#              (milter listener, --sasl; for real: Postfix with SASL AUTH)
#   redis      state_redis_server with rate_limit_maps: explain says the
#              limit was not consulted and leaves the keys alone
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
require_file "$TOLLGATE"

# shellcheck disable=SC2119
start_sink
A_PORT=$SINK_PORT A_DIR=$SINK_DIR
start_sink_named b
B_PORT=$NSINK_PORT B_DIR=$NSINK_DIR
start_sink_named c
C_PORT=$NSINK_PORT C_DIR=$NSINK_DIR
A="smtp:[127.0.0.1]:$A_PORT" B="smtp:[127.0.0.1]:$B_PORT" C="smtp:[127.0.0.1]:$C_PORT"
Q=$TG_TMP/quarantine
STRICT_PORT=$(free_port) && MPORT=$(free_port) || bail_out "no free port"
TG_LMTP_PORT=$(free_port) || bail_out "no free port"

for k in clean eicar-b64 banned-zip; do
	$MKMSG "$k" --out "$TG_TMP/$k.eml" --to rcpt@example.com --subject "explain $k $$" --message-id "$k-$$@example.net"
done
CLEAN=$TG_TMP/clean.eml VIRUS=$TG_TMP/eicar-b64.eml BANNED=$TG_TMP/banned-zip.eml

# explain ARGS... - tollgate explain --json with the running configuration
explain() { "$TOLLGATE" explain -c "$TG_CONF" --json "$@" 2>>"$TG_TMP/explain.err"; }
# jget JSON EXPR - a value of explain's JSON object j (a Python expression); "" for null
jget() {
	printf '%s' "$1" | $PYTHON -c 'import json, sys
try:
    j = json.load(sys.stdin)
    v = eval(sys.argv[1])
except Exception as e:
    v = "(bad JSON: %s)" % e
print("" if v is None else v)' "$2"
}
# norm - a reply without the am_id and without what the downstream said after "Ok"
norm() { sed -E 's/id=[0-9]+-[0-9]+/id=ID/; s/^(250 2\.0\.0 from MTA\([^)]*\): 250 2\.0\.0 Ok).*/\1/'; }
# files - everything explain must not write: the sinks' messages and the quarantine
files() { find "$A_DIR" "$B_DIR" "$C_DIR" "$Q" -type f ! -name '.*' 2>/dev/null | wc -l; }
# deliver PORT FILE FROM XF-ADDR RCPT... - one LMTP transaction (XFORWARD ADDR
# when given); the per-recipient replies
deliver() {
	local port=$1 file=$2 from=$3 xf=$4 r
	shift 4
	{
		echo "<"
		echo "= LHLO client.example.net"
		[ -n "$xf" ] && echo "= XFORWARD ADDR=$xf"
		echo "= MAIL FROM:<$from>"
		for r in "$@"; do echo "= RCPT TO:<$r>"; done
		echo "= DATA"
		echo "data $file"
		echo "<$#"
		echo "= QUIT"
	} | $SMTPCLIENT script 127.0.0.1 "$port" | after_dot | grep -v '^221 '
}
# at DIR FROM RCPT - messages in DIR from FROM to RCPT
at() { find "$1" -type f ! -name '.*' -print0 2>/dev/null | xargs -0 -r grep -lE -- "^X-Mail-Args: <$2>" |
	xargs -r grep -lE -- "^X-Rcpt-Args: <$3>" | wc -l; }

# agree LABEL PORT FILE FROM CLIENT RCPT... - explain (EX) and deliver
# (REAL); asserts explain wrote nothing and that each recipient's reply
# is the same
agree() {
	local label=$1 port=$2 file=$3 from=$4 client=$5 before i n r
	local -a args=(--listener "$port" --from "$from")
	shift 5
	[ -n "$client" ] && args+=(--client "$client")
	for r in "$@"; do args+=(--to "$r"); done
	before=$(files)
	EX=$(explain "${args[@]}" "$file")
	is "$(files)" "$before" "$label: explain wrote nothing (sinks, quarantine)"
	REAL=$(deliver "$port" "$file" "$from" "$client" "$@")
	n=0
	for r in "$@"; do
		is "$(jget "$EX" "j['recipients'][$n]['reply']" | norm)" "$(printf '%s\n' "$REAL" | sed -n "$((n + 1))p" | norm)" \
			"$label: <$r>: explain's reply is the worker's"
		n=$((n + 1))
	done
}

# ====================================================== destinies
start_tollgated "forward_method = $A
quarantine_dir = $Q
final_banned_destiny = bounce
notify_method = $C"

agree "pass" "$TG_LMTP_PORT" "$CLEAN" s-pass@example.net "" r-pass@example.com
is "$(jget "$EX" "j['recipients'][0]['destiny']")/$(jget "$EX" "j['recipients'][0]['destiny_by']")" \
	"PASS/clean: nothing blocks it" "pass: destiny PASS, nothing blocks it"
like "$(printf '%s\n' "$REAL" | head -n 1)" "^250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:$A_PORT\\): 250 2\\.0\\.0 Ok" \
	"pass: the worker relayed it"
wait_until '[ "$(at "$A_DIR" s-pass@example.net r-pass@example.com)" -ge 1 ]' 10
is "$(at "$A_DIR" s-pass@example.net r-pass@example.com)" 1 "pass: one copy at the sink, the real delivery's"
f=$(find "$A_DIR" -type f -print0 | xargs -0 grep -l "^X-Mail-Args: <s-pass@example.net>" | head -n 1)
is "$(msg_headers "${f:-/dev/null}" | grep -m1 '^X-Virus-Scanned:')" "$(jget "$EX" "j['recipients'][0]['headers'][0]")" \
	"pass: the X-Virus-Scanned header explain shows is the delivered copy's"

qbefore=$(find "$Q" -type f -name 'virus-*' 2>/dev/null | wc -l)
agree "discard" "$TG_LMTP_PORT" "$VIRUS" s-disc@example.net "" r-disc@example.com
is "$(jget "$EX" "j['recipients'][0]['destiny']")/$(jget "$EX" "j['recipients'][0]['destiny_by']")" \
	"DISCARD/final_virus_destiny = discard" "discard: destiny DISCARD by final_virus_destiny = discard"
like "$(jget "$EX" "j['scanners']['clamav']")" '^INFECTED: Eicar-Test-Signature' "discard: ClamAV's verdict is named"
like "$(jget "$EX" "j['quarantine']")" "^$Q/virus-[A-Za-z0-9_-]+\$" "discard: explain names the quarantine file it would write"
like "$(printf '%s\n' "$REAL" | head -n 1)" '^250 2\.7\.0 Ok, discarded, id=[0-9]+-[0-9]+ - INFECTED: ' \
	"discard: the worker's reply is 250 2.7.0 Ok, discarded"
is "$(find "$Q" -type f -name 'virus-*' | wc -l)" "$((qbefore + 1))" "discard: one quarantine file, the real delivery's"
is "$(at "$A_DIR" s-disc@example.net r-disc@example.com)" 0 "discard: nothing at the sink"

agree "bounce" "$TG_LMTP_PORT" "$BANNED" s-bounce@example.net "" r-bounce@example.com
is "$(jget "$EX" "j['recipients'][0]['destiny']")/$(jget "$EX" "j['recipients'][0]['destiny_by']")" \
	"BOUNCE/final_banned_destiny = bounce" "bounce: destiny BOUNCE by final_banned_destiny = bounce"
like "$(jget "$EX" "j['dsn']")" '^to <s-bounce@example.net>' "bounce: explain says a DSN would go to the sender"
like "$(printf '%s\n' "$REAL" | head -n 1)" '^250 2\.5\.0 Ok <r-bounce@example.com>, DSN was sent' \
	"bounce: the worker's reply is 250 2.5.0 ... DSN was sent"
wait_until '[ "$(at "$C_DIR" "" s-bounce@example.net)" -ge 1 ]' 10
is "$(at "$C_DIR" "" s-bounce@example.net)" 1 "bounce: one DSN at notify_method's sink, the real delivery's"

stop_tollgated
start_tollgated "forward_method = $A
final_virus_destiny = reject
virus_lovers_maps = inline:{ lover@example.com=yes }"
agree "reject" "$TG_LMTP_PORT" "$VIRUS" s-rej@example.net "" r-rej@example.com lover@example.com
is "$(jget "$EX" "j['recipients'][0]['destiny']")/$(jget "$EX" "j['recipients'][0]['destiny_by']")" \
	"REJECT/final_virus_destiny = reject" "reject: destiny REJECT by final_virus_destiny = reject"
like "$(printf '%s\n' "$REAL" | head -n 1)" '^554 5\.7\.0 Reject, id=[0-9]+-[0-9]+ - INFECTED: ' "reject: the worker's reply is 554 5.7.0 Reject"
is "$(jget "$EX" "j['recipients'][1]['destiny']")/$(jget "$EX" "j['recipients'][1]['destiny_by']")" \
	"PASS/virus_lovers_maps (Virus)" "reject: the lover passes by virus_lovers_maps"
like "$(jget "$EX" "'|'.join(j['recipients'][1]['headers'])")" 'X-Amavis-Alert: INFECTED' \
	"reject: explain shows the lover's X-Amavis-Alert header"
wait_until '[ "$(at "$A_DIR" s-rej@example.net lover@example.com)" -ge 1 ]' 10
f=$(find "$A_DIR" -type f -print0 | xargs -0 grep -l "^X-Mail-Args: <s-rej@example.net>" | head -n 1)
like "$(msg_headers "${f:-/dev/null}" | grep '^X-Amavis-Alert:')" '^X-Amavis-Alert: INFECTED' \
	"reject: the lover's delivered copy has that X-Amavis-Alert"

# ====================================================== routes
stop_tollgated
start_tollgated "forward_method = $A
forward_method_maps = inline:{ @b.example=$B }
sender_dependent_forward_method_maps = inline:{ @c.example=$C, @dunno.example=DUNNO }"
# route LABEL FROM RCPT DIR METHOD SOURCE KEY - one route case, the mail at DIR
route() {
	local rt_from=$2 rt_rcpt=$3 rt_dir=$4
	agree "$1" "$TG_LMTP_PORT" "$CLEAN" "$2" "" "$3"
	is "$(jget "$EX" "j['recipients'][0]['forward_method']")|$(jget "$EX" "j['recipients'][0]['method_by']")|$(jget "$EX" "j['recipients'][0]['method_key']")" \
		"$5|$6|$7" "$1: explain routes to $5 by $6${7:+, key $7}"
	wait_until '[ "$(at "$rt_dir" "$rt_from" "$rt_rcpt")" -ge 1 ]' 10
	is "$(at "$A_DIR" "$2" "$3")$(at "$B_DIR" "$2" "$3")$(at "$C_DIR" "$2" "$3")" \
		"$([ "$4" = "$A_DIR" ] && echo 1 || echo 0)$([ "$4" = "$B_DIR" ] && echo 1 || echo 0)$([ "$4" = "$C_DIR" ] && echo 1 || echo 0)" \
		"$1: the real delivery went to that sink only"
}
route "global" s@x.example r@a.example "$A_DIR" "$A" forward_method ""
route "per-recipient map" s@x.example r@b.example "$B_DIR" "$B" forward_method_maps @b.example
route "sender map" s@c.example r2@a.example "$C_DIR" "$C" sender_dependent_forward_method_maps @c.example
route "sender map DUNNO" s@dunno.example r3@a.example "$A_DIR" "$A" forward_method ""
is "$(jget "$EX" "j['recipients'][0]['dunno']")" "sender_dependent_forward_method_maps: @dunno.example = DUNNO" \
	"sender map DUNNO: explain names the DUNNO it passed over"
is "$(jget "$EX" "j['recipients'][0]['tls']")/$(jget "$EX" "j['recipients'][0]['tls_by']")" "none/forward_tls_security_level" \
	"sender map DUNNO: TLS none by forward_tls_security_level"

# ====================================================== policy banks
stop_tollgated
start_tollgated "listen = lmtp:127.0.0.1:$TG_LMTP_PORT lmtp:127.0.0.1:$STRICT_PORT milter:127.0.0.1:$MPORT
max_servers = 4
forward_method = $A
mynetworks = 198.51.100.0/24
interface_policy = inline:{ $STRICT_PORT=STRICT }
policy_bank_STRICT = { final_virus_destiny = reject }
client_ipaddr_policy = inline:{ 192.0.2.7=TRUSTED }
policy_bank_TRUSTED = { virus_lovers_maps = inline:{ .=yes } }
policy_bank_MYNETS = { forward_method = $B }
sasl_policy_bank = AUTHUSERS
policy_bank_AUTHUSERS = { bypass_banned_checks_maps = inline:{ .=yes } }"

agree "listener" "$STRICT_PORT" "$VIRUS" s-if@example.net "" r-if@example.com
is "$(jget "$EX" "j['banks']['path']")|$(jget "$EX" "j['banks']['why'][0]")" "STRICT|STRICT: interface_policy $STRICT_PORT = STRICT" \
	"listener: bank STRICT, chosen by interface_policy (the port)"
like "$(printf '%s\n' "$REAL" | head -n 1)" '^554 5\.7\.0 Reject' "listener: the worker rejected it too (STRICT's destiny)"
check "listener: the worker's log line names STRICT" grep -qE 'Blocked INFECTED .*STRICT .*<s-if@example.net>' "$TG_LOG"

agree "client IP" "$TG_LMTP_PORT" "$VIRUS" s-ip@example.net 192.0.2.7 r-ip@example.com
is "$(jget "$EX" "j['banks']['path']")|$(jget "$EX" "j['banks']['why'][0]")|$(jget "$EX" "j['recipients'][0]['destiny_by']")" \
	"TRUSTED|TRUSTED: client_ipaddr_policy 192.0.2.7 = TRUSTED|virus_lovers_maps (Virus)" \
	"client IP: bank TRUSTED by client_ipaddr_policy; its virus_lovers_maps passes the virus"
wait_until '[ "$(at "$A_DIR" s-ip@example.net r-ip@example.com)" -ge 1 ]' 10
is "$(at "$A_DIR" s-ip@example.net r-ip@example.com)" 1 "client IP: the worker delivered it"

agree "MYNETS" "$TG_LMTP_PORT" "$CLEAN" s-my@example.net 198.51.100.5 r-my@example.com
is "$(jget "$EX" "j['banks']['path']")|$(jget "$EX" "j['banks']['mynets']")|$(jget "$EX" "j['recipients'][0]['forward_method']")|$(jget "$EX" "j['recipients'][0]['method_by']")" \
	"MYNETS|True|$B|forward_method of policy bank MYNETS" \
	"MYNETS: --client in mynetworks selects MYNETS, whose forward_method routes to sink B"
wait_until '[ "$(at "$B_DIR" s-my@example.net r-my@example.com)" -ge 1 ]' 10
is "$(at "$A_DIR" s-my@example.net r-my@example.com)/$(at "$B_DIR" s-my@example.net r-my@example.com)" "0/1" \
	"MYNETS: the worker delivered it to sink B"
agree "no bank" "$TG_LMTP_PORT" "$CLEAN" s-none@example.net "" r-none@example.com
is "$(jget "$EX" "j['banks']['path']")|$(jget "$EX" "j['recipients'][0]['forward_method']")" "|$A" \
	"no bank: client 127.0.0.1 is not in mynetworks: no bank, the global method"

# SASL: a Postfix smtpd with SASL AUTH and our milter; banned content is
# discarded without AUTH and delivered after it (AUTHUSERS bypasses banned checks)
start_postfix 1
sasl_setup alice 'Secret-42'
SASL_PORT=$(free_port) || bail_out "no free port"
postfix_add_smtpd "$SASL_PORT" content_filter= "smtpd_milters=inet:127.0.0.1:$MPORT" milter_default_action=tempfail \
	milter_protocol=6 milter_content_timeout=120s "${SASL_SMTPD_OPTS[@]}"
for n in auth noauth; do
	$MKMSG banned-zip --out "$TG_TMP/b-$n.eml" --to rcpt@example.com --subject "explain sasl $n $$" --message-id "sasl-$n-$$@example.net"
done
# smtp_session FILE RCPT [AUTH-PLAIN-ARG] - one SMTP transaction through the SASL smtpd
smtp_session() {
	{
		echo "<"
		echo "= EHLO client.example.net"
		[ -n "${3:-}" ] && echo "= AUTH PLAIN $3"
		echo "= MAIL FROM:<s-sasl@example.net>"
		echo "= RCPT TO:<$2>"
		echo "= DATA"
		echo "data $1"
		echo "<"
		echo "= QUIT"
	} | $SMTPCLIENT script 127.0.0.1 "$SASL_PORT" | after_dot | grep -v '^221 ' | tail -n 1
}
before=$(files)
EX=$(explain --listener "milter:127.0.0.1:$MPORT" --from s-sasl@example.net --to r-auth@example.com --sasl alice "$TG_TMP/b-auth.eml")
EX2=$(explain --listener "milter:127.0.0.1:$MPORT" --from s-sasl@example.net --to r-noauth@example.com "$TG_TMP/b-noauth.eml")
is "$(files)" "$before" "SASL: explain wrote nothing"
is "$(jget "$EX" "j['banks']['path']")|$(jget "$EX" "j['banks']['why'][0]")|$(jget "$EX" "j['milter']['action']")" \
	"AUTHUSERS|AUTHUSERS: sasl_policy_bank (SASL login alice)|accept" \
	"SASL: --sasl alice selects AUTHUSERS by sasl_policy_bank; the milter would accept"
is "$(jget "$EX2" "j['banks']['path']")|$(jget "$EX2" "j['milter']['action']")|$(jget "$EX2" "j['recipients'][0]['destiny']")" \
	"|discard|DISCARD" "SASL: without --sasl no bank; banned: the milter would discard"
like "$(smtp_session "$TG_TMP/b-noauth.eml" r-noauth@example.com)" '^250 ' "SASL: without AUTH Postfix answers 250 (discarded)"
like "$(smtp_session "$TG_TMP/b-auth.eml" r-auth@example.com "$(auth_plain alice 'Secret-42')")" '^250 ' "SASL: with AUTH: 250"
wait_until '[ "$(at "$A_DIR" s-sasl@example.net r-auth@example.com)" -ge 1 ]' 30
is "$(at "$A_DIR" s-sasl@example.net r-auth@example.com)/$(at "$A_DIR" s-sasl@example.net r-noauth@example.com)" "1/0" \
	"SASL: for real too, delivered after AUTH only"
check "SASL: the worker's log line names AUTHUSERS" grep -qE 'Passed .*AUTHUSERS.*<s-sasl@example.net> -> <r-auth@example.com>' "$TG_LOG"
stop_postfix

# ====================================================== Redis untouched
start_redis
stop_tollgated
start_tollgated "forward_method = $A
state_redis_server = 127.0.0.1:$REDIS_PORT
rate_limit_maps = inline:{ { client:127.0.0.1 = 100/1h tempfail } }"
rkeys() { redis-cli -p "$REDIS_PORT" dbsize; }
k0=$(rkeys)
agree "redis" "$TG_LMTP_PORT" "$CLEAN" s-redis@example.net "" r-redis@example.com
like "$(jget "$EX" "'|'.join(j['notes'])")" 'rate_limit_maps not consulted' \
	"redis: explain says the rate limit was not consulted"
k1=$(rkeys)
"$TOLLGATE" explain -c "$TG_CONF" --from s-redis@example.net --to r-redis@example.com "$CLEAN" >/dev/null 2>&1
is "$(rkeys)" "$k1" "redis: explain leaves the key count alone"
check "redis: the real delivery did write Redis ($k0 -> $k1 keys)" test "$k1" -gt "$k0"
out=$("$TOLLGATE" explain -c "$TG_CONF" --from s-redis@example.net --to r-redis@example.com "$CLEAN" 2>&1)
like "$out" 'notes: +rate_limit_maps not consulted' "redis: the text output has the not-consulted line"

done_testing
