#!/bin/bash
# t_sentinel.sh - shared state behind Redis Sentinel (lib/redisconn.h):
# a private redis-server master, one replica (replicaof) and three
# redis-sentinel processes (down-after-milliseconds 1000,
# failover-timeout 5000), each with its own directory and config copy in
# the temp dir; tollgated with state_redis_server =
# sentinel:mymaster@S1,S2,S3, a rate limit (continue on failure) and the
# stats counters, forwarding to an smtp-sink.
#
#   - before: the rate-limit and stats counters are on the master
#   - the master is SIGKILLed in the middle of a load of LMTP messages;
#     the sentinels promote the replica and tollgated follows: the log
#     says it connected to the new master; every message got 250 or 4xx
#     and sink + tempfails = sent (nothing lost); the counters go on, one
#     per message, on the new master; the failover time (kill to the
#     first counter write on the new master) is printed as a diag
#   - the old master, back as a replica of the new one: tollgated never
#     wrote to a replica (no READONLY error on either, none in the log)
#   - every sentinel down (and the master gone): the documented failure
#     action (rate_limit_failure_action continue: 250; tempfail: 451
#     4.7.1) and a log line naming the sentinels' failure
#
# Everything runs on loopback and is stopped by pid (lib.sh).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tollgated
require_cmd redis-server redis-server
require_cmd redis-cli redis-tools
require_cmd redis-sentinel redis-sentinel

plan 17

MASTER=mymaster
FROM=load@example.net
RLKEYS="tollgate:{rl:sender:$FROM}:*"

# rcli PORT ARGS... - redis-cli on a loopback port, raw output
rcli() { local p=$1; shift; redis-cli -h 127.0.0.1 -p "$p" --raw "$@" 2>/dev/null; }

# start_node NAME PORT [ARGS...] - a redis-server (no persistence, own
# directory); sets NODE_PID
start_node() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$TG_TMP/$name"
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$TG_TMP/$name" --daemonize no --protected-mode no "$@" \
		>>"$TG_TMP/$name.log" 2>&1 &
	NODE_PID=$!
	tg_track "$NODE_PID"
	wait_port 127.0.0.1 "$port" 10 || bail_out "redis-server $name did not listen on $port"
}

# start_sentinel N PORT - redis-sentinel with a writable config of its own
start_sentinel() {
	local d=$TG_TMP/sentinel$1
	mkdir -p "$d"
	cat >"$d/sentinel.conf" <<EOF
port $2
bind 127.0.0.1
protected-mode no
daemonize no
dir $d
sentinel monitor $MASTER 127.0.0.1 $M_PORT 2
sentinel down-after-milliseconds $MASTER 1000
sentinel failover-timeout $MASTER 5000
sentinel parallel-syncs $MASTER 1
EOF
	redis-sentinel "$d/sentinel.conf" >>"$d/sentinel.log" 2>&1 &
	SENT_PIDS+=("$!")
	tg_track "$!"
	wait_port 127.0.0.1 "$2" 10 || bail_out "redis-sentinel $1 did not listen on $2"
}

# master_of PORT - the master address a sentinel gives ("host:port")
master_of() { rcli "$1" SENTINEL get-master-addr-by-name "$MASTER" | paste -sd: -; }

# stats_count PORT - messages in the stats counters (the m|... fields of {stats}:total)
stats_count() {
	rcli "$1" HGETALL 'tollgate:{stats}:total' | paste - - | awk -F'\t' '$1 ~ /^m\|/ { n += $2 } END { print n + 0 }'
}

# rl_count PORT - the rate-limit counter of FROM (every window key, summed)
rl_count() {
	local k n=0 v
	for k in $(rcli "$1" --scan --pattern "$RLKEYS"); do
		v=$(rcli "$1" GET "$k"); n=$((n + ${v:-0}))
	done
	echo "$n"
}

# send_one ID - one LMTP message from FROM; prints its final reply
send_one() {
	$SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --from "$FROM" --to rcpt@example.com \
		--message-id "$1@example.net" --timeout 20 2>&1 | after_dot | grep -v '^221 ' | head -n 1
}

