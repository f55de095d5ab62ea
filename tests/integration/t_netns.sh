#!/bin/bash
# t_netns.sh - several tollgate hosts for real (README.md "Several hosts"):
# two "hosts" as Linux network namespaces made by the test, each with its
# own tollgated, behind one private Postfix, sharing one Redis master with
# one replica and three redis-sentinel processes.
#
# The network is the test's own: a bridge in the root namespace holding
# 10.211.N.1/24 (N picked so that no address or route of the machine is in
# 10.211.N.0/24), one veth pair per host, 10.211.N.11 (host A) and
# 10.211.N.12 (host B) inside the namespaces. Nothing else is addressed.
# Namespace, bridge and veth names carry the test's pid; the EXIT trap
# stops the processes in the namespaces by pid, then deletes the
# namespaces and the bridge, also when the test fails midway.
#
# In the root namespace, on 10.211.N.1: the Redis master, its replica,
# three sentinels (down-after-milliseconds 1000) and an smtp-sink (the
# re-injection target of both hosts; it waits 1 s before its 354, so each
# delivery keeps a worker busy and a kill always finds mail in flight).
# The private Postfix (injection on 127.0.0.1) reaches the hosts on the
# bridge. Both hosts listen on the same LMTP port, as real hosts would.
#
#   - the nexthop list of `tollgate postfix-config --nodes A,B`: --check
#     agrees, the mail goes to host A (a list is tried in order)
#   - one name with both addresses (a hosts file of the Postfix's own,
#     through nss_wrapper): the mail spreads over both hosts, every
#     message arrives exactly once (counted per Message-ID at the sink)
#   - host A SIGKILLed (master and workers, by pid) mid-load: its mail in
#     flight is retried by Postfix on host B (deferrals counted in the
#     maillog), every message arrives exactly once, nothing queued
#   - the Redis master SIGKILLed mid-load: the sentinels promote the
#     replica, both hosts follow (their logs say so), the rate-limit and
#     stats counters go on on the new master, every message arrives
#     exactly once; the failover time the test sees is printed
#   - quarantine_store = redis: EICAR straight to host A (after the
#     failover: the index and the message on the new master); `tollgate
#     quarantine list` in host B's namespace shows it with host A; host A
#     stopped; `tollgate release` in host B's namespace delivers it once
#
# The figures (messages per host, retries, failover time) are printed as
# diag lines. Skips only where network namespaces cannot be made
# (tests/integration/README.md, "What may be skipped").
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE): run make first"
require_cmd ip iproute2
require_cmd redis-server redis-server
require_cmd redis-cli redis-tools
require_cmd redis-sentinel redis-sentinel
NSSW=$(ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so 2>/dev/null | head -n 1)
[ -n "$NSSW" ] || bail_out "libnss_wrapper.so not found (Debian package libnss-wrapper)"

# ---------------------------------------------------------------- the network
NS_A=tgA$$ NS_B=tgB$$ BR=tgbr$$
# the several-hosts set-up the README documents needs namespaces: a
# machine that cannot make them (a container without CAP_SYS_ADMIN)
# fails the test, it does not skip it
if ! err=$(ip netns add "$NS_A" 2>&1); then
	bail_out "network namespaces cannot be made here (ip netns add: $err)"
fi
NETNS_MADE=("$NS_A")
LINKS_MADE=()

# netns_cleanup - the exit hook: stop what runs in the namespaces (by
# pid), then delete the namespaces, the veth pairs and the bridge
netns_cleanup() {
	local p n l
	for p in ${HOST_PIDS:-}; do kill_tree "$p" 10; tg_untrack "$p"; done
	for n in "${NETNS_MADE[@]}"; do ip netns del "$n" 2>/dev/null; done
	for l in "${LINKS_MADE[@]}"; do ip link del "$l" 2>/dev/null; done
}
tg_at_exit netns_cleanup

plan 21

# a /24 of 10.211.0.0/16 that the machine uses nowhere
NET=
for i in $(seq 0 40); do
	c=$(( ($$ + i * 37) % 230 + 20 ))
	if [ -z "$(ip -4 addr show to "10.211.$c.0/24")" ] && [ -z "$(ip -4 route show to match "10.211.$c.1" | grep -v '^default')" ]; then
		NET=10.211.$c
		break
	fi
