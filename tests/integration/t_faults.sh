#!/bin/bash
# t_faults.sh - faults along the whole chain (injection smtpd -> amavisfeed
# lmtp -> tollgated -> re-injection/downstream -> sink) lose no mail: every
# message sent is delivered exactly once, or at least once where the fault
# allows a duplicate (reported as a diag), or dropped by policy; counted at
# the sink and in Postfix's queue, which is empty at the end after a flush.
#
#   A. SIGKILL of the master while messages flow: the workers finish their
#      session and exit, Postfix defers the rest, a restarted master (same
#      config and ports) serves them.
#   (B-D run without the forward connection cache: a failure on a cached
#   connection is retried once on a new one, which would hide the fault)
#   B. the downstream SIGSTOPped past forward_command_timeout (5s): 4xx, the
#      mail stays queued; after SIGCONT and a flush it arrives once.
#   C. downstream slow: 354 later than forward_command_timeout (4xx, then
#      once), 250 after the dot later than forward_data_done_timeout (4xx,
#      then at least once: the downstream already had it).
#   D. downstream answers 421 to MAIL, or closes the connection mid-DATA:
#      4xx, then once.
#   E. tmp_dir full (a 1 MB tmpfs, spool_memory_limit = 0): a 2 MB message
#      gets 451 4.3.0 and nothing reaches the sink (no truncated copy), no
#      spool file is left behind, a small message still passes; with room
#      again, the big one arrives once, byte for byte.
#   F. Redis killed and restarted while mail flows, with a redis: table in
#      use (virus_lovers_maps = redis:lovers, redis_failure_action =
#      tempfail): 4xx while it is down, everything delivered once after.
#   A corrupt signature database before a reload is t_sigreload.sh's, a
#   worker stalled past child_timeout t_master.sh's.
# Before each count of copies the chain settles (lib.sh settle: Postfix's
# queue idle and the count unchanged for 3 s), so a late duplicate counts.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd redis-server redis-server
require_cmd redis-cli redis-tools

plan 35
start_sink
start_faultsink 8 1
start_postfix 2
BASE="max_servers = 2
child_timeout = 60s"
start_tollgated "$BASE"

# send_batch TAG N GAP - N messages into the injection smtpd, GAP seconds
# apart, Message-ID <TAG-I-PID@example.net>; accepted ones are counted in
# $TG_TMP/TAG.accepted
send_batch() {
	local i
	: >"$TG_TMP/$1.accepted"
	for ((i = 1; i <= $2; i++)); do
		if postfix_send --to "u$i@example.com" --message-id "$1-$i-$$@example.net" --subject "$1 $i" 2>&1 |
			grep -c '^S: 250 .*queued as' >/dev/null; then echo "$i" >>"$TG_TMP/$1.accepted"; fi
		sleep "$3"
	done
}
accepted() { grep -c . "$TG_TMP/$1.accepted"; }

# tally DIR TAG N - copies of each <TAG-I-PID@example.net> in DIR (the sink
# or the fault sink), once the chain has settled; sets MISSING (ids with no
# copy) and DUPS (extra copies)
tally() {
	local dir=$1 tag=$2 n=$3
	settle 3 60 "find '$dir' -type f ! -name '.*' | wc -l"
	find "$dir" -type f ! -name '.*' -print0 | xargs -0 -r grep -h "^Message-ID: <$tag-[0-9]*-$$@" |
		sed 's/^Message-ID: <\([^>]*\)>.*/\1/' | sort | uniq -c >"$TG_TMP/tally.$tag"
	MISSING=0 DUPS=0
	local i c
	for ((i = 1; i <= n; i++)); do
		c=$(awk -v id="$tag-$i-$$@example.net" '$2 == id { print $1 }' "$TG_TMP/tally.$tag")
		if [ -z "$c" ]; then MISSING=$((MISSING + 1)); else DUPS=$((DUPS + c - 1)); fi
	done
}
delivered() { find "$1" -type f ! -name '.*' -print0 | xargs -0 -r grep -h "^Message-ID: <$2-[0-9]*-$$@" | sort -u | wc -l; }

