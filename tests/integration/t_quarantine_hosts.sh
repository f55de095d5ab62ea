#!/bin/bash
# t_quarantine_hosts.sh - one quarantine for several tollgate hosts
# (README.md "Several hosts", docs/design.md "Quarantine and release"):
# three tollgated "hosts" on loopback with their own myhostname, port,
# quarantine_dir, pid file and control socket, one private redis-server
# shared as state_redis_server, one smtp-sink:
#
#   host A  quarantine_store = redis, quarantine_redis_max_size = 64k
#   host B  quarantine_store = redis, an ampdp: listener (amavisd-release)
#   host C  quarantine_store = file (the default)
#
#   - EICAR through A: discarded, kept in Redis (no file on A);
#     `tollgate quarantine list -c B` shows it with host A, location redis
#   - an EICAR message over quarantine_redis_max_size: kept in A's
#     quarantine_dir, A's log says so, the list shows the path and host A;
#     released from B: exit 1, "quarantined on host A ... release it
#     there"; released with A's configuration: delivered
#   - EICAR through C (file store): released from B, the same clear answer
#     naming host C
#   - A stopped (the owning host down): `tollgate release -c B MAIL_ID`
#     delivers the Redis-stored message once, without the envelope lines,
#     the body byte-equal; a second release answers as amavisd does (the
#     quarantine keeps the message: released again, 250, a second copy)
#   - amavisd-release against B's AM.PDP socket (the same release path):
#     to another recipient; a wrong secret is refused
#   - Redis stopped: EICAR through B is still quarantined (not
#     tempfailed), in B's quarantine_dir, and B's log says why and where
#
# Everything runs on loopback and is stopped by pid (lib.sh).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE): run make first"
require_cmd redis-server redis-server
require_cmd redis-cli redis-tools

plan 25

start_sink
start_redis
BASE=$TG_TMP
SOCK_B=$BASE/B/ampdp.sock