done
[ -n "$NET" ] || bail_out "no free /24 in 10.211.0.0/16"
BR_IP=$NET.1 IP_A=$NET.11 IP_B=$NET.12
ip netns add "$NS_B" && NETNS_MADE+=("$NS_B") || bail_out "ip netns add $NS_B failed"
ip link add "$BR" type bridge && LINKS_MADE+=("$BR") || bail_out "ip link add $BR type bridge failed"
ip addr add "$BR_IP/24" dev "$BR" && ip link set "$BR" up || bail_out "bridge address"
# host NS ADDR: a veth pair, one end on the bridge, the other in NS
for h in "$NS_A $IP_A" "$NS_B $IP_B"; do
	set -- $h
	ip link add "${1}h" type veth peer name "${1}n" && LINKS_MADE+=("${1}h") || bail_out "veth for $1"
	ip link set "${1}h" master "$BR" up && ip link set "${1}n" netns "$1" &&
		ip -n "$1" addr add "$2/24" dev "${1}n" && ip -n "$1" link set "${1}n" up &&
		ip -n "$1" link set lo up || bail_out "network of $1"
done

# ns_listening NS ADDR PORT - something listens on ADDR:PORT inside NS
ns_listening() { ip netns exec "$1" ss -Hltn "sport = :$3" 2>/dev/null | grep -qF "$2:$3"; }

# ---------------------------------------------------------------- Redis and Sentinel
MASTER=mymaster
FROM=load@example.net
RLKEYS="tollgate:{rl:sender:$FROM}:*"
rcli() { local p=$1; shift; redis-cli -h "$BR_IP" -p "$p" --raw "$@" 2>/dev/null; }

# start_rnode NAME PORT [ARGS...] - a redis-server on the bridge; sets NODE_PID
start_rnode() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$TG_TMP/$name"
	redis-server --bind "$BR_IP" --port "$port" --save '' --appendonly no \
		--dir "$TG_TMP/$name" --daemonize no --protected-mode no "$@" >>"$TG_TMP/$name.log" 2>&1 &
	NODE_PID=$!
	tg_track "$NODE_PID"
	wait_port "$BR_IP" "$port" 10 || bail_out "redis-server $name did not listen on $port"
}
M_PORT=$(free_port) && R_PORT=$(free_port) || bail_out "no free port"
S_PORTS=()
for i in 1 2 3; do S_PORTS+=("$(free_port)") || bail_out "no free port"; done
start_rnode rmaster "$M_PORT"
M_PID=$NODE_PID
start_rnode rreplica "$R_PORT" --replicaof "$BR_IP" "$M_PORT"
R_PID=$NODE_PID
wait_until '[ "$(rcli "$R_PORT" INFO replication | tr -d "\r" | grep -c "^master_link_status:up")" = 1 ]' 15 ||
	bail_out "the replica did not sync with the master"
for i in 1 2 3; do
	d=$TG_TMP/sentinel$i
	mkdir -p "$d"
	printf 'port %s\nbind %s\nprotected-mode no\ndaemonize no\ndir %s\nsentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n' \
		"${S_PORTS[$((i - 1))]}" "$BR_IP" "$d" "$MASTER" "$BR_IP" "$M_PORT" "$MASTER" "$MASTER" "$MASTER" >"$d/sentinel.conf"
	redis-sentinel "$d/sentinel.conf" >>"$TG_TMP/sentinel$i.log" 2>&1 &
	tg_track "$!"
	wait_port "$BR_IP" "${S_PORTS[$((i - 1))]}" 10 || bail_out "redis-sentinel $i did not listen"
