#!/bin/bash
# t_state.sh - policy state shared in Redis (state/state.h) by two
# tollgated nodes: a private redis-server, node A and node B (own listen
# ports, pid files and control sockets, same state_redis_server and key
# prefix) forwarding to one smtp-sink.
#
#   - rate limits counted across both nodes: 3/1h tempfail for one sender,
#     the 4th message (2 via A, 2 via B) gets 451 4.7.1; other senders pass;
#     a "quarantine" limit keeps the message in the quarantine (250 2.7.0
#     ... quarantined), nothing reaches the sink
#   - tollgate stats --redis: the messages of both nodes
#   - exactly once: XFORWARD IDENT, two recipients on two downstreams, the
#     second tempfails once; the retry is answered 250 "delivered on an
#     earlier try" for the first (not delivered again) and delivers the
#     second
#   - pen pals (needs spamd; else TAP SKIP): a reply to someone a local
#     user wrote to via A scores penpals_bonus_score (5) lower on B
#   - quarantine index: EICAR quarantined on A is listed and released with
#     B's configuration (B has no quarantine_dir: Redis only)
#   - Redis down: A (rate_limit_failure_action = continue) passes mail, B
#     (tempfail) answers 451 4.7.1; Redis back: B passes again
#
# Everything runs on loopback and is stopped by pid (lib.sh).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE): run make first"
require_cmd redis-server redis-server
require_cmd spamd spamd

plan 36

start_redis
start_sink

# ---------------------------------------------------------------- a downstream that tempfails once
# RCPT of an address holding "tempfail-once" (or b@example.com) gets 451
# the first time; every saved message goes to FAIL_DIR/N.eml.
FAIL_PORT=$(free_port) || bail_out "no free port"
FAIL_DIR=$TG_TMP/failsink
mkdir -p "$FAIL_DIR"
cat >"$TG_TMP/failsink.py" <<'PYEOF'
import os, socketserver, sys, threading
port, outdir = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
state = {"n": 0, "failed": False}

