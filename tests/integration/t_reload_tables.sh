#!/bin/bash
# t_reload_tables.sh - a reload re-reads every file table (lib/tables/table.h,
# daemon/master.c reload()): the texthash, regexp and pcre
# forward_method_maps, the texthash sender_dependent_forward_method_maps
# and a cidr client_ipaddr_policy (choosing a policy bank that sets
# forward_method) are edited to point to another sink, and after SIGHUP
# or "tollgate reload" the next message (over LMTP, and through a
# private Postfix) goes there. A table broken on
# purpose refuses the whole reload: error in the log and in the output of
# "tollgate reload", the generation stays, and mail keeps flowing on the
# old tables, also in workers started after the refusal (max_requests = 1
# replaces the worker after every session), including a worker that
# builds a stacked policy bank path (MYNETS,VIAC) after the refusal: it
# must share the running tables, not read the broken file (that is what
# table_generation_restore() is for). A fixed table reloads again.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE)"

plan 53

start_sink                      # A: Postfix's relayhost (re-injected mail)
start_sink_named b              # B and C: where the tables send mail
B_PORT=$NSINK_PORT B_DIR=$NSINK_DIR
start_sink_named c
C_PORT=$NSINK_PORT C_DIR=$NSINK_DIR
start_postfix 2
B="smtp:[127.0.0.1]:$B_PORT" C="smtp:[127.0.0.1]:$C_PORT"
FWD=$TG_TMP/fwd SND=$TG_TMP/sender PCRE=$TG_TMP/fwd.pcre RE=$TG_TMP/fwd.re CIDR=$TG_TMP/clients.cidr
CTL=$TG_TMP/tollgated.ctl
REINJECT="smtp:[127.0.0.1]:$PF_REINJECT_PORT"

# tables DEST - the four address tables, each sending its addresses to DEST
tables() {
	printf '# forward_method_maps\n@route.example %s\n' "$1" >"$FWD"
	printf '# sender_dependent_forward_method_maps\n@sender.example %s\n' "$1" >"$SND"
	printf '/^re@pcre\\.example$/ %s\n' "$1" >"$PCRE"
	printf '/^re@regexp\\.example$/ %s\n' "$1" >"$RE"
}
# via SENDER RCPT - the method named in tollgated's LMTP reply for RCPT
via() {
	lmtp_deliver "$M" "$1" "$2" | after_dot | sed -n 's/^250 2\.0\.0 from MTA(\([^)]*\)): .*/\1/p'
}
# arrived DIR RCPT - messages in a sink's DIR for envelope recipient RCPT
arrived() { dir_count_grep "$1" "^X-Rcpt-Args: <$2>"; }
# pf_to DIR SENDER RCPT - one message through Postfix; waits until it is in DIR
pf_to() {
	postfix_send --file "$M" --from "$2" --to "$3" >"$TG_TMP/pf.out" 2>&1
	wait_until "[ \"\$(arrived '$1' '$3')\" -ge 1 ]" 20
}
# generations - number of "configuration reloaded" log lines
generations() { tg_log_count 'configuration reloaded: generation'; }
TG() { "$TOLLGATE" "$@"; }

$MKMSG clean --out "$TG_TMP/m.eml" --to rcpt@example.com --subject "reload tables $$"
M=$TG_TMP/m.eml

tables "$B"
printf '192.0.2.0/24 VIAC\n' >"$CIDR"       # not us (yet)
start_tollgated "forward_method_maps = texthash:$FWD, pcre:$PCRE, regexp:$RE
sender_dependent_forward_method_maps = texthash:$SND
client_ipaddr_policy = cidr:$CIDR
policy_bank_VIAC = { forward_method = $C }
policy_bank_MYNETS = { spam_subject_tag = [mynets] }
max_requests = 1"

# --- the tables as started
is "$(via s@example.net u0@route.example)" "$B" "start: texthash forward_method_maps sends @route.example to B"
is "$(via s@example.net re@pcre.example)" "$B" "start: pcre forward_method_maps sends re@pcre.example to B"
is "$(via s@sender.example u0@other.example)" "$B" "start: sender_dependent_forward_method_maps sends @sender.example to B"
is "$(via s@example.net re@regexp.example)" "$B" "start: regexp forward_method_maps sends re@regexp.example to B"
is "$(via s@example.net u0@plain.example)" "$REINJECT" "start: the cidr client_ipaddr_policy does not list 127.0.0.1: the global forward_method"
pf_to "$B_DIR" s@example.net p0@route.example
is "$(arrived "$B_DIR" p0@route.example)" 1 "start: through Postfix p0@route.example reached sink B"