# deferred_4xx QID - the maillog line of QID deferred by tollgated with a 4xx
deferred_4xx() {
	grep -E "$1: to=<[^>]*>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$TG_LMTP_PORT,.*status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 4[0-9][0-9] " \
		"$PF_DIR/maillog" | head -n 1
}
said() { sed -n 's/.*said: \(4[0-9][0-9] [0-9.]* [^(]*\).*/\1/p' | cut -c1-100; }

# one MSGID [FROM] - one message into the injection smtpd; prints its queue id
one() { postfix_send --from "${2:-sender@example.net}" --to user@example.com --message-id "$1" --subject "$1" | queued_as; }

# drain_queue SECS - flush until Postfix's queue is empty
drain_queue() {
	local deadline=$((SECONDS + $1))
	while [ "$(postfix_queue_count)" -gt 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
		postfix_flush
		sleep 3
	done
	[ "$(postfix_queue_count)" -eq 0 ]
}

# ====================================================== A. SIGKILL of the master
send_batch mkill 30 0.15 &
bpid=$!
wait_until '[ "$(delivered "$SINK_DIR" mkill)" -ge 5 ]' 60
old_workers=$(tollgated_workers | tr '\n' ' ')
old_master=$TG_PID
kill -KILL "$TG_PID"
wait "$TG_PID" 2>/dev/null
if [ -n "$old_workers" ] && ! pid_alive "$old_master"; then
	ok "A: SIGKILLed the master $old_master while mail flows ($(delivered "$SINK_DIR" mkill) of 30 delivered so far; workers $old_workers)"
else not_ok "A: SIGKILLed the master while mail flows (master $old_master alive: $(pid_alive "$old_master" && echo yes || echo no), workers '$old_workers')"; fi
# shellcheck disable=SC2086
if wait_gone 30 $old_workers; then ok "A: its workers finished their sessions and exited"
else not_ok "A: its workers finished their sessions and exited"
	diag "still there: $(for p in $old_workers; do pid_alive "$p" && printf '%s (%s) ' "$p" "$(proc_title "$p" | tr -s ' ')"; done)"
	# shellcheck disable=SC2086
	kill -KILL $old_workers 2>/dev/null
fi
tg_untrack "$old_master"
TG_PID=
if wait_until "! port_listening 127.0.0.1 $TG_LMTP_PORT" 10; then ok "A: nobody listens on the LMTP port any more"
else not_ok "A: nobody listens on the LMTP port any more"; fi
wait "$bpid"
is "$(accepted mkill)" 30 "A: the injection smtpd accepted all 30 messages"
wait_until '[ "$(postfix_queue_count)" -ge $((30 - $(delivered "$SINK_DIR" mkill))) ]' 10
diag "A: before the restart: $(delivered "$SINK_DIR" mkill) delivered, $(postfix_queue_count) in Postfix's queue"
start_tollgated "$BASE"
if wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10 && port_listening 127.0.0.1 "$TG_LMTP_PORT"; then
	ok "A: a new master started with the same config and ports (pid $TG_PID, 2 workers)"
else not_ok "A: a new master started with the same config and ports"; diag "workers: $(tollgated_workers | tr '\n' ' ')"; fi
drain_queue 120
wait_until '[ "$(delivered "$SINK_DIR" mkill)" -ge 30 ]' 30
tally "$SINK_DIR" mkill 30
is "$MISSING/$DUPS" "0/0" "A: all 30 delivered exactly once (missing/duplicates)"
is "$(postfix_queue_count)" 0 "A: Postfix's queue is empty"

# ====================================================== B. downstream SIGSTOPped
stop_tollgated
FWD="forward_method = smtp:[127.0.0.1]:$FAULT_PORT
forward_command_timeout = 5s
forward_data_done_timeout = 5s
forward_connection_cache_time = 0"
start_tollgated "$BASE
$FWD"
one "warm-1-$$@example.net" >/dev/null
wait_until '[ "$(delivered "$FAULT_DIR" warm)" -ge 1 ]' 30
is "$(delivered "$FAULT_DIR" warm)" 1 "B: a message reaches the fault sink"
kill -STOP "$FAULT_PID"
qid=$(one "stop-1-$$@example.net")
t0=$SECONDS
wait_until '[ -n "$(deferred_4xx "$qid")" ]' 60
like "$(deferred_4xx "$qid")" . "B: downstream SIGSTOPped: deferred with a 4xx after $((SECONDS - t0)) s ($(deferred_4xx "$qid" | said))"
like "$(postfix_queue_json | grep -c "\"queue_id\": *\"$qid\"")" '^1$' "B: the message stays in Postfix's queue"
is "$(pid_alive "$TG_PID" && tollgated_worker_count)" 2 "B: tollgated is alive with 2 workers"
kill -CONT "$FAULT_PID"
drain_queue 90
tally "$FAULT_DIR" stop 1
is "$MISSING/$DUPS" "0/0" "B: after SIGCONT and a flush: delivered exactly once"

