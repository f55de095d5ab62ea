#!/bin/bash
# t_syscalls.sh - the 4 KiB path stays lean: strace on the only worker
# while smtp-source sends 20 LMTP messages of 4 KiB (one per connection)
# and a client sends one message to 3 recipients. Per message no
# getpeername() (the address comes from accept), at most one getsockname()
# per connection and one getpid() per message, no poll(…, 0) liveness
# check of a re-injection connection used a moment before; the replies to
# the final dot leave in one write, and the re-injection's MAIL, RCPT and
# DATA in one write (pipelined). bench/syscalls prints the whole count.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd strace strace
require_cmd smtp-source postfix

N=20
plan 9
start_sink
start_tollgated "max_servers = 1
max_requests = 0"
wait_until '[ "$(tollgated_worker_count)" -ge 1 ]' 20
w=$(tollgated_workers | head -n 1)
[ -n "$w" ] || bail_out "no worker"

# warm-up: the re-injection connection is opened and cached
smtp-source -L -m 3 -l 4096 -f sender@example.net -t user@example.com "127.0.0.1:$TG_LMTP_PORT" ||
	bail_out "smtp-source warm-up failed"
wait_until '[ "$(tg_log_count "Passed CLEAN")" -ge 3 ]' 20

trace=$TG_TMP/strace.txt
strace -f -s 2048 -o "$trace" -e trace=getpid,getpeername,getsockname,poll,ppoll,sendto,write,accept4 \
	-p "$w" 2>>"$TG_TMP/strace.log" &
st=$!
tg_track "$st"
wait_until "[ \"\$(awk '/^TracerPid:/ { print \$2 }' /proc/$w/status)\" = $st ]" 10 ||
	bail_out "strace did not attach to worker $w"

smtp-source -L -m "$N" -l 4096 -f sender@example.net -t user@example.com "127.0.0.1:$TG_LMTP_PORT"
is "$?" 0 "smtp-source sent $N messages of 4 KiB"
printf 'From: <sender@example.net>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nTo: <user1@example.com>\nSubject: syscalls %s\nMessage-ID: <syscalls-%s@example.net>\n\nthree recipients\n' $$ $$ >"$TG_TMP/three.eml"
out=$($SMTPCLIENT script 127.0.0.1 "$TG_LMTP_PORT" <<EOS
<
= LHLO client.example.net
= MAIL FROM:<sender@example.net>
= RCPT TO:<user1@example.com>
= RCPT TO:<user2@example.com>
= RCPT TO:<user3@example.com>
= DATA
data $TG_TMP/three.eml
<3
= QUIT
EOS
)
is "$(printf '%s\n' "$out" | grep -c '^S: 250 2\.0\.0 from MTA')" 3 "3 replies after the final dot"
wait_until '[ "$(tg_log_count "Passed CLEAN")" -ge $((3 + N + 1)) ]' 20
sleep 0.3
kill -INT "$st"
wait "$st" 2>/dev/null
tg_untrack "$st"
conns=$((N + 1))
msgs=$((N + 1))

count() { grep -cE "$1" "$trace"; }
is "$(count '^[0-9]+ +getpeername\(')" 0 "no getpeername() (the peer's address comes from accept)"
n=$(count '^[0-9]+ +getsockname\(')
check "getsockname() at most once per connection ($n for $conns connections)" [ "$n" -le $conns ]
n=$(count '^[0-9]+ +getpid\(')
check "getpid() at most once per message ($n for $msgs messages)" [ "$n" -le $msgs ]
# a connection idle for over a second is still checked (once per idle
# second, by the worker's accept loop): a slow moment of this machine may
# add one or two; the old code made two per message
n=$(count '^[0-9]+ +poll\(\[\{fd=[0-9]+, events=POLLIN\}\], 1, 0\)')
check "no poll(…, 0) liveness check of the re-injection connection just used ($n for $msgs messages)" \
	[ "$n" -le 5 ]
is "$(grep -E '^[0-9]+ +sendto\(' "$trace" | grep -o 'from MTA(' | wc -l)" $((N + 3)) \
	"every reply to a final dot is in the trace ($N + 3)"
is "$(grep -E '^[0-9]+ +sendto\(' "$trace" | grep -cE '(from MTA\(.*){3}')" 1 \
	"the 3 replies to the final dot left in one write"
is "$(grep -E '^[0-9]+ +sendto\(' "$trace" |
	grep -cE 'MAIL FROM:<sender@example.net>.*RCPT TO:<user1@example.com>.*RCPT TO:<user2@example.com>.*RCPT TO:<user3@example.com>.*DATA\\r\\n')" 1 \
	"the re-injection's MAIL, RCPT x3 and DATA left in one write"
[ "$TG_FAILS" = 0 ] || diag "$(grep -vE 'sendto|write\(' "$trace" | head -n 40)"