# --- SIGHUP after the tables changed: the new values apply
tables "$C"
kill -HUP "$TG_PID"
wait_until '[ "$(generations)" -ge 1 ]' 20
is "$(generations)" 1 "SIGHUP: configuration reloaded"
is "$(via s@example.net u1@route.example)" "$C" "SIGHUP: texthash forward_method_maps re-read: @route.example goes to C"
is "$(via s@example.net re@pcre.example)" "$C" "SIGHUP: pcre forward_method_maps re-read: re@pcre.example goes to C"
is "$(via s@sender.example u1@other.example)" "$C" "SIGHUP: sender_dependent_forward_method_maps re-read: @sender.example goes to C"
is "$(via s@example.net re@regexp.example)" "$C" "SIGHUP: regexp forward_method_maps re-read: re@regexp.example goes to C"
pf_to "$C_DIR" s@example.net p1@route.example
is "$(arrived "$C_DIR" p1@route.example)/$(arrived "$B_DIR" p1@route.example)" "1/0" \
	"SIGHUP: through Postfix p1@route.example reached sink C, not B"
pf_to "$C_DIR" ps@sender.example p1@other.example
is "$(arrived "$C_DIR" p1@other.example)/$(arrived "$B_DIR" p1@other.example)" "1/0" \
	"SIGHUP: through Postfix, mail from ps@sender.example reached sink C, not B"

# --- tollgate reload: the same, and the tool says it was accepted
tables "$B"
out=$(TG reload -s "$CTL" 2>&1); rc=$?
is "$rc" 0 "tollgate reload: exit 0"
like "$out" "^reloading: configuration and tables accepted, generation [0-9]+\$" "tollgate reload: 'reloading: configuration and tables accepted, generation N' ($out)"
wait_until '[ "$(generations)" -ge 2 ]' 20
is "$(via s@example.net u2@route.example)" "$B" "tollgate reload: @route.example back to B"
is "$(via s@sender.example u2@other.example)" "$B" "tollgate reload: @sender.example back to B"

# --- a broken texthash refuses the reload as a whole
printf '@route.example %s\nbroken-line-without-a-value\n' "$C" >"$FWD"
printf '@sender.example %s\n' "$C" >"$SND"          # good, but must not apply either
out=$(TG reload -s "$CTL" 2>&1); rc=$?
is "$rc" 1 "broken texthash: tollgate reload exits 1"
like "$out" "reload refused, the running configuration stays: forward_method_maps: .*$FWD:2: expected \"key whitespace value\"" \
	"broken texthash: tollgate reload prints the refusal with file:line ($out)"
like "$(grep 'reload failed' "$TG_LOG" | tail -n 1)" "reload failed, old configuration stays: forward_method_maps: .*$FWD:2: " \
	"broken texthash: the log says the reload failed, naming $FWD:2"
is "$(generations)" 2 "broken texthash: no new generation"
is "$(via s@example.net u3@route.example)" "$B" "broken texthash: @route.example still goes to B (old table)"
is "$(via s@sender.example u3@other.example)" "$B" "broken texthash: the sender map, valid but part of the refused reload, still says B"
pf_to "$B_DIR" s@example.net p3@route.example
is "$(arrived "$B_DIR" p3@route.example)/$(arrived "$C_DIR" p3@route.example)" "1/0" \
	"broken texthash: through Postfix p3@route.example still reached sink B"
is "$(via s@example.net u3b@route.example)" "$B" "broken texthash: again, in yet another new worker"

# --- a broken pcre table, by SIGHUP
tables "$B"
printf '/^re@pcre\\.example$/ %s\n/(unclosed/ %s\n' "$C" "$C" >"$PCRE"
fails=$(tg_log_count 'reload failed')
kill -HUP "$TG_PID"
wait_until '[ "$(tg_log_count "reload failed")" -gt "$fails" ]' 20
like "$(grep 'reload failed' "$TG_LOG" | tail -n 1)" "reload failed, old configuration stays: forward_method_maps: .*$PCRE:2: " \
	"broken pcre + SIGHUP: the log names $PCRE:2"