class Handler(socketserver.StreamRequestHandler):
    timeout = 120
    def say(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()
    def handle(self):
        try:
            self.session()
        except (OSError, ValueError):
            pass
    def session(self):
        self.say("220 failsink ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "LHLO"):
                self.say("250-failsink\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip(), []
                self.say("250 2.1.0 Ok")
            elif verb == "RCPT":
                with lock:
                    fail = not state["failed"]
                    state["failed"] = True
                if fail:
                    self.say("451 4.3.0 failsink: try again later")
                else:
                    rcpts.append(cmd[8:].strip())
                    self.say("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    self.say("554 5.5.1 no valid recipients")
                    continue
                self.say("354 go ahead")
                body = []
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    body.append(l[1:] if l.startswith(b"..") else l)
                with lock:
                    state["n"] += 1
                    n = state["n"]
                tmp = os.path.join(outdir, ".%d.tmp" % n)
                with open(tmp, "wb") as f:
                    f.write(("X-Mail-Args: %s\r\n" % sender).encode())
                    for r in rcpts:
                        f.write(("X-Rcpt-Args: %s\r\n" % r).encode())
                    f.write(b"".join(body))
                os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
                self.say("250 2.0.0 Ok: queued as FAIL%d" % n)
            elif verb == "RSET":
                sender, rcpts = None, []
                self.say("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("250 2.0.0 Ok")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", port), Handler).serve_forever()
PYEOF
"$PYTHON" "$TG_TMP/failsink.py" "$FAIL_PORT" "$FAIL_DIR" >>"$TG_TMP/failsink.log" 2>&1 &
tg_track $!
wait_port 127.0.0.1 "$FAIL_PORT" 10 || bail_out "fail sink did not listen on $FAIL_PORT"

# ---------------------------------------------------------------- spamd (optional)
SPAMD_LINES=
if command -v spamd >/dev/null; then
	SPAMD_PORT=$(free_port) || bail_out "no free port"
	SPAMD_DIR=$TG_TMP/spamd
	mkdir -p "$SPAMD_DIR"
	chown nobody "$SPAMD_DIR" 2>/dev/null
	spamd -x -L -4 -i "127.0.0.1:$SPAMD_PORT" -A 127.0.0.1 \
		-r "$SPAMD_DIR/spamd.pid" -s stderr -m 1 --min-children=1 --max-spare=1 \
		-u nobody -H "$SPAMD_DIR" --cf='use_bayes 0' --cf='bayes_auto_learn 0' \
		>"$SPAMD_DIR/log" 2>&1 &
	tg_track $!
	if wait_until 'grep -qs "server started" "$SPAMD_DIR/log"' 120; then
		SPAMD_LINES="spam_scanner = spamd
spamd_address = 127.0.0.1:$SPAMD_PORT
spam_tag_level = -999
penpals_bonus_score = 5"
	else
		diag_file "$SPAMD_DIR/log" 20 "spamd log"
	fi
fi

# ---------------------------------------------------------------- two nodes
QDIR=$TG_TMP/quarantine
mkdir -p "$QDIR"
chown nobody "$QDIR"
COMMON="forward_method = smtp:[127.0.0.1]:$SINK_PORT
state_redis_server = 127.0.0.1:$REDIS_PORT
state_key_prefix = tgtest$$:
forward_method_maps = inline:{ b@example.com=smtp:[127.0.0.1]:$FAIL_PORT }
rate_limit_maps = inline:{ { sender:limited@example.net = 3/1h tempfail }, { sender:qlimited@example.net = 1/1h quarantine }, { sender:down@example.net = 100/1h tempfail } }
mynetworks = 127.0.0.0/8
policy_bank_MYNETS = { originating = yes }"

# start_node NAME EXTRA - tollgated with COMMON + EXTRA on its own port,
# pid file and control socket; sets PORT_NAME, CONF_NAME, PID_NAME
start_node() {
	local name=$1 port
	port=$(free_port) || bail_out "no free port"
	TG_LMTP_PORT=$port
	start_tollgated "$COMMON
pid_file = $TG_TMP/tollgated-$name.pid
control_socket = $TG_TMP/tollgated-$name.ctl
$2"
	cp "$TG_CONF" "$TG_TMP/node-$name.conf"
	eval "PORT_$name=$port CONF_$name=\$TG_TMP/node-\$name.conf PID_$name=\$TG_PID"
	TG_PID=
}
start_node A "quarantine_dir = $QDIR
rate_limit_failure_action = continue"
start_node B "rate_limit_failure_action = tempfail
$SPAMD_LINES"

# send PORT FILE SENDER XFORWARD RCPT... - one LMTP transaction; prints
# the replies after the dot (one per recipient)
send() {
	local port=$1 file=$2 from=$3 xf=$4 r
	shift 4
	{
		echo "<"
		echo "= LHLO client.example.net"
		[ -n "$xf" ] && echo "= XFORWARD $xf"
		echo "= MAIL FROM:<$from>"
		for r in "$@"; do echo "= RCPT TO:<$r>"; done
		echo "= DATA"
		echo "data $file"
		echo "<$#"
		echo "= QUIT"
	} | $SMTPCLIENT script 127.0.0.1 "$port" | after_dot | grep -v '^221 '
}

# msg NAME [TO] - a clean message with Message-ID NAME-$$@example.net
msg() {
	$MKMSG clean --out "$TG_TMP/$1.eml" --to "${2:-rcpt@example.com}" --message-id "$1-$$@example.net"
	echo "$TG_TMP/$1.eml"
}

# ---------------------------------------------------------------- stats
stat_msgs() { "$TOLLGATE" stats --redis -c "$CONF_A" 2>/dev/null | sed -n 's/^messages \([0-9]*\)$/\1/p'; }
before=$(stat_msgs)
for i in 1 2 3; do send "$PORT_A" "$(msg st-a$i)" someone@example.net "" rcpt@example.com >/dev/null; done
for i in 1 2; do send "$PORT_B" "$(msg st-b$i)" someone@example.net "" rcpt@example.com >/dev/null; done
after=$(stat_msgs)
is "$((${after:-0} - ${before:--100}))" 5 "stats --redis: the counters hold the messages of both nodes (3 via A + 2 via B)"
out=$("$TOLLGATE" stats --redis -c "$CONF_B" 2>&1)
like "$out" '^MYNETS +Clean +[0-9]+ +[0-9]+$' "stats --redis: a row per bank and category (MYNETS Clean)"
like "$out" '^MYNETS +Clean +1m +[0-9.]+ +[0-9.]+$' "stats --redis: msgs/s and bytes/s over 1 minute"
out=$(printf 'state_redis_server = 127.0.0.1:1\n' >"$TG_TMP/dead.conf"; "$TOLLGATE" stats --redis -c "$TG_TMP/dead.conf" 2>&1)
rc=$?
like "$rc $(printf '%s' "$out" | tr '\n' ' ')" '^2 .*cannot read the counters from Redis 127\.0\.0\.1:1' "stats --redis: unreachable Redis: exit 2 with a clear message"
out=$(printf 'myhostname = x.example.com\n' >"$TG_TMP/none.conf"; "$TOLLGATE" stats --redis -c "$TG_TMP/none.conf" 2>&1)
rc=$?
like "$rc $out" '^2 .*state_redis_server is empty' "stats --redis: no state_redis_server: exit 2"

# a state Redis with a password (requirepass) and another database:
# state_redis_password and state_redis_db, as the daemon reads them
PW_PORT=$(free_port) || bail_out "no free port"
mkdir -p "$TG_TMP/redis-pw"
redis-server --bind 127.0.0.1 --port "$PW_PORT" --save '' --appendonly no --dir "$TG_TMP/redis-pw" \
	--requirepass "pw-$$" --daemonize no >>"$TG_TMP/redis-pw.log" 2>&1 &
PW_PID=$!
tg_track "$PW_PID"
wait_port 127.0.0.1 "$PW_PORT" 10 || bail_out "redis-server with requirepass did not listen on $PW_PORT"
REDISCLI_AUTH="pw-$$" redis-cli -h 127.0.0.1 -p "$PW_PORT" -n 3 HSET 'tollgate:{stats}:seen' pw-node.example.com "$(date +%s)" >/dev/null
printf 'state_redis_server = 127.0.0.1:%s\nstate_redis_db = 3\n' "$PW_PORT" >"$TG_TMP/nopw.conf"
out=$("$TOLLGATE" stats --redis -c "$TG_TMP/nopw.conf" 2>&1)
rc=$?
like "$rc $(printf '%s' "$out" | tr '\n' ' ')" '^2 .*NOAUTH' "state Redis with requirepass, no state_redis_password: exit 2, NOAUTH"
printf 'state_redis_password = pw-%s\n' "$$" | cat "$TG_TMP/nopw.conf" - >"$TG_TMP/pw.conf"
out=$("$TOLLGATE" stats --redis -c "$TG_TMP/pw.conf" 2>&1)
rc=$?
like "$rc $(printf '%s' "$out" | grep pw-node)" '^0 pw-node\.example\.com ' "state_redis_password and state_redis_db = 3: the node written in db 3 is listed"
kill_tree "$PW_PID" 10
tg_untrack "$PW_PID"

# ---------------------------------------------------------------- rate limits
# a fixed window of one hour: keep the four messages inside one window
[ $(($(date +%s) % 3600)) -gt 3590 ] && sleep 12
r1=$(send "$PORT_A" "$(msg rl1)" limited@example.net "" rcpt@example.com)
r2=$(send "$PORT_A" "$(msg rl2)" limited@example.net "" rcpt@example.com)
r3=$(send "$PORT_B" "$(msg rl3)" limited@example.net "" rcpt@example.com)
r4=$(send "$PORT_B" "$(msg rl4)" limited@example.net "" rcpt@example.com)
like "$r1|$r2|$r3" '^250 [^|]*\|250 [^|]*\|250 ' "rate limit 3/1h: messages 1-3 (A, A, B) pass"
like "$r4" '^451 4\.7\.1 .*rate limit 3/1h tempfail for sender:limited@example\.net \(4 in 3600s\)' \
	"rate limit: the 4th, counted across both nodes, gets 451 4.7.1"
is "$(count_sink_msgid "rl4-$$@example.net") $(count_sink_msgid "rl3-$$@example.net")" "0 1" \
	"rate limit: the 4th is not delivered, the 3rd is"
like "$(send "$PORT_B" "$(msg rl-other)" other@example.net "" rcpt@example.com)" '^250 ' \
	"rate limit: another sender is not affected"
q1=$(send "$PORT_A" "$(msg rlq1)" qlimited@example.net "" rcpt@example.com)
q2=$(send "$PORT_A" "$(msg rlq2)" qlimited@example.net "" rcpt@example.com)
like "$q1|$q2" '^250 [^|]*\|250 2\.7\.0 .*quarantined: rate limit 1/1h quarantine' \
	"rate limit with action quarantine: 250 2.7.0 ... quarantined"
is "$(count_sink_msgid "rlq2-$$@example.net") $(dir_count_grep "$QDIR" "^Message-ID: <rlq2-$$@example.net>")" "0 1" \
	"rate limit quarantine: the message is in the quarantine dir, not at the sink"

# ---------------------------------------------------------------- exactly once
f=$(msg once a@example.com)
r=$(send "$PORT_A" "$f" sender@example.net "IDENT=QID1$$" a@example.com b@example.com)
like "$(printf '%s\n' "$r" | tr '\n' '|')" '^250 [^|]*\|4[0-9][0-9] [^|]*\|$' \
	"exactly once, first try: 250 for a@ (sink), 4xx for b@ (tempfailing downstream)"
r=$(send "$PORT_B" "$f" sender@example.net "IDENT=QID1$$" a@example.com b@example.com)
like "$(printf '%s\n' "$r" | tr '\n' '|')" '^250 2\.0\.0 Ok, id=[^ ]*, delivered on an earlier try [^|]*\|250 [^|]*\|$' \
	"retry of the same message (via the other node): a@ 250 delivered on an earlier try, b@ 250"
wait_until '[ "$(dir_count_grep "$FAIL_DIR" "^Message-ID: <once-$$@example.net>")" -ge 1 ]' 5
is "$(count_sink_msgid "once-$$@example.net") $(dir_count_grep "$FAIL_DIR" "^Message-ID: <once-$$@example.net>")" "1 1" \
	"exactly once: a@ delivered once, b@ delivered on the retry"
like "$(tg_log_count "<a@example.com> was delivered on an earlier try of QID1$$: not again")" '^1$' \
	"exactly once: the log says a@ was delivered on an earlier try"

# ---------------------------------------------------------------- pen pals
if [ -n "$SPAMD_LINES" ]; then
	send "$PORT_A" "$(msg pp-out friend@example.org)" user@example.com "ADDR=127.0.0.1" friend@example.org >/dev/null
	pf=$(msg pp-reply user@example.com)
	sed 's/^Message-ID: .*/Message-ID: <pp-stranger-'$$'@example.net>/' "$pf" >"$TG_TMP/pp-stranger.eml"
	r1=$(send "$PORT_B" "$pf" friend@example.org "ADDR=203.0.113.5" user@example.com)
	r2=$(send "$PORT_B" "$TG_TMP/pp-stranger.eml" stranger@example.org "ADDR=203.0.113.5" user@example.com)
	like "$r1|$r2" '^250 [^|]*\|250 ' "pen pals: both replies delivered"
	like "$(tg_log_count "pen pals: <user@example.com> wrote to <friend@example.org>, score")" '^1$' \
		"pen pals: the log shows the pen pal found across nodes (recorded on A, used on B)"
	wait_until '[ "$(count_sink_msgid "pp-stranger-$$@example.net")" = 1 ]' 5
	s1=$(sink_grep "^Message-ID: <pp-reply-$$@example.net>" | head -n 1 | xargs -r sed -n 's/^X-Spam-Score: //p' | tr -d '\r')
	s2=$(sink_grep "^Message-ID: <pp-stranger-$$@example.net>" | head -n 1 | xargs -r sed -n 's/^X-Spam-Score: //p' | tr -d '\r')
	check "pen pals: X-Spam-Score of the reply (${s1:-none}) is 5 below a stranger's (${s2:-none})" \
		awk -v a="${s1:-x}" -v b="${s2:-x}" 'BEGIN { exit !(a != "x" && b != "x" && (b - a) > 4.99 && (b - a) < 5.01) }'
else
	not_ok "pen pals: both replies delivered: spamd is missing (apt-get install spamd)"
	not_ok "pen pals: the log shows the pen pal: spamd is missing"
	not_ok "pen pals: X-Spam-Score 5 lower: spamd is missing"
fi

# ---------------------------------------------------------------- quarantine index
$MKMSG eicar-plain --out "$TG_TMP/eicar.eml" --to victim@example.com --message-id "eicar-$$@example.net"
r=$(send "$PORT_A" "$TG_TMP/eicar.eml" sender@example.net "" victim@example.com)
like "$r" '^250 2\.7\.0 .*INFECTED' "EICAR on A: discarded (250 2.7.0 INFECTED)"
QF=$(grep -l "^Message-ID: <eicar-$$@example.net>" "$QDIR"/virus-* 2>/dev/null | head -n 1)
MID=${QF##*/virus-}
like "$MID" '^[A-Za-z0-9_-]+$' "EICAR: quarantined on A as virus-MAIL_ID"
out=$("$TOLLGATE" quarantine list -c "$CONF_B" 2>&1)
like "$out" "^$MID +[0-9-]+ [0-9:]+ +virus +<sender@example\.net> <victim@example\.com> $QF" \
	"quarantine list -c CONF_B (no quarantine_dir there): the Redis index lists it"
unlike_secret=$(awk -v id="$MID" '$2 == id { print $3 }' "$QDIR/index")
check "quarantine list: no secret printed" test -n "$unlike_secret" -a "$(printf '%s\n' "$out" | grep -c -- "$unlike_secret")" = 0
like "$("$TOLLGATE" quarantine list -c "$CONF_A" --since 3600 2>&1)" "^$MID " "quarantine list -c CONF_A --since 3600 lists it too"
out=$("$TOLLGATE" release "$MID" -c "$CONF_B" 2>&1)
rc=$?
like "$rc $out" '^0 <victim@example\.com>: 250 2\.0\.0 from MTA\(smtp:\[127\.0\.0\.1\]:[0-9]+\): 250 ' \
	"tollgate release MAIL_ID -c CONF_B: one line per recipient with the downstream reply, exit 0"
wait_until '[ "$(count_sink_msgid "eicar-$$@example.net")" = 1 ]' 5
rf=$(sink_grep "^Message-ID: <eicar-$$@example.net>" | head -n 1)
is "$(grep -cE '^(X-Envelope-(From|To|To-Blocked)|X-Quarantine-ID|Return-Path):' "${rf:-/dev/null}") $(grep -c 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' "${rf:-/dev/null}")" \
	"0 1" "release: at the sink without the envelope lines, the body intact"
check "release: body byte-equal to the original (CR LF)" \
	test "$($SMTPCLIENT bodyhash --sink "${rf:-/dev/null}" 2>/dev/null)" = "$($SMTPCLIENT bodyhash "$TG_TMP/eicar.eml" 2>/dev/null)"
# without Redis: quarantine_dir/index
grep -Ev '^(state_redis_server|rate_limit_maps|penpals_bonus_score)[[:space:]]*=' "$CONF_A" >"$TG_TMP/noredis.conf"
like "$("$TOLLGATE" quarantine list -c "$TG_TMP/noredis.conf" 2>&1)" \
	"^$MID +[0-9-]+ [0-9:]+ +virus +<sender@example\.net> <victim@example\.com> $QF\$" \
	"quarantine list without state_redis_server: from quarantine_dir/index"
out=$("$TOLLGATE" release "virus-$MID" other@example.org -c "$TG_TMP/noredis.conf" 2>&1)
rc=$?
like "$rc $out" '^0 <other@example\.org>: 250 ' "release virus-MAIL_ID RECIPIENT via quarantine_dir/index: to the given recipient"
wait_until '[ "$(sink_count_grep "^X-Rcpt-Args: <other@example.org>")" = 1 ]' 5
is "$(sink_count_grep "^X-Rcpt-Args: <other@example.org>")" 1 "release to another recipient: delivered to it"
out=$("$TOLLGATE" release NoSuchId1234 -c "$CONF_B" 2>&1)
rc=$?
like "$rc $out" '^1 .*not in the quarantine index' "release of an unknown mail_id: exit 1, not found"

# ---------------------------------------------------------------- Redis down
stop_redis
r1=$(send "$PORT_A" "$(msg down-a)" down@example.net "" rcpt@example.com)
r2=$(send "$PORT_B" "$(msg down-b)" down@example.net "" rcpt@example.com)
like "$r1" '^250 ' "Redis down, rate_limit_failure_action = continue (A): 250, mail flows"
like "$r2" '^451 4\.7\.1 .*rate limit state unavailable' "Redis down, rate_limit_failure_action = tempfail (B): 451 4.7.1"
like "$(tg_log_count 'rate limit not counted \(Redis: .*\): continue without it')" '^[1-9]' "Redis down: A logs that it went on without the limit"
start_redis "$REDIS_PORT"
sleep 1.5
r2=$(send "$PORT_B" "$(msg back-b)" down@example.net "" rcpt@example.com)
like "$r2" '^250 ' "Redis back on the same port: B passes mail again"