done
known() {
	local p
	for p in "${S_PORTS[@]}"; do
		[ "$(rcli "$p" SENTINEL replicas "$MASTER" | grep -c "^$BR_IP:$R_PORT$")" -ge 1 ] || return 1
		[ "$(rcli "$p" SENTINEL sentinels "$MASTER" | grep -c '^name$')" -ge 2 ] || return 1
	done
}
wait_until known 30 || bail_out "the sentinels did not discover each other and the replica"
SPEC="sentinel:$MASTER@$BR_IP:${S_PORTS[0]},$BR_IP:${S_PORTS[1]},$BR_IP:${S_PORTS[2]}"
master_of() { rcli "${S_PORTS[0]}" SENTINEL get-master-addr-by-name "$MASTER" | paste -sd: -; }
stats_count() {
	rcli "$1" HGETALL 'tollgate:{stats}:total' | paste - - | awk -F'\t' '$1 ~ /^m\|/ { n += $2 } END { print n + 0 }'
}
rl_count() {
	local k n=0 v
	for k in $(rcli "$1" --scan --pattern "$RLKEYS"); do v=$(rcli "$1" GET "$k"); n=$((n + ${v:-0})); done
	echo "$n"
}

# ---------------------------------------------------------------- sink and Postfix
SINK_PORT=$(free_port) || bail_out "no free port"
SINK_DIR=$TG_TMP/sink
mkdir -p "$SINK_DIR"
chown postfix "$SINK_DIR"
"$PF_SBIN/smtp-sink" -u postfix -w 1 -d "$SINK_DIR/%Y%m%d%H%M%S." "$BR_IP:$SINK_PORT" 256 >>"$TG_TMP/smtp-sink.log" 2>&1 &
SINK_PID=$!
tg_track "$SINK_PID"
wait_port "$BR_IP" "$SINK_PORT" 10 || bail_out "smtp-sink did not listen on $BR_IP:$SINK_PORT"

LP=$(free_port) || bail_out "no free port"
TG_LMTP_PORT=$LP
start_postfix 4
printf '%s tg-hosts.test\n%s tg-hosts.test\n' "$IP_A" "$IP_B" >"$TG_TMP/hosts"

# ---------------------------------------------------------------- the hosts
SIGDB=$(tg_sigdb) || bail_out "no ClamAV test database"
HOST_PIDS=

# start_host X NS ADDR - tollgated of host X inside NS, listening on
# ADDR:LP, forwarding to the sink; its files in $TG_TMP/hostX, its log
# $TG_TMP/tollgated-X.log (scanned for crashes). Sets HOST_PID.
start_host() {
	local x=$1 ns=$2 addr=$3 d=$TG_TMP/host$1
	mkdir -p "$d/spool" "$d/quar"
	chmod 0755 "$d" "$d/spool"
	chown nobody "$d/quar"
	cat >"$d/tollgated.conf" <<EOF
# tollgated of host $x of t_netns.sh ($TG_TMP), in network namespace $ns
listen = lmtp:$addr:$LP
forward_method = smtp:[$BR_IP]:$SINK_PORT
inet_acl = $BR_IP
max_servers = 2
child_timeout = 120s
smtpd_timeout = 60s
pid_file = $d/tollgated.pid
tmp_dir = $d/spool
clamav_tmp_dir = $d/spool
clamav_database = $SIGDB
daemon_user = nobody
myhostname = host$x.example.com
mydomain = example.com
x_header_line = tollgate host$x
control_socket = $d/tollgated.ctl
forward_connection_cache_time = 5s
state_redis_server = $SPEC
rate_limit_maps = inline:{ { sender:$FROM = 1000000/1h tempfail } }
rate_limit_failure_action = continue
quarantine_dir = $d/quar
quarantine_store = redis
EOF
	echo "=== start $(date '+%T') ===" >>"$TG_TMP/tollgated-$x.log"
	ip netns exec "$ns" "$TOLLGATED" -f -c "$d/tollgated.conf" >>"$TG_TMP/tollgated-$x.log" 2>&1 &
	HOST_PID=$!
	tg_track "$HOST_PID"
	HOST_PIDS="$HOST_PIDS $HOST_PID"
	if ! wait_until "ns_listening $ns $addr $LP || ! pid_alive $HOST_PID" 30 || ! pid_alive "$HOST_PID"; then
		diag_file "$TG_TMP/tollgated-$x.log" 20
		bail_out "tollgated of host $x did not listen on $addr:$LP in $ns"
	fi
}
start_host A "$NS_A" "$IP_A"
PID_A=$HOST_PID
start_host B "$NS_B" "$IP_B"
PID_B=$HOST_PID
LOG_A=$TG_TMP/tollgated-A.log LOG_B=$TG_TMP/tollgated-B.log

