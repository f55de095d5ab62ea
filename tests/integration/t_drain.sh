#!/bin/bash
# t_drain.sh - a draining worker (reload, shutdown) finishes the
# transaction it is in, then answers the next command on the same
# connection with "421 4.3.2" and closes it, even when that connection
# sits idle between transactions:
# (a) with a real private Postfix whose amavisfeed transport caches its
#     LMTP connection: after SIGHUP the old worker closes the cached
#     connection at once and the next message is served by a worker of
#     the new configuration (its changed x_header_line is in the mail);
# (b) on raw LMTP connections that stay open: after SIGTERM a transaction
#     in flight still gets its 250, the next MAIL on it and on an idle
#     connection gets 421 4.3.2 and the close, and tollgated exits within
#     a few seconds rather than after shutdown_timeout; but a connection
#     whose RSET (Postfix's probe of a cached connection) had its 250
#     just before the drain gets the transaction it announced served, and
#     only its next RSET gets the 421 (a 421 after the probe's 250 would
#     make Postfix defer the message).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 24

# ------------------------------------------------ (a) reload, Postfix's cached connection
start_sink
start_postfix 2
# cache every amavisfeed connection and keep it idle for long (with the
# default 2 s it takes a steady stream of mail to show the same thing)
postconf_pf -e "lmtp_connection_cache_destinations = [127.0.0.1]:$TG_LMTP_PORT, [127.0.0.1], 127.0.0.1" \
	"lmtp_connection_cache_time_limit = 60s" "connection_cache_ttl_limit = 60s" ||
	bail_out "postconf -e failed"
postfix_reload || bail_out "postfix reload failed"
start_tollgated "x_header_line = tollgate gen-one
shutdown_timeout = 30s"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10

# lmtp_established - LMTP connections to tollgated that are open now
lmtp_established() { ss -Htn state established "( sport = :$TG_LMTP_PORT )" 2>/dev/null | grep -c .; }

postfix_send --from sender@example.net --to user@example.net --message-id "gen1-$$@example.net" \
	>"$TG_TMP/gen1.out" 2>&1
wait_until '[ "$(count_sink_msgid "gen1-$$@example.net")" -eq 1 ]' 30
is "$(sink_count_grep 'tollgate gen-one')" 1 "first message went through tollgated (gen-one header)"
if wait_until '[ "$(lmtp_established)" -ge 1 ]' 5; then
	ok "Postfix keeps its LMTP connection to tollgated cached"
else
	not_ok "Postfix keeps its LMTP connection to tollgated cached"