# ====================================================== C. downstream too slow
qid=$(one "sdata-1-$$@example.net" slow-data@example.net)
wait_until '[ -n "$(deferred_4xx "$qid")" ]' 60
like "$(deferred_4xx "$qid")" . "C: 354 later than forward_command_timeout: 4xx ($(deferred_4xx "$qid" | said))"
drain_queue 90
tally "$FAULT_DIR" sdata 1
is "$MISSING/$DUPS" "0/0" "C: then delivered exactly once"
qid=$(one "sdot-1-$$@example.net" slow-dot@example.net)
wait_until '[ -n "$(deferred_4xx "$qid")" ]' 60
like "$(deferred_4xx "$qid")" . "C: 250 after the dot later than forward_data_done_timeout: 4xx ($(deferred_4xx "$qid" | said))"
drain_queue 90
tally "$FAULT_DIR" sdot 1
is "$MISSING" 0 "C: then delivered at least once"
[ "$DUPS" -gt 0 ] && diag "C: $((DUPS + 1)) copies of sdot-1: the downstream had saved the message before the data-done timeout (at-least-once, as amavisd-new)"

# ====================================================== D. 421 to MAIL, close mid-DATA
qid=$(one "f421-1-$$@example.net" f421@example.net)
wait_until '[ -n "$(deferred_4xx "$qid")" ]' 60
like "$(deferred_4xx "$qid")" . "D: downstream answers 421 to MAIL: 4xx ($(deferred_4xx "$qid" | said))"
qid2=$(one "drop-1-$$@example.net" drop-data@example.net)
wait_until '[ -n "$(deferred_4xx "$qid2")" ]' 60
like "$(deferred_4xx "$qid2")" . "D: downstream closes the connection mid-DATA: 4xx ($(deferred_4xx "$qid2" | said))"
is "$(grep -c '^421 ' "$FAULT_EVENTS")/$(grep -c '^dropped ' "$FAULT_EVENTS")" "1/1" "D: the fault sink did misbehave (one 421, one drop)"
drain_queue 90
tally "$FAULT_DIR" f421 1; r1="$MISSING/$DUPS"
tally "$FAULT_DIR" drop 1; r2="$MISSING/$DUPS"
is "$r1 $r2" "0/0 0/0" "D: both delivered exactly once after a flush"
is "$(postfix_queue_count)" 0 "B-D: Postfix's queue is empty"

# ====================================================== E. tmp_dir full
SMALL=$TG_TMP/smallspool
mkdir -p "$SMALL"
if mount -t tmpfs -o size=1m,mode=1777 tmpfs "$SMALL" 2>"$TG_TMP/mount.log"; then
	tg_at_exit "umount -l '$SMALL'"
	stop_tollgated
	start_tollgated "$BASE