# send_batch TAG N - N messages from FROM into the private Postfix, ids
# TAG-i-PID@example.net, one after the other
send_batch() {
	local i
	for i in $(seq 1 "$2"); do
		postfix_send --from "$FROM" --to user@example.net --message-id "$1-$i-$$@example.net" \
			>>"$TG_TMP/send-$1.out" 2>&1
	done
}
# once TAG N - how many of the batch's messages are at the sink exactly once
once() {
	local i n=0
	for i in $(seq 1 "$2"); do [ "$(count_sink_msgid "$1-$i-$$@example.net")" = 1 ] && n=$((n + 1)); done
	echo "$n"
}
# arrived TAG - messages of the batch at the sink (copies counted)
arrived() { sink_count_grep "^Message-ID: <$1-[0-9]+-$$@example.net>"; }
# via TAG X - messages of the batch that passed host X
via() { sink_grep "^Message-ID: <$1-[0-9]+-$$@example.net>" | xargs -r grep -l "tollgate host$2" | wc -l; }
# wait_batch TAG N SECS - until N of the batch arrived, flushing the queue now and then
wait_batch() {
	local deadline=$((SECONDS + $3))
	while [ "$(arrived "$1")" -lt "$2" ] && [ "$SECONDS" -lt "$deadline" ]; do
		postfix_flush
		sleep 1
	done
	settle 3 60
}

# ---------------------------------------------------------------- the nexthop list of postfix-config --nodes
NODES="$IP_A:$LP,$IP_B:$LP"
"$TOLLGATE" postfix-config -c "$TG_TMP/hostA/tollgated.conf" --postfix-dir "$PF_DIR" --nodes "$NODES" >"$TG_TMP/pf.out" 2>&1
cf=$(sed -n 's/^content_filter = //p' "$TG_TMP/pf.out")
is "$cf" "amavisfeed:[$IP_A]:$LP,[$IP_B]:$LP" "postfix-config --nodes: content_filter lists the two hosts in order"
postfix_stop_dir "$PF_DIR"
postconf_pf -e "content_filter = $cf" "relayhost = [$BR_IP]:$SINK_PORT" \
	"import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_PRELOAD=$NSSW NSS_WRAPPER_HOSTS=$TG_TMP/hosts" \
	"lmtp_host_lookup = native" "lmtp_connection_cache_destinations =" "lmtp_connection_cache_on_demand = no" ||
	bail_out "postconf -e failed"
postconf_pf -PX "127.0.0.1:$PF_INJECT_PORT/inet/content_filter" || bail_out "postconf -PX failed"
"$PF_SBIN/postfix" -c "$PF_DIR" start >>"$TG_TMP/postfix-restart.log" 2>&1 || bail_out "postfix start failed"
wait_port 127.0.0.1 "$PF_INJECT_PORT" 15 || bail_out "private Postfix did not listen again"
# (--check also reports the re-injection smtpd missing: here the hosts
# re-inject straight into the sink; the feed lines are what is checked)
out=$("$TOLLGATE" postfix-config -c "$TG_TMP/hostA/tollgated.conf" --postfix-dir "$PF_DIR" --nodes "$NODES" --check 2>&1)
like "$(printf '%s' "$out" | tr '\n' ' ')" 'ok: amavisfeed/unix maxproc 4 = max_servers.* ok: content_filter names the 2 nodes in order' \
	"postfix-config --nodes --check: maxproc and the nexthop list agree with the Postfix set up from its lines"
send_batch list 4
wait_batch list 4 60
is "$(once list 4) $(via list A)" "4 4" "nexthop list: 4 messages arrived exactly once, all through host A (tried in order)"

# ---------------------------------------------------------------- one name, both hosts: spread
postconf_pf -e "content_filter = amavisfeed:tg-hosts.test:$LP" || bail_out "postconf -e failed"
postfix_reload || bail_out "postfix reload failed"
sleep 1
N_SPREAD=40
send_batch spread "$N_SPREAD"
wait_batch spread "$N_SPREAD" 120
a=$(via spread A) b=$(via spread B)
is "$(once spread "$N_SPREAD")" "$N_SPREAD" "one name, both hosts: every message arrived exactly once"
like "$a $b" '^[1-9][0-9]* [1-9][0-9]*$' "the mail spread over both hosts (A $a, B $b)"
diag "spread: $N_SPREAD messages, host A $a, host B $b"