# ---------------------------------------------------------------- the Redis group
M_PORT=$(free_port) || bail_out "no free port"
R_PORT=$(free_port) || bail_out "no free port"
S_PORTS=()
for i in 1 2 3; do S_PORTS+=("$(free_port)") || bail_out "no free port"; done
start_node master "$M_PORT"
M_PID=$NODE_PID
start_node replica "$R_PORT" --replicaof 127.0.0.1 "$M_PORT"
R_PID=$NODE_PID
wait_until '[ "$(rcli "$R_PORT" INFO replication | tr -d "\r" | grep -c "^master_link_status:up")" = 1 ]' 15 ||
	bail_out "the replica did not sync with the master"
SENT_PIDS=()
for i in 1 2 3; do start_sentinel "$i" "${S_PORTS[$((i - 1))]}"; done
# failover needs every sentinel to know the replica and the two others
known() {
	local p
	for p in "${S_PORTS[@]}"; do
		[ "$(rcli "$p" SENTINEL replicas "$MASTER" | grep -c "^127.0.0.1:$R_PORT$")" -ge 1 ] || return 1
		[ "$(rcli "$p" SENTINEL sentinels "$MASTER" | grep -c '^name$')" -ge 2 ] || return 1
	done
}
wait_until known 30 || bail_out "the sentinels did not discover each other and the replica"

start_sink
SPEC="sentinel:$MASTER@127.0.0.1:${S_PORTS[0]},127.0.0.1:${S_PORTS[1]},127.0.0.1:${S_PORTS[2]}"
start_tollgated "state_redis_server = $SPEC
rate_limit_maps = inline:{ { sender:$FROM = 100000/1h tempfail } }
rate_limit_failure_action = continue"

# ---------------------------------------------------------------- before the failover
SENT=0 OK=0 TEMP=0 OTHER=0
for i in $(seq 1 5); do
	r=$(send_one "pre-$i-$$")
	SENT=$((SENT + 1))
	case $r in 250\ *) OK=$((OK + 1)) ;; 4*) TEMP=$((TEMP + 1)) ;; *) OTHER=$((OTHER + 1)) ;; esac
done
is "$OK $(stats_count "$M_PORT") $(rl_count "$M_PORT")" "5 5 5" \
	"before: 5 messages passed, counted in the stats and the rate limit on the master"
like "$(grep -E "connected to master $MASTER at 127\.0\.0\.1:$M_PORT " "$TG_LOG" | head -n 1)" \
	"redis $SPEC: connected to master $MASTER at 127\.0\.0\.1:$M_PORT \(from sentinel 127\.0\.0\.1:[0-9]+\)" \
	"the log says which master the sentinels gave"
wait_until '[ "$(stats_count "$R_PORT")" = 5 ]' 10
PRE=$(stats_count "$R_PORT")

# ---------------------------------------------------------------- kill the master mid-load
T0=$(date +%s%N)
kill -KILL "$M_PID"
wait_gone 5 "$M_PID"
tg_untrack "$M_PID"
T1= N=0 AFTER=0
while [ "$N" -lt 120 ]; do
	N=$((N + 1))
	r=$(send_one "load-$N-$$")
	SENT=$((SENT + 1))
	case $r in 250\ *) OK=$((OK + 1)) ;; 4*) TEMP=$((TEMP + 1)) ;; *) OTHER=$((OTHER + 1)); diag "load-$N: $r" ;; esac
	if [ -z "$T1" ] && [ "$(stats_count "$R_PORT")" -gt "$PRE" ]; then
		T1=$(date +%s%N)
	fi
	[ -n "$T1" ] && AFTER=$((AFTER + 1))
	# 40 messages, and at least 10 after the failover (bounded: 120)
	[ "$N" -ge 40 ] && [ "$AFTER" -ge 10 ] && break
	sleep 0.1
done
check "failover: the new master took a counter write within the load ($N messages)" [ -n "$T1" ]
[ -n "$T1" ] && diag "failover observed: $(((T1 - T0) / 1000000)) ms from SIGKILL of the master to the first counter written on the new master"
is "$(master_of "${S_PORTS[0]}")" "127.0.0.1:$R_PORT" "the sentinels promoted the replica"
is "$OTHER" 0 "every message during the failover got 250 or 4xx ($OK x 250, $TEMP x 4xx)"
settle
is "$(( $(count_sink) + TEMP ))" "$SENT" "nothing lost: $(count_sink) at the sink + $TEMP tempfailed = $SENT sent"
like "$(grep -E "connected to master $MASTER at 127\.0\.0\.1:$R_PORT " "$TG_LOG" | head -n 1)" \
	"connected to master $MASTER at 127\.0\.0\.1:$R_PORT \(from sentinel .*; it was at 127\.0\.0\.1:$M_PORT\)" \
	"the log says tollgated reconnected to the new master"
