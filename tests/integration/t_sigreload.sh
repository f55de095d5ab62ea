#!/bin/bash
# t_sigreload.sh - the ClamAV signature database: (a) a missing database
# stops tollgated from starting, with a message naming the path and
# clamav-freshclam; (b) signature reloads under load (SIGHUP and the
# clamav_db_check_interval poll, on a private copy of the test database)
# lose and defer nothing, and a signature added on the fly is in service;
# (c) a corrupt database is refused at reload, loudly, and the old engine
# keeps serving; once repaired it is picked up again.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

N=400
plan 29

# ------------------------------------------------------------ (a) missing database
missing=$TG_TMP/no-such-clamav-db
aport=$(free_port) || bail_out "no free port"
cat >"$TG_TMP/missing.conf" <<EOF
listen = lmtp:127.0.0.1:$aport
forward_method = smtp:[127.0.0.1]:10025
pid_file = $TG_TMP/missing.pid
tmp_dir = $TG_TMP
clamav_tmp_dir = $TG_TMP
daemon_user = nobody
myhostname = tollgate.example.com
mydomain = example.com
clamav_database = $missing
EOF
timeout 30 "$TOLLGATED" -f -c "$TG_TMP/missing.conf" >"$TG_TMP/missing.out" 2>"$TG_TMP/missing.err"
rc=$?
like "$rc" '^([1-9]|[1-9][0-9]|1[01][0-9]|12[0-3])$' "missing clamav_database: tollgated exits non-zero at once (exit $rc)"
[ "$rc" = 124 ] && diag "tollgated was still running after 30 s"
like "$(cat "$TG_TMP/missing.err")" "$missing" "its stderr names the path $missing"
like "$(cat "$TG_TMP/missing.err")" 'clamav-freshclam' "its stderr names clamav-freshclam"
check "it did not listen on 127.0.0.1:$aport" eval '! port_listening 127.0.0.1 '"$aport"
check "it left no pid file behind" test ! -e "$TG_TMP/missing.pid"
[ -s "$TG_TMP/missing.err" ] || diag "stdout was: $(head -c 500 "$TG_TMP/missing.out")"