# ---------------------------------------------------------------- host A SIGKILLed mid-load
N_KILL=40
: >"$TG_TMP/kill.mark"
send_batch kill "$N_KILL" &
LOAD=$!
# mid-load: a few arrived and host A has a worker in a session
busy_a() {
	local w
	for w in $(children_of "$PID_A"); do
		case $(proc_title "$w") in *idle*|"") ;; *) return 0 ;; esac
	done
	return 1
}
wait_until "[ \"\$(arrived kill)\" -ge 8 ] && busy_a" 90 || diag "host A had no busy worker when the load was a fifth through"
ARRIVED_AT_KILL=$(arrived kill)
KIDS_A=$(children_of "$PID_A" | tr '\n' ' ')
kill -KILL "$PID_A" $KIDS_A
# shellcheck disable=SC2086
wait_gone 10 "$PID_A" $KIDS_A || diag "host A's processes did not go"
wait "$PID_A" 2>/dev/null
tg_untrack "$PID_A"
HOST_PIDS=${HOST_PIDS/ $PID_A/}
ok "host A SIGKILLed (master $PID_A, workers $KIDS_A) with $ARRIVED_AT_KILL of $N_KILL arrived"
wait "$LOAD"
wait_batch kill "$N_KILL" 180
a=$(via kill A) b=$(via kill B)
# Postfix's LMTP client meets the lost connection and tries the name's
# other address in the same delivery: "lost connection with ...[A]",
# then status=sent through B; later mail meets "Connection refused" on A
lost_ids=$(sed -n "s/.*: \([0-9A-F][0-9A-F]*\): lost connection with tg-hosts\.test\[$IP_A\].*/\1/p" "$PF_DIR/maillog" | sort -u)
lost=0 lost_via_b=0
for q in $lost_ids; do
	lost=$((lost + 1))
	grep -qE "$q: to=<[^>]*>, relay=tg-hosts\.test\[$IP_B\]:$LP, .*status=sent" "$PF_DIR/maillog" && lost_via_b=$((lost_via_b + 1))
done
refused=$(grep -c "connect to tg-hosts\.test\[$IP_A\]:$LP: Connection refused" "$PF_DIR/maillog")
is "$(once kill "$N_KILL")" "$N_KILL" "host A killed mid-load: every message arrived exactly once"
like "$lost $lost_via_b" '^([1-9][0-9]*) \1$' "its mail in flight (lost connection with host A: $lost) was delivered by Postfix through host B"
is "$(postfix_queue_count)" 0 "nothing left in Postfix's queue"
diag "host kill: $N_KILL messages, $ARRIVED_AT_KILL arrived before the kill, host A $a, host B $b; retries seen: $lost in flight on A (lost connection) delivered through B, $refused connections refused by A"

# ---------------------------------------------------------------- the Redis master SIGKILLed mid-load
start_host A "$NS_A" "$IP_A"
PID_A=$HOST_PID
N_FAIL=60
PRE=$(stats_count "$R_PORT")
send_batch failover "$N_FAIL" &
LOAD=$!
wait_until '[ "$(arrived failover)" -ge 10 ]' 90
wait_until '[ "$(stats_count "$R_PORT")" -gt "$PRE" ]' 10
PRE_STATS=$(stats_count "$R_PORT") PRE_RL=$(rl_count "$R_PORT")
T0=$(date +%s%N)
kill -KILL "$M_PID"
wait_gone 5 "$M_PID"
tg_untrack "$M_PID"
T_PROMO= T_WRITE=
for i in $(seq 1 300); do
	[ -z "$T_PROMO" ] && [ "$(master_of)" = "$BR_IP:$R_PORT" ] && T_PROMO=$(date +%s%N)
	[ -z "$T_WRITE" ] && [ "$(stats_count "$R_PORT")" -gt "$PRE_STATS" ] &&
		[ "$(rcli "$R_PORT" ROLE | head -n 1)" = master ] && T_WRITE=$(date +%s%N)
	[ -n "$T_PROMO" ] && [ -n "$T_WRITE" ] && break
	sleep 0.1
