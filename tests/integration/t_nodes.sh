#!/bin/bash
# t_nodes.sh - several tollgate hosts behind one Postfix (README.md
# "Several hosts"): two tollgated nodes, node1 on 127.0.0.1 and node2 on
# 127.0.0.2 (own ports, pid files, control sockets, x_header_line and
# myhostname; one private redis-server), one private Postfix whose
# content_filter is rewritten with what `tollgate postfix-config --nodes`
# prints:
#
#   - postfix-config --nodes: the nexthop list in order, maxproc the sum,
#     and --check agrees; with the list in the other order it says so
#   - both nodes up: every message arrives exactly once, through node1 (a
#     nexthop list is tried in order)
#   - node1 stopped (SIGTERM) while Postfix holds a cached connection to
#     it: the cached connection gets 421, the message goes to node2; later
#     mail too; no bounce, nothing left in the queue
#   - tollgate stats --redis: both nodes with a recent last-seen; node1's
#     last-seen made old with redis-cli: marked stale, node2 not
#   - one name with both nodes' addresses (a hosts file of the private
#     Postfix's own, through nss_wrapper): the mail spreads over both,
#     exactly once each
#
# Everything runs on loopback and is stopped by pid (lib.sh).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE): run make first"
require_cmd redis-server redis-server
require_cmd redis-cli redis-tools

plan 21

start_sink
start_postfix 4
start_redis
BASE=$TG_TMP
P1=$(free_port) || bail_out "no free port"
P2=$(free_port) || bail_out "no free port"
mkdir -p "$BASE/n1" "$BASE/n2"

# start_node N ADDR PORT - tollgated node N (its files in $BASE/nN)
start_node() {
	TG_TMP=$BASE/n$1 TG_LMTP_PORT=$3 start_tollgated "listen = lmtp:$2:$3
myhostname = node$1.example.com
x_header_line = tollgate node$1
state_redis_server = 127.0.0.1:$REDIS_PORT
shutdown_timeout = 30s"
}
start_node 1 127.0.0.1 "$P1"
N1_PID=$TG_PID N1_LOG=$TG_LOG N1_CONF=$TG_CONF
start_node 2 127.0.0.2 "$P2"
N2_PID=$TG_PID N2_LOG=$TG_LOG N2_CONF=$TG_CONF

# ------------------------------------------------ postfix-config --nodes
NODES="127.0.0.1:$P1,127.0.0.2:$P2"
"$TOLLGATE" postfix-config -c "$N1_CONF" --postfix-dir "$PF_DIR" --nodes "$NODES" >"$BASE/pf.out" 2>&1
cf=$(sed -n 's/^content_filter = //p' "$BASE/pf.out")
is "$cf" "amavisfeed:[127.0.0.1]:$P1,[127.0.0.2]:$P2" "postfix-config --nodes: content_filter lists the nodes in order"
like "$(cat "$BASE/pf.out")" '^amavisfeed +unix +- +- +n +- +4 +lmtp$' "postfix-config --nodes: maxproc is the sum of the nodes' max_servers (2 x 2)"
# the private Postfix: the nodes as main.cf's content_filter, the inject
# smtpd without its own -o content_filter; the connection to a node is
# cached and kept idle, so a stopping node answers it 421
postconf_pf -e "content_filter = $cf" \
	"lmtp_connection_cache_destinations = ${cf#amavisfeed:}, [127.0.0.1], 127.0.0.1" \
	"lmtp_connection_cache_time_limit = 60s" "connection_cache_ttl_limit = 60s" ||
	bail_out "postconf -e failed"
postconf_pf -PX "127.0.0.1:$PF_INJECT_PORT/inet/content_filter" || bail_out "postconf -PX failed"
postfix_reload || bail_out "postfix reload failed"
sleep 1
out=$("$TOLLGATE" postfix-config -c "$N1_CONF" --postfix-dir "$PF_DIR" --nodes "$NODES" --check 2>&1)
rc=$?
like "$rc $(printf '%s' "$out" | tr '\n' ' ')" '^0 .*ok: content_filter names the 2 nodes in order.*Postfix and tollgate agree' \
	"postfix-config --nodes --check: agrees with the Postfix set up from its lines"
[ "$rc" = 0 ] || diag "$out"
out=$("$TOLLGATE" postfix-config -c "$N1_CONF" --postfix-dir "$PF_DIR" --nodes "127.0.0.2:$P2,127.0.0.1:$P1" --check 2>&1)
rc=$?
like "$rc $(printf '%s' "$out" | tr '\n' ' ')" '^1 .*MISMATCH: main.cf content_filter is .* \(the nodes, in order\)' \
	"postfix-config --nodes --check: the nodes in another order are a mismatch"

# ------------------------------------------------ both up
for i in 1 2 3; do
	postfix_send --from sender@example.net --to user@example.net --message-id "up$i-$$@example.net" \
		>"$BASE/up$i.out" 2>&1
done
wait_until '[ "$(count_sink)" -ge 3 ]' 60
settle 2 30
n=0
for i in 1 2 3; do [ "$(count_sink_msgid "up$i-$$@example.net")" = 1 ] && n=$((n + 1)); done
is "$n" 3 "both nodes up: every message arrived exactly once"
is "$(sink_count_grep 'tollgate node1')" 3 "both nodes up: through node1, the first nexthop"
lmtp_established() { ss -Htn state established "( dport = :$P1 )" 2>/dev/null | grep -c .; }
if wait_until '[ "$(lmtp_established)" -ge 1 ]' 5; then ok "Postfix keeps its connection to node1 cached"; else
	not_ok "Postfix keeps its connection to node1 cached"; fi