is "$(generations)" 2 "broken pcre: no new generation"
is "$(via s@example.net re@pcre.example)" "$B" "broken pcre: re@pcre.example still goes to B"

# --- a broken sender-dependent table
tables "$C"
printf '@sender.example\n' >"$SND"
out=$(TG reload -s "$CTL" 2>&1); rc=$?
is "$rc" 1 "broken sender map: tollgate reload exits 1"
like "$out" "reload refused, the running configuration stays: sender_dependent_forward_method_maps: .*$SND:1: " \
	"broken sender map: tollgate reload names the map and $SND:1 ($out)"
is "$(generations)" 2 "broken sender map: no new generation"
is "$(via s@sender.example u4@other.example)" "$B" "broken sender map: @sender.example still goes to B"
is "$(via s@example.net u4@route.example)" "$B" "broken sender map: @route.example, valid in the refused reload, still goes to B"
pf_to "$B_DIR" ps@sender.example p4@other.example
is "$(arrived "$B_DIR" p4@other.example)/$(arrived "$C_DIR" p4@other.example)" "1/0" \
	"broken sender map: through Postfix, mail from ps@sender.example still reached sink B"

# --- fixed: the next reload reads the files again
tables "$C"
out=$(TG reload -s "$CTL" 2>&1); rc=$?
is "$rc" 0 "fixed tables: tollgate reload exits 0 ($out)"
wait_until '[ "$(generations)" -ge 3 ]' 20
is "$(generations)" 3 "fixed tables: configuration reloaded"
is "$(via s@example.net u5@route.example)" "$C" "fixed tables: @route.example goes to C"
is "$(via s@example.net re@pcre.example)" "$C" "fixed tables: re@pcre.example goes to C"
is "$(via s@sender.example u5@other.example)" "$C" "fixed tables: @sender.example goes to C"
pf_to "$C_DIR" s@example.net p5@route.example
is "$(arrived "$C_DIR" p5@route.example)" 1 "fixed tables: through Postfix p5@route.example reached sink C"
is "$(via s@example.net re@regexp.example)" "$C" "fixed tables: re@regexp.example goes to C"

# --- a cidr table (client_ipaddr_policy): re-read, and refused when broken
printf '127.0.0.0/8 VIAC\n' >"$CIDR"
out=$(TG reload -s "$CTL" 2>&1); rc=$?
is "$rc" 0 "cidr now lists 127.0.0.0/8: tollgate reload exits 0 ($out)"
wait_until '[ "$(generations)" -ge 4 ]' 20
is "$(via s@example.net u6@plain.example)" "$C" "cidr re-read: the client is in bank VIAC, whose forward_method is C"
pf_to "$C_DIR" s@example.net p6@plain.example
is "$(arrived "$C_DIR" p6@plain.example)" 1 "cidr re-read: through Postfix p6@plain.example reached sink C"
printf '127.0.0.0/33 VIAC\n' >"$CIDR"
out=$(TG reload -s "$CTL" 2>&1); rc=$?
is "$rc" 1 "broken cidr: tollgate reload exits 1"
like "$out" "reload refused, the running configuration stays: client_ipaddr_policy: .*$CIDR:1: " \
	"broken cidr: tollgate reload names client_ipaddr_policy and $CIDR:1 ($out)"
is "$(generations)" 4 "broken cidr: no new generation"
is "$(via s@example.net u7@plain.example)" "$C" "broken cidr: the client is still in bank VIAC"

# --- a refused reload while a stacked bank path (MYNETS,VIAC: built in
# each worker when first used) is in use: the worker shares the running
# tables instead of reading the broken file
printf '@route.example %s\nbroken-line-without-a-value\n' "$B" >"$FWD"
out=$(TG reload -s "$CTL" 2>&1); rc=$?
is "$rc" 1 "broken texthash again: tollgate reload exits 1"
is "$(via s@example.net u8@route.example)" "$C" "stacked bank path built in a new worker after the refusal: @route.example still goes to C"
is "$(via s@example.net u8@plain.example)" "$C" "stacked bank path after the refusal: bank VIAC still applies"
check "the stacked path MYNETS,VIAC was used" grep -qE 'MYNETS,VIAC|MYNETS VIAC' "$TG_LOG"
is "$(tg_log_count 'died of signal|exited with status [^0]')" 0 "no worker died"