done
wait "$LOAD"
wait_batch failover "$N_FAIL" 180
check "the sentinels promoted the replica" [ -n "$T_PROMO" ]
check "a counter was written on the new master during the load" [ -n "$T_WRITE" ]
is "$(once failover "$N_FAIL")" "$N_FAIL" "Redis master killed mid-load: every message arrived exactly once"
like "$(grep -hcE "connected to master $MASTER at $BR_IP:$R_PORT .*it was at $BR_IP:$M_PORT" "$LOG_A" "$LOG_B" | paste -sd' ' -)" \
	'^[1-9][0-9]* [1-9][0-9]*$' "both hosts followed the failover (their logs name the new master)"
like "$(( $(stats_count "$R_PORT") - PRE_STATS )) $(( $(rl_count "$R_PORT") - PRE_RL ))" '^[1-9][0-9]* [1-9][0-9]*$' \
	"the stats and rate-limit counters went on on the new master"
s0=$(stats_count "$R_PORT") l0=$(rl_count "$R_PORT")
send_batch post 5
wait_batch post 5 60
is "$(once post 5) $(( $(stats_count "$R_PORT") - s0 )) $(( $(rl_count "$R_PORT") - l0 ))" "5 5 5" \
	"after the failover: 5 messages, once each, +5 in the stats and in the rate limit on the new master"
skipped=$(cat "$LOG_A" "$LOG_B" | grep -cE 'rate limit not counted|not counted')
is "$(postfix_queue_count)" 0 "nothing left in Postfix's queue"
[ -n "$T_PROMO" ] && diag "Redis failover: $(((T_PROMO - T0) / 1000000)) ms from SIGKILL of the master to sentinel 1 naming the replica (polled every ~0.1 s)"
[ -n "$T_WRITE" ] && diag "Redis failover: $(((T_WRITE - T0) / 1000000)) ms from SIGKILL of the master to the first counter written on the new master"
diag "failover: $N_FAIL messages, host A $(via failover A), host B $(via failover B); counter updates skipped in the window (log lines): $skipped; stats on the new master $(stats_count "$R_PORT")"

# ---------------------------------------------------------------- quarantine on A, release from B
CONF_B=$TG_TMP/hostB/tollgated.conf
$MKMSG eicar-b64 --out "$TG_TMP/eicar.eml" --to victim@example.com --message-id "quar-$$@example.net"
r=$(printf '%s\n' "<" "= LHLO client.example.net" "= MAIL FROM:<sender@example.net>" "= RCPT TO:<victim@example.com>" \
	"= DATA" "data $TG_TMP/eicar.eml" "<1" "= QUIT" | $SMTPCLIENT script "$IP_A" "$LP" | after_dot | grep -v '^221 ')
like "$r" '^250 2\.7\.0 .*INFECTED' "EICAR straight to host A: discarded (and quarantined)"
qlist() { ip netns exec "$NS_B" "$TOLLGATE" quarantine list -c "$CONF_B" 2>&1; }
MID=$(qlist | awk '$6 == "<victim@example.com>" { print $1; exit }')
like "$(qlist | grep "^${MID:-none} ")" "^$MID .* virus +<sender@example\.net> <victim@example\.com> redis hostA\.example\.com\$" \
	"quarantine list on host B: host A's message, kept in Redis"
like "$(rcli "$R_PORT" --scan --pattern "*{q:$MID}*" | wc -l)" '^[1-9]' "the quarantine index and message are on the new master"
kill_tree "$PID_A" 30
tg_untrack "$PID_A"
HOST_PIDS=${HOST_PIDS/ $PID_A/}
out=$(ip netns exec "$NS_B" "$TOLLGATE" release "$MID" -c "$CONF_B" 2>&1)
rc=$?
like "$rc $(printf '%s' "$out" | tr '\n' ' ')" '^0 .*<victim@example\.com>: 250 ' "host A stopped: tollgate release on host B delivers host A's message"
wait_until '[ "$(count_sink_msgid "quar-$$@example.net")" -ge 1 ]' 10
settle 2 10
is "$(count_sink_msgid "quar-$$@example.net")" 1 "released once: one copy at the sink"

done_testing