tmp_dir = $SMALL
spool_memory_limit = 0"
	$SMTPCLIENT genmsg --size 2000000 --out "$TG_TMP/big.eml" --message-id "big-1-$$@example.net" --subject "big"
	qid=$(postfix_send --file "$TG_TMP/big.eml" --to big@example.com | queued_as)
	wait_until '[ -n "$(deferred_4xx "$qid")" ]' 60
	like "$(deferred_4xx "$qid" | said)" '^451 4\.3\.0 ' "E: a 2 MB message with a full tmp_dir (1 MB tmpfs): 451 4.3.0 ($(deferred_4xx "$qid" | said))"
	is "$(delivered "$SINK_DIR" big)" 0 "E: nothing of it reached the sink (no truncated delivery)"
	one "small-1-$$@example.net" >/dev/null
	wait_until '[ "$(delivered "$SINK_DIR" small)" -ge 1 ]' 30
	is "$(delivered "$SINK_DIR" small)" 1 "E: a small message still passes"
	is "$(find "$SMALL" -type f | wc -l)" 0 "E: no spool file is left behind in tmp_dir"
	like "$(postfix_queue_json | grep -c "\"queue_id\": *\"$qid\"")" '^1$' "E: the big message waits in Postfix's queue"
	mount -o remount,size=16m "$SMALL"
	drain_queue 90
	wait_until '[ "$(delivered "$SINK_DIR" big)" -ge 1 ]' 20
	tally "$SINK_DIR" big 1
	is "$MISSING/$DUPS" "0/0" "E: with room in tmp_dir again, the big message arrives exactly once"
	f=$(sink_grep "^Message-ID: <big-1-$$@" | head -n 1)
	is "$($SMTPCLIENT bodyhash --sink "${f:-/dev/null}")" "$($SMTPCLIENT bodyhash "$TG_TMP/big.eml")" "E: its body is intact"
	stop_tollgated
	umount -l "$SMALL"
else
	# (optional: a container without CAP_SYS_ADMIN cannot mount; README.md)
	for k in 1 2 3 4 5 6 7; do skip "E: tmp_dir full $k" "cannot mount a tmpfs: $(head -n 1 "$TG_TMP/mount.log")"; done
fi

# ====================================================== F. Redis killed and restarted
{
	REDIS_PORT=$(free_port) || bail_out "no free port"
	start_redis() {
		redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
			>>"$TG_TMP/redis.log" 2>&1 &
		REDIS_PID=$!
		tg_track "$REDIS_PID"
		wait_port 127.0.0.1 "$REDIS_PORT" 10 || bail_out "redis-server did not listen on $REDIS_PORT"
	}
	start_redis
	[ -n "$TG_PID" ] && stop_tollgated
	start_tollgated "$BASE
virus_lovers_maps = redis:lovers
redis_server = 127.0.0.1:$REDIS_PORT
redis_timeout = 1s
redis_failure_action = tempfail"
	send_batch redis 30 0.3 &
	bpid=$!
	wait_until '[ "$(delivered "$SINK_DIR" redis)" -ge 5 ]' 60
	kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null; tg_untrack "$REDIS_PID"
	if ! pid_alive "$REDIS_PID" && wait_until "! port_listening 127.0.0.1 $REDIS_PORT" 10; then
		ok "F: Redis SIGKILLed while mail flows ($(delivered "$SINK_DIR" redis) of 30 delivered so far)"
	else not_ok "F: Redis SIGKILLed while mail flows (still listening on $REDIS_PORT)"; fi
	qid=$(one "rdown-1-$$@example.net")
	wait_until '[ -n "$(deferred_4xx "$qid")" ]' 60
	like "$(deferred_4xx "$qid" | said)" '^4[0-9][0-9] 4\.[0-9.]+ .*lookup failed' "F: Redis down: 4xx, lookup failed ($(deferred_4xx "$qid" | said))"
	is "$(delivered "$SINK_DIR" rdown)" 0 "F: that message is not delivered while Redis is down"
	sleep 3        # the flow goes on against the dead Redis
	start_redis
	is "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>&1)" PONG "F: Redis restarted on the same port (PING: PONG)"
	wait "$bpid"
	is "$(accepted redis)" 30 "F: the injection smtpd accepted all 30 messages"
	drain_queue 120
	tally "$SINK_DIR" redis 30; r1="$MISSING/$DUPS"
	tally "$SINK_DIR" rdown 1; r2="$MISSING/$DUPS"
	is "$r1 $r2" "0/0 0/0" "F: all 31 delivered exactly once after Redis came back (missing/duplicates)"
	diag "F: $(grep -c "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$TG_LMTP_PORT,.*status=deferred.*lookup failed" "$PF_DIR/maillog") deferrals (lookup failed) while Redis was down"
}

# ====================================================== the end
drain_queue 60
is "$(postfix_queue_count)" 0 "Postfix's queue is empty at the end after a flush"