like "$(tg_log_count 'rate limit not counted \(Redis: redis sentinel:')" '^[1-9]' \
	"the window's skipped counters are logged ($(tg_log_count 'rate limit not counted') lines)"

# every message after the failover counts once on the new master
s0=$(stats_count "$R_PORT") l0=$(rl_count "$R_PORT")
for i in $(seq 1 5); do
	r=$(send_one "post-$i-$$")
	SENT=$((SENT + 1))
	case $r in 250\ *) OK=$((OK + 1)) ;; 4*) TEMP=$((TEMP + 1)) ;; *) OTHER=$((OTHER + 1)) ;; esac
done
is "$(( $(stats_count "$R_PORT") - s0 )) $(( $(rl_count "$R_PORT") - l0 ))" "5 5" \
	"after the failover: 5 messages, +5 in the stats and +5 in the rate limit on the new master"
check "the new master holds the counters of before the kill too ($(stats_count "$R_PORT") >= $((PRE + 5)))" \
	[ "$(stats_count "$R_PORT")" -ge $((PRE + 5)) ]

# ---------------------------------------------------------------- the old master comes back as a replica
start_node master "$M_PORT" --replicaof 127.0.0.1 "$R_PORT"
M_PID=$NODE_PID
wait_until '[ "$(rcli "$M_PORT" INFO replication | tr -d "\r" | grep -c "^master_link_status:up")" = 1 ]' 15
s0=$(stats_count "$R_PORT")
for i in $(seq 1 5); do
	r=$(send_one "back-$i-$$")
	SENT=$((SENT + 1))
	case $r in 250\ *) OK=$((OK + 1)) ;; 4*) TEMP=$((TEMP + 1)) ;; *) OTHER=$((OTHER + 1)) ;; esac
done
is "$(( $(stats_count "$R_PORT") - s0 ))" 5 "old master back as a replica: the counters still go to the new master"
is "$(rcli "$M_PORT" INFO errorstats | grep -c READONLY)$(rcli "$R_PORT" INFO errorstats | grep -c READONLY)" 00 \
	"no write ever reached a replica (no READONLY error on either server)"
is "$(tg_log_count 'READONLY|is not a master')" 0 "no READONLY reply or replica in tollgated's log"

# ---------------------------------------------------------------- every sentinel down
for p in "${SENT_PIDS[@]}"; do kill -TERM "$p"; done
wait_gone 10 "${SENT_PIDS[@]}"
for p in "${SENT_PIDS[@]}"; do tg_untrack "$p"; done
kill -KILL "$M_PID" "$R_PID"
wait_gone 5 "$M_PID" "$R_PID"
tg_untrack "$M_PID"
tg_untrack "$R_PID"
r=$(send_one "nosent-$$")
SENT=$((SENT + 1))
like "$r" '^250 ' "sentinels all down, rate_limit_failure_action = continue: 250, mail flows"
like "$(grep -E 'no sentinel gave the master.*; shared state in Redis is unavailable' "$TG_LOG" | tail -n 1)" \
	"redis $SPEC: no sentinel gave the master $MASTER \(sentinel 127\.0\.0\.1:[0-9]+: connect: Connection refused\); shared state in Redis is unavailable" \
	"sentinels all down: the log says no sentinel answered and the state is unavailable"
stop_tollgated
start_tollgated "state_redis_server = $SPEC
rate_limit_maps = inline:{ { sender:$FROM = 100000/1h tempfail } }
rate_limit_failure_action = tempfail"
r=$(send_one "nosent-t-$$")
like "$r" '^451 4\.7\.1 .*rate limit state unavailable' "sentinels all down, rate_limit_failure_action = tempfail: 451 4.7.1"
like "$(tg_log_count 'rate limit not counted \(Redis: redis sentinel:.*no sentinel gave the master')" '^[1-9]' \
	"the tempfail is logged with the sentinels' failure"