# ------------------------------------------------------------ (b) reloads under load
start_sink
start_postfix 4
DB=$TG_TMP/clamdb
mkdir -p "$DB"
cp -p "$(tg_sigdb)"/*.[hn]db "$DB"/
chmod -R a+rX "$DB"
# a second database (another SEED) to swap in, from the project's generator
DB2=$TG_TMP/clamdb2
"$PYTHON" "$top_srcdir/tests/data/make-sigdb" "$DB2" 1000 4242 >"$TG_TMP/sigdb2.log" 2>&1 ||
	bail_out "tests/data/make-sigdb failed: $(tail -n 3 "$TG_TMP/sigdb2.log" | tr '\n' ' ')"
cmp -s "$DB2/synthetic.hdb" "$(tg_sigdb)/synthetic.hdb" && bail_out "the second seed made the same synthetic.hdb"
start_tollgated "max_servers = 4
postfix_config_directory = $PF_DIR
clamav_database = $DB
clamav_db_check_interval = 1s"
master=$TG_PID

# marker_sig N - a body signature that matches only the text TOLLGATE-RELOAD-MARKER-N
marker_text() { printf 'TOLLGATE-RELOAD-MARKER-%04d-%s' "$1" "$$"; }
marker_sig() { printf 'Tollgate.Reload.Marker.%d:0:*:%s\n' "$1" "$(marker_text "$1" | od -An -tx1 | tr -d ' \n')"; }
# put_file SRC DEST - replace DEST atomically (the master may look at any time)
put_file() { cp "$1" "$DB/.incoming.tmp" && chmod a+r "$DB/.incoming.tmp" && mv -f "$DB/.incoming.tmp" "$2"; }

t0=$SECONDS
# 20 sessions, each waiting 1 s between its messages: about 20 s of load
timeout 240 "$PF_SBIN/smtp-source" -s 20 -w 1 -m $N -l 4096 -f sender@example.net -t rcpt@example.com \
	"127.0.0.1:$PF_INJECT_PORT" >"$TG_TMP/smtp-source.log" 2>&1 &
SRC_PID=$!
tg_track "$SRC_PID"
hups=0 polls=0 i=0 last_marker=0
while pid_alive "$SRC_PID" || [ "$(count_sink)" -lt $N ]; do
	[ $((SECONDS - t0)) -ge 240 ] && break
	i=$((i + 1))
	case $((i % 3)) in
	1)  # a new signature file, then SIGHUP
		marker_sig "$i" >"$TG_TMP/extra.ndb"
		put_file "$TG_TMP/extra.ndb" "$DB/extra.ndb"
		last_marker=$i
		kill -HUP "$master" && hups=$((hups + 1)) ;;
	2)  # another change, found by clamav_db_check_interval alone
		marker_sig "$i" >"$TG_TMP/extra.ndb"
		put_file "$TG_TMP/extra.ndb" "$DB/extra.ndb"
		last_marker=$i
		polls=$((polls + 1)) ;;
	0)  # swap the synthetic signatures for another seed's, then SIGHUP
		if [ $((i % 2)) = 0 ]; then src=$DB2; else src=$(tg_sigdb); fi
		put_file "$src/synthetic.ndb" "$DB/synthetic.ndb"
		put_file "$src/synthetic.hdb" "$DB/synthetic.hdb"
		kill -HUP "$master" && hups=$((hups + 1)) ;;
	esac
	sleep 1
done
wait "$SRC_PID"
src_rc=$?
tg_untrack "$SRC_PID"
is "$src_rc" 0 "smtp-source sent $N messages into Postfix while the database changed ($hups SIGHUPs, $polls changes for the poll)"
[ "$src_rc" = 0 ] || diag_file "$TG_TMP/smtp-source.log" 10
wait_until '[ "$(count_sink)" -ge $N ]' 120
is "$(count_sink)" $N "all $N messages arrived at the sink"
diag "$(count_sink) messages in $((SECONDS - t0)) s"
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 60
is "$(postfix_queue_count)" 0 "Postfix's queue is empty"
is "$(grep -c 'status=deferred' "$PF_DIR/maillog")" 0 "the maillog has no status=deferred"
is "$(grep -E "relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$TG_LMTP_PORT" "$PF_DIR/maillog" | grep -cvE 'status=sent \(250 ')" 0 \
	"every amavisfeed delivery was status=sent (250 ...) (no 4xx, no lost connection)"
is "$(grep -cE "postfix/lmtp.*(lost connection|Connection refused|conversation with .* timed out)" "$PF_DIR/maillog")" 0 "the amavisfeed lmtp client logged no lost or refused connection"
wait_until '[ "$(tg_log_count "reloading configuration")" -ge "$hups" ]' 10
is "$(tg_log_count 'reloading configuration')" "$hups" "tollgated logged one 'reloading configuration' per SIGHUP ($hups)"
like "$(tg_log_count 'configuration reloaded: generation')" "^$hups\$" "and as many 'configuration reloaded: generation N' lines"
like "$(tg_log_count "ClamAV database $DB changed: loading it")" '^[1-9]' "the poll noticed changes: 'ClamAV database ... changed: loading it'"
like "$(tg_log_count 'ClamAV database reloaded: generation')" '^[1-9]' "and logged 'ClamAV database reloaded: generation N'"
is "$(tg_log_count 'FAILED|worker .* (died|exited)|scoreboard full')" 0 "no failed reload, no worker death"
is "$(tg_log_count 'left by an earlier run')" 0 "no reload removed the running workers' directories as if an earlier run had left them"
is "$(tg_log_count 'Passed CLEAN')" $N "$N Passed CLEAN lines"

# the last signature added is in service, and EICAR is still found
sleep 2.5   # one poll interval and a little more: the last change is loaded
printf 'From: <sender@example.net>\nTo: <rcpt@example.com>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nSubject: marker %s\nMessage-ID: <marker-%s@example.net>\n\nline one\n%s\nline three\n' \
	"$last_marker" "$$" "$(marker_text "$last_marker")" >"$TG_TMP/marker.eml"
out=$(lmtp_deliver "$TG_TMP/marker.eml" sender@example.net marker@example.com)
like "$(printf '%s\n' "$out" | after_dot | head -n 1)" \
	"^250 2\\.7\\.0 Ok, discarded, id=[0-9-]+ - INFECTED: Tollgate\\.Reload\\.Marker\\.$last_marker\\.UNOFFICIAL\$" \
	"the signature added last (Tollgate.Reload.Marker.$last_marker) is in service"
$MKMSG eicar-zip --out "$TG_TMP/eicar.eml" --subject "eicar after reloads" --message-id "eicar1-$$@example.net"
out=$(lmtp_deliver "$TG_TMP/eicar.eml" sender@example.net eicar1@example.com)
like "$(printf '%s\n' "$out" | after_dot | head -n 1)" '^250 2\.7\.0 Ok, discarded, id=[0-9-]+ - INFECTED: Eicar-Test-Signature\.UNOFFICIAL$' \
	"EICAR in a zip is still detected after the reloads"

# ------------------------------------------------------------ (c) corrupt database
printf 'bad:sig\nthis is not a signature\nbad:sig:x\n' >>"$TG_TMP/extra.ndb"
put_file "$TG_TMP/extra.ndb" "$DB/extra.ndb"
nfail0=$(tg_log_count 'ClamAV database reload FAILED')
ngen0=$(tg_log_count 'configuration reloaded: generation')
kill -HUP "$master"
wait_until '[ "$(tg_log_count "configuration reloaded: generation")" -gt "$ngen0" ] || [ "$(tg_log_count "reload failed")" -gt 0 ]' 15
like "$(grep 'ClamAV database reload FAILED' "$TG_LOG" | tail -n 1)" \
	"ClamAV database reload FAILED, the previous signatures stay in service: .*$DB" \
	"corrupt database + SIGHUP: 'ClamAV database reload FAILED, the previous signatures stay in service: ...' naming $DB"
check "the master is still running" pid_alive "$master"
$MKMSG eicar-b64 --out "$TG_TMP/eicar2.eml" --subject "eicar after a failed reload" --message-id "eicar2-$$@example.net"
out=$(lmtp_deliver "$TG_TMP/eicar2.eml" sender@example.net eicar2@example.com)
like "$(printf '%s\n' "$out" | after_dot | head -n 1)" '^250 2\.7\.0 Ok, discarded, id=[0-9-]+ - INFECTED: Eicar-Test-Signature\.UNOFFICIAL$' \
	"after the failed reload EICAR is still detected (the old engine serves)"
out=$(lmtp_deliver "$TG_TMP/marker.eml" sender@example.net marker2@example.com)
like "$(printf '%s\n' "$out" | after_dot | head -n 1)" "INFECTED: Tollgate\\.Reload\\.Marker\\.$last_marker\\.UNOFFICIAL\$" \
	"and the signatures of the old engine are all there (marker $last_marker)"
$MKMSG clean --out "$TG_TMP/clean.eml" --subject "clean after a failed reload" --message-id "clean-fail-$$@example.net"
out=$(lmtp_deliver "$TG_TMP/clean.eml" sender@example.net cleanrcpt@example.com)
like "$(printf '%s\n' "$out" | after_dot | head -n 1)" "^250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:$PF_REINJECT_PORT\\): 250 2\\.0\\.0 Ok: queued as " \
	"a clean message still passes"
wait_until '[ "$(sink_count_grep "^Message-ID: <clean-fail-$$@example.net>")" -ge 1 ]' 30
is "$(sink_count_grep "^Message-ID: <clean-fail-$$@example.net>")" 1 "and arrives at the sink"
# the poll must not retry the same broken database over and over
sleep 4
nfail=$(( $(tg_log_count 'ClamAV database reload FAILED') - nfail0 ))
like "$nfail" '^[12]$' "the broken database is not retried every poll interval ($nfail FAILED lines in 4+ s)"
[ "$nfail" = 2 ] && diag "note: the poll retried the broken database once more after the SIGHUP reload had refused it"

# repaired: the poll loads it again
marker_sig 9999 >"$TG_TMP/extra.ndb"
put_file "$TG_TMP/extra.ndb" "$DB/extra.ndb"
nrel=$(tg_log_count 'ClamAV database reloaded: generation')
wait_until '[ "$(tg_log_count "ClamAV database reloaded: generation")" -gt "$nrel" ]' 15
like "$(tg_log_count 'ClamAV database reloaded: generation')" "^$((nrel + 1))\$" "the repaired database is loaded by the poll"
sleep 0.5
printf 'From: <sender@example.net>\nTo: <rcpt@example.com>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nSubject: marker 9999\nMessage-ID: <marker9999-%s@example.net>\n\n%s\n' \
	"$$" "$(marker_text 9999)" >"$TG_TMP/marker9999.eml"
out=$(lmtp_deliver "$TG_TMP/marker9999.eml" sender@example.net marker3@example.com)
like "$(printf '%s\n' "$out" | after_dot | head -n 1)" 'INFECTED: Tollgate\.Reload\.Marker\.9999\.UNOFFICIAL$' \
	"its new signature is in service"