# start_host NAME STORE [EXTRA] - tollgated "host NAME" (its files in
# $BASE/NAME; @PORT@ in EXTRA is its LMTP port); sets PORT_NAME,
# CONF_NAME, LOG_NAME, PID_NAME
start_host() {
	local name=$1 port extra=${3:-}
	port=$(free_port) || bail_out "no free port"
	mkdir -p "$BASE/$name/quar"
	chown nobody "$BASE/$name/quar"
	TG_TMP=$BASE/$name TG_LMTP_PORT=$port start_tollgated "myhostname = host$name.example.com
state_redis_server = 127.0.0.1:$REDIS_PORT
state_key_prefix = tgq$$:
quarantine_dir = $BASE/$name/quar
quarantine_store = $2
${extra//@PORT@/$port}"
	eval "PORT_$name=$port CONF_$name=\$TG_CONF LOG_$name=\$TG_LOG PID_$name=\$TG_PID"
	TG_PID=
}
start_host A redis "quarantine_redis_max_size = 64k"
start_host B redis "listen = lmtp:127.0.0.1:@PORT@ ampdp:unix:$SOCK_B"
start_host C file
wait_until "[ -S '$SOCK_B' ]" 20 || bail_out "host B did not create $SOCK_B"

# send PORT FILE RCPT - one LMTP transaction; prints the reply after the dot
send() {
	printf '%s\n' "<" "= LHLO client.example.net" "= MAIL FROM:<sender@example.net>" "= RCPT TO:<$3>" \
		"= DATA" "data $2" "<1" "= QUIT" |
		$SMTPCLIENT script 127.0.0.1 "$1" | after_dot | grep -v '^221 '
}

# mid_of RCPT - the MAIL_ID of the entry for RCPT in B's list
mid_of() { "$TOLLGATE" quarantine list -c "$CONF_B" 2>/dev/null | awk -v r="<$1>" '$6 == r { print $1; exit }'; }

# ------------------------------------------------ quarantined on A, in Redis
$MKMSG eicar-b64 --out "$BASE/small.eml" --to victim@example.com --message-id "small-$$@example.net"
like "$(send "$PORT_A" "$BASE/small.eml" victim@example.com)" '^250 2\.7\.0 .*INFECTED' "EICAR through host A: discarded (250 2.7.0 INFECTED)"
MID=$(mid_of victim@example.com)
like "$MID" '^[A-Za-z0-9_-]+$' "quarantine list -c B: host A's message is listed"
is "$(find "$BASE/A/quar" -type f ! -name index | wc -l)" 0 "quarantine_store = redis: no file in A's quarantine_dir"
like "$("$TOLLGATE" quarantine list -c "$CONF_B" 2>&1 | grep "^$MID ")" \
	"^$MID +[0-9-]+ [0-9:]+ +virus +<sender@example\.net> <victim@example\.com> redis hostA\.example\.com\$" \
	"quarantine list -c B: location redis, host hostA.example.com"
is "$(count_sink)" 0 "nothing at the sink yet"

# ------------------------------------------------ too big for Redis: A's file store
{
	cat "$BASE/small.eml" | sed 's/^Message-ID: .*/Message-ID: <big-'$$'@example.net>/; s/victim@/bigvictim@/'
	for i in $(seq 1 100); do printf 'filler line %03d %0900d\n' "$i" 0; done
} >"$BASE/big.eml"
like "$(send "$PORT_A" "$BASE/big.eml" bigvictim@example.com)" '^250 2\.7\.0 .*INFECTED' "a larger EICAR message through host A: discarded"
BIG=$(mid_of bigvictim@example.com)
check "over quarantine_redis_max_size: kept in A's quarantine_dir as virus-$BIG" test -n "$BIG" -a -f "$BASE/A/quar/virus-$BIG"
like "$(grep -c "is over quarantine_redis_max_size (65536): kept in quarantine_dir on this host (hostA.example.com)" "$LOG_A")" '^1$' \
	"A's log says the message is kept in its quarantine_dir, to be released there"
like "$("$TOLLGATE" quarantine list -c "$CONF_B" 2>&1 | grep "^$BIG ")" " $BASE/A/quar/virus-$BIG hostA\\.example\\.com\$" \
	"quarantine list -c B: the file's path and host A"
out=$("$TOLLGATE" release "$BIG" -c "$CONF_B" 2>&1)
rc=$?
like "$rc $out" "^1 tollgate: mail_id $BIG was quarantined on host hostA\\.example\\.com in its file store .*release it there" \
	"release -c B of a file-stored message of host A: exit 1, quarantined on host A, release it there"
out=$("$TOLLGATE" release "$BIG" -c "$CONF_A" 2>&1)
rc=$?
like "$rc $out" '^0 <bigvictim@example\.com>: 250 ' "release -c A (the owning host): delivered"

# ------------------------------------------------ host C: file store
$MKMSG eicar-plain --out "$BASE/c.eml" --to cvictim@example.com --message-id "c-$$@example.net"
like "$(send "$PORT_C" "$BASE/c.eml" cvictim@example.com)" '^250 2\.7\.0 .*INFECTED' "EICAR through host C (file store): discarded"
CID=$(mid_of cvictim@example.com)
out=$("$TOLLGATE" release "$CID" -c "$CONF_B" 2>&1)
rc=$?
like "$rc $out" "^1 tollgate: mail_id $CID was quarantined on host hostC\\.example\\.com in its file store \\($BASE/C/quar/virus-$CID\\): release it there .*while that host is down the message waits on its disk" \
	"quarantine_store = file: release -c B answers: quarantined on host C, release it there (and what happens while C is down)"
is "$(count_sink_msgid "c-$$@example.net")" 0 "host C's message: not delivered from B"

# ------------------------------------------------ host A down: released from B
kill_tree "$PID_A" 30
tg_untrack "$PID_A"
out=$("$TOLLGATE" release "$MID" -c "$CONF_B" 2>&1)
rc=$?
like "$rc $out" '^0 <victim@example\.com>: 250 2\.0\.0 from MTA\(smtp:\[127\.0\.0\.1\]:[0-9]+\): 250 ' \
	"host A stopped: tollgate release -c B MAIL_ID delivers the Redis-stored message, exit 0"
wait_until '[ "$(count_sink_msgid "small-$$@example.net")" -ge 1 ]' 10
is "$(count_sink_msgid "small-$$@example.net")" 1 "released once: one copy at the sink"
rf=$(sink_grep "^Message-ID: <small-$$@example.net>" | head -n 1)
is "$(grep -cE '^(X-Envelope-(From|To|To-Blocked)|X-Quarantine-ID|Return-Path):' "${rf:-/dev/null}")" 0 \
	"released from Redis: without the envelope lines"
check "released from Redis: body byte-equal to the original (CR LF)" \
	test "$($SMTPCLIENT bodyhash --sink "${rf:-/dev/null}" 2>/dev/null)" = "$($SMTPCLIENT bodyhash "$BASE/small.eml" 2>/dev/null)"
out=$("$TOLLGATE" release "$MID" -c "$CONF_B" 2>&1)
rc=$?
wait_until '[ "$(count_sink_msgid "small-$$@example.net")" -ge 2 ]' 10
like "$rc $out $(count_sink_msgid "small-$$@example.net")" '^0 <victim@example\.com>: 250 .* 2$' \
	"a second release answers as amavisd does: the quarantine keeps the message, released again (250, a second copy)"

# ------------------------------------------------ amavisd-release to B's AM.PDP socket
if [ -x /usr/sbin/amavisd-release ]; then
	sed "s|^\\([[:space:]]*\\)\\\$socketname = .*|\\1\\\$socketname = '$SOCK_B';|" /usr/sbin/amavisd-release >"$BASE/amavisd-release"
	out=$(perl -T "$BASE/amavisd-release" "virus-$MID" other@example.org 2>&1)
	wait_until '[ "$(sink_count_grep "^X-Rcpt-Args: <other@example.org>")" -ge 1 ]' 10
	like "$out $(sink_count_grep '^X-Rcpt-Args: <other@example.org>')" '^250 2\.0\.0 from MTA.* 1$' \
		"amavisd-release MAIL_ID other@example.org against host B (root, no secret): delivered from Redis"
	out=$(perl -T "$BASE/amavisd-release" "virus-$MID" wrongsecret99 2>&1)
	like "$out" '450 4\.5\.0 Failure: Secret_id does not match' "amavisd-release with a wrong secret: refused"
else
	not_ok "amavisd-release against host B: /usr/sbin/amavisd-release is missing (apt-get install amavisd-new)"
	not_ok "amavisd-release with a wrong secret: /usr/sbin/amavisd-release is missing"
fi
like "$(grep -c "Quarantined message release: virus-$MID <sender@example.net> -> 1 recipient(s) (from Redis)" "$LOG_B")" '^1$' \
	"B's log: the AM.PDP release, from Redis"

# ------------------------------------------------ Redis down: the file store holds it
stop_redis
$MKMSG eicar-plain --out "$BASE/down.eml" --to dvictim@example.com --message-id "down-$$@example.net"
like "$(send "$PORT_B" "$BASE/down.eml" dvictim@example.com)" '^250 2\.7\.0 .*INFECTED' \
	"Redis stopped: EICAR through host B is still quarantined and discarded, not tempfailed"
is "$(dir_count_grep "$BASE/B/quar" "^Message-ID: <down-$$@example.net>")" 1 "Redis stopped: the message is in B's quarantine_dir"
like "$(grep -c "quarantine in Redis failed (.*): kept in quarantine_dir on this host (hostB\.example\.com) instead, release it here" "$LOG_B")" '^1$' \
	"Redis stopped: B's log says the message is kept in its quarantine_dir, to be released there"