fi
# the worker that served it: its am_id is "PID-NN"
old_pid=$(sed -n 's/^.*(\([0-9]*\)-[0-9]*) Passed CLEAN.*gen1-'"$$"'@example\.net.*$/\1/p' "$TG_LOG" | head -n 1)
old_pid=$((10#${old_pid:-0}))
if [ "$old_pid" -gt 0 ] && pid_alive "$old_pid"; then ok "the worker that served it ($old_pid) is alive and idle"; else
	not_ok "the worker that served it is alive and idle (pid ${old_pid})"; fi

sed -i 's/^x_header_line = .*/x_header_line = tollgate gen-two/' "$TG_CONF"
kill -HUP "$TG_PID"
wait_until 'grep -q "configuration reloaded" "$TG_LOG"' 15 || diag "no reload in the log"
if wait_gone 5 "$old_pid"; then ok "SIGHUP: the old worker closed its cached connection and left at once"; else
	not_ok "SIGHUP: the old worker closed its cached connection and left at once"; diag "$old_pid: $(proc_title "$old_pid")"; fi
like "$(grep 'draining, 421' "$TG_LOG")" 'LMTP: draining, 421 to \[127\.0\.0\.1\]' "it logged the 421 on the idle connection"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10

postfix_send --from sender@example.net --to user@example.net --message-id "gen2-$$@example.net" \
	>"$TG_TMP/gen2.out" 2>&1
qid2=$(queued_as <"$TG_TMP/gen2.out")
wait_until '[ "$(count_sink_msgid "gen2-$$@example.net")" -eq 1 ]' 30
f2=$(sink_grep "^Message-ID: <gen2-$$@example.net>" | head -n 1)
like "$(grep -i '^X-Virus-Scanned:' "${f2:-/dev/null}")" 'tollgate gen-two' \
	"the next message was served by a new-generation worker (gen-two header)"
is "$(grep -c "$qid2: .*status=deferred" "$PF_DIR/maillog")" 0 "and Postfix deferred nothing (${qid2:-no queue id})"
stop_tollgated

# ------------------------------------------------ (b) SIGTERM, raw LMTP sessions
start_slowsink 3
start_tollgated "forward_method = smtp:[127.0.0.1]:$SLOW_PORT
max_servers = 3
smtpd_timeout = 120s
shutdown_timeout = 40s"
wait_until '[ "$(tollgated_worker_count)" -eq 3 ]' 10
printf 'From: <slow-data@example.net>\r\nSubject: drain\r\nMessage-ID: <inflight-%s@example.net>\r\n\r\nin flight at SIGTERM\r\n' \
	"$$" >"$TG_TMP/inflight.eml"

# A: a transaction in flight at SIGTERM (the slow sink holds its 354),
# and the next MAIL pipelined behind its dot, waiting in the worker's
# input buffer
$SMTPCLIENT script 127.0.0.1 "$TG_LMTP_PORT" --timeout 60 >"$TG_TMP/a.out" 2>&1 <<EOF &
<
= LHLO client.example.net
= MAIL FROM:<slow-data@example.net>
= RCPT TO:<user@example.com>
= DATA
data $TG_TMP/inflight.eml
> MAIL FROM:<second@example.net>
<2
eof
EOF
A_PID=$!
tg_track "$A_PID"
# B: an idle connection between transactions
$SMTPCLIENT script 127.0.0.1 "$TG_LMTP_PORT" --timeout 60 >"$TG_TMP/b.out" 2>&1 <<EOF &
<
= LHLO idle.example.net
sleep 8
= MAIL FROM:<idle@example.net>
eof
EOF
B_PID=$!
tg_track "$B_PID"
wait_until 'grep -q "^data .*<slow-data@" "$SLOW_EVENTS" && grep -q "^S: 250 XFORWARD" "$TG_TMP/b.out"' 20 ||
	diag "A not in flight or B not idle yet"
# C: Postfix's reuse of a cached connection: the RSET probe has had its
# 250 when the drain comes; the transaction comes 2 s later
printf 'From: <probe@example.net>\r\nSubject: after the probe\r\nMessage-ID: <probed-%s@example.net>\r\n\r\nsent after the RSET probe\r\n' \
	"$$" >"$TG_TMP/probed.eml"
$SMTPCLIENT script 127.0.0.1 "$TG_LMTP_PORT" --timeout 60 >"$TG_TMP/c.out" 2>&1 <<EOF &
<
= LHLO probe.example.net
= RSET
sleep 2
= MAIL FROM:<probe@example.net>
= RCPT TO:<user@example.com>
= DATA
data $TG_TMP/probed.eml
<
= RSET
eof
EOF
C_PID=$!
tg_track "$C_PID"
wait_until 'grep -q "^S: 250 2.0.0 Ok RSET" "$TG_TMP/c.out"' 20 || diag "C did not get its RSET reply"
all="$TG_PID $(tollgated_workers | tr '\n' ' ')"
t0=$SECONDS
kill -TERM "$TG_PID"
# shellcheck disable=SC2086
wait_gone 45 $all
took=$((SECONDS - t0))
if [ "$took" -le 15 ]; then ok "SIGTERM: tollgated exited in ${took} s, not after shutdown_timeout (40 s)"; else
	not_ok "SIGTERM: tollgated exited within 15 s (took ${took} s, shutdown_timeout 40 s)"; fi
wait "$TG_PID" 2>/dev/null
tg_untrack "$TG_PID"
TG_PID=
wait_until '! pid_alive "$A_PID" && ! pid_alive "$B_PID" && ! pid_alive "$C_PID"' 20
a_replies=$(sed -n '/^C: MAIL FROM:<second@/,$p' "$TG_TMP/a.out" | grep '^S: ')
like "$(sed -n 1p <<<"$a_replies")" '^S: 250 2\.0\.0 ' "A: the transaction in flight at SIGTERM completed with 250"
is "$(slow_count_grep "inflight-$$@")" 1 "A: and its message is downstream"
like "$(sed -n 2p <<<"$a_replies")" '^S: 421 4\.3\.2 ' "A: the pipelined next MAIL gets 421 4.3.2"
like "$(grep 'draining, 421' "$TG_LOG")" 'for: MAIL FROM:<second@example\.net>' "A: logged with the command it refused"
is "$(sed -n 3p <<<"$a_replies")" "S: <EOF>" "A: and the connection is closed"
like "$(sed -n '/^C: MAIL FROM:<idle@/{n;p;}' "$TG_TMP/b.out")" '^S: 421 4\.3\.2 Service shutting down' "B (idle): MAIL gets 421 4.3.2"
is "$(tail -n 1 "$TG_TMP/b.out")" "S: <EOF>" "B: and the connection is closed"
like "$(sed -n '/^C: DATA/,$p' "$TG_TMP/c.out" | grep '^S: ' | sed -n 2p)" '^S: 250 2\.0\.0 ' \
	"C (RSET probe answered before the drain): the transaction it announced is served: 250"
is "$(slow_count_grep "probed-$$@")" 1 "C: and its message is downstream"
like "$(grep -A1 '^C: RSET' "$TG_TMP/c.out" | tail -n 1)" '^S: 421 4\.3\.2 ' \
	"C: its next RSET (a new probe) gets 421 4.3.2"
is "$(tail -n 1 "$TG_TMP/c.out")" "S: <EOF>" "C: and the connection is closed"
is "$(tg_log_count 'still busy after|killing them')" 0 "no worker was killed at shutdown_timeout"

# ------------------------------------------------ (c) SIGTERM, idle milter and AM.PDP connections
# Before the queue the MTA keeps its milter connection for the whole SMTP
# session, and amavisd-milter may keep its AM.PDP one: both are left at
# once when the worker drains, not after shutdown_timeout.
MPORT=$(free_port) || bail_out "no free port"
ASOCK=$TG_TMP/ampdp.sock
start_tollgated "listen = lmtp:127.0.0.1:$TG_LMTP_PORT milter:127.0.0.1:$MPORT ampdp:unix:$ASOCK
shutdown_timeout = 40s"
wait_until "[ -S '$ASOCK' ]" 10
# idle_client KIND - connect, (milter: negotiate), then wait for the server
# to close; prints "closed N" with the seconds it stayed open
"$PYTHON" - "$MPORT" "$ASOCK" >"$TG_TMP/idle.out" 2>&1 <<'PYEOF' &
import socket, struct, sys, threading, time
port, path = int(sys.argv[1]), sys.argv[2]
def wait_closed(name, s):
    t0 = time.time()
    s.settimeout(60)
    try:
        while s.recv(4096):
            pass
        print("%s closed %.1f" % (name, time.time() - t0), flush=True)
    except Exception as e:
        print("%s error %s" % (name, e), flush=True)
m = socket.create_connection(("127.0.0.1", port))
body = b"O" + struct.pack(">III", 6, 0x1ff, 0)
m.sendall(struct.pack(">I", len(body)) + body)
hdr = m.recv(5)
print("milter negotiated" if len(hdr) == 5 and hdr[4:5] == b"O" else "milter no OPTNEG reply %r" % hdr, flush=True)
a = socket.socket(socket.AF_UNIX)
a.connect(path)
print("ampdp connected", flush=True)
ts = [threading.Thread(target=wait_closed, args=(n, s)) for n, s in (("milter", m), ("ampdp", a))]
for t in ts: t.start()
for t in ts: t.join()
PYEOF
IDLE_PID=$!
tg_track "$IDLE_PID"
wait_until 'grep -q "ampdp connected" "$TG_TMP/idle.out"' 10
sleep 1
is "$(sed -n 1p "$TG_TMP/idle.out")" "milter negotiated" "(c) an idle milter connection is open (OPTNEG answered)"
all="$TG_PID $(tollgated_workers | tr '\n' ' ')"
t0=$SECONDS
kill -TERM "$TG_PID"
# shellcheck disable=SC2086
wait_gone 45 $all
took=$((SECONDS - t0))
if [ "$took" -le 8 ]; then ok "(c) SIGTERM with idle milter and AM.PDP connections: exited in ${took} s"; else
	not_ok "(c) SIGTERM with idle milter and AM.PDP connections: exited within 8 s (took ${took} s, shutdown_timeout 40 s)"; fi
wait "$TG_PID" 2>/dev/null
tg_untrack "$TG_PID"
TG_PID=
wait_until '! pid_alive "$IDLE_PID"' 20
like "$(grep '^milter ' "$TG_TMP/idle.out" | tail -n 1)" '^milter closed [0-7]\.' "(c) the worker closed the idle milter connection at once"
like "$(grep '^ampdp ' "$TG_TMP/idle.out" | tail -n 1)" '^ampdp closed [0-7]\.' "(c) the worker closed the idle AM.PDP connection at once"