# ------------------------------------------------ node1 stops
kill -TERM "$N1_PID"
# while node1 drains, the next message meets 421 on the cached connection
postfix_send --from sender@example.net --to user@example.net --message-id "drain-$$@example.net" \
	>"$BASE/drain.out" 2>&1
wait_until '[ "$(count_sink_msgid "drain-$$@example.net")" -ge 1 ]' 60
wait_gone 30 "$N1_PID" || diag "node1 did not exit"
tg_untrack "$N1_PID"
like "$(grep 'draining, 421' "$N1_LOG")" 'LMTP: draining, 421 to \[127\.0\.0\.1\]' "node1 answered the cached connection 421 while it drained"
is "$(count_sink_msgid "drain-$$@example.net")" 1 "the message that met the 421 arrived once"
like "$(grep -l "drain-$$@example.net" $(sink_files) | xargs grep -h 'tollgate node' | head -n 1)" 'tollgate node2' \
	"it went through node2"
for i in 1 2 3; do
	postfix_send --from sender@example.net --to user@example.net --message-id "down$i-$$@example.net" \
		>"$BASE/down$i.out" 2>&1
done
wait_until '[ "$(count_sink)" -ge 7 ]' 90
settle 3 60
n=0
for i in 1 2 3; do [ "$(count_sink_msgid "down$i-$$@example.net")" = 1 ] && n=$((n + 1)); done
is "$n" 3 "node1 down: every later message arrived exactly once"
is "$(sink_count_grep 'tollgate node2')" 4 "node1 down: through node2"
is "$(sink_count_grep '^From: .*MAILER-DAEMON|^Subject: Undelivered')" 0 "no bounce"
is "$(postfix_queue_count)" 0 "nothing stuck in the queue"

# ------------------------------------------------ stats --redis per node
out=$("$TOLLGATE" stats --redis -c "$N2_CONF" 2>&1)
like "$out" '^node1\.example\.com +[0-9-]+ [0-9:]+ +[0-9]+s ok$' "stats --redis: node1 listed, last seen recently"
like "$out" '^node2\.example\.com +[0-9-]+ [0-9:]+ +[0-9]+s ok$' "stats --redis: node2 listed, last seen recently"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" HSET 'tollgate:{stats}:seen' node1.example.com $(($(date +%s) - 600)) >/dev/null
out=$("$TOLLGATE" stats --redis -c "$N2_CONF" 2>&1)
like "$out" '^node1\.example\.com +[0-9-]+ [0-9:]+ +6[0-9][0-9]s stale$' "stats --redis: node1, silent for 10 minutes, is stale"
like "$out" '^node2\.example\.com +[0-9-]+ [0-9:]+ +[0-9]+s ok$' "stats --redis: node2 still ok"
[ "$TG_FAILS" = 0 ] || diag "$out"

# ------------------------------------------------ one name, both addresses: spread
# A nexthop list is tried in order; to spread, the nodes share one name
# with several addresses, which the LMTP client randomises. nss_wrapper
# gives the private Postfix a hosts file of its own (/etc/hosts is left
# alone) where tg-nodes.test has both addresses; node1 comes back on
# 127.0.0.1 with node2's port. No connection caching: each message picks.
NSSW=$(ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so 2>/dev/null | head -n 1)
[ -n "$NSSW" ] || bail_out "libnss_wrapper.so not found (Debian package libnss-wrapper)"
start_node 1 127.0.0.1 "$P2"
printf '127.0.0.1 tg-nodes.test\n127.0.0.2 tg-nodes.test\n' >"$BASE/hosts"
postfix_stop_dir "$PF_DIR"
postconf_pf -e "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_PRELOAD=$NSSW NSS_WRAPPER_HOSTS=$BASE/hosts" \
	"lmtp_host_lookup = native" "lmtp_connection_cache_destinations =" "lmtp_connection_cache_on_demand = no" \
	"content_filter = amavisfeed:tg-nodes.test:$P2" || bail_out "postconf -e failed"
"$PF_SBIN/postfix" -c "$PF_DIR" start >>"$BASE/postfix-restart.log" 2>&1 || bail_out "postfix start failed"
wait_port 127.0.0.1 "$PF_INJECT_PORT" 15 || bail_out "private Postfix did not listen again"
before1=$(sink_count_grep 'tollgate node1') before2=$(sink_count_grep 'tollgate node2')
for i in $(seq 1 16); do
	postfix_send --from sender@example.net --to user@example.net --message-id "spread$i-$$@example.net" \
		>"$BASE/spread$i.out" 2>&1
done
wait_until '[ "$(count_sink)" -ge 23 ]' 90
settle 3 60
n=0
for i in $(seq 1 16); do [ "$(count_sink_msgid "spread$i-$$@example.net")" = 1 ] && n=$((n + 1)); done
is "$n" 16 "one name with both addresses: every message arrived exactly once"
d1=$(($(sink_count_grep 'tollgate node1') - before1)) d2=$(($(sink_count_grep 'tollgate node2') - before2))
like "$d1 $d2" '^[1-9][0-9]* [1-9][0-9]*$' "one name with both addresses: the mail spread over both nodes (node1 $d1, node2 $d2)"
is "$(postfix_queue_count)" 0 "nothing stuck in the queue"

done_testing
