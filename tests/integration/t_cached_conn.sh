#!/bin/bash
# t_cached_conn.sh - Postfix's cached connections must not hold every
# worker while a new connection from Postfix waits. Postfix keeps its
# connection to the content filter in its connection cache (scache) for
# lmtp_connection_cache_time_limit (2 s) after a delivery, and the next
# delivery does not always take it from there: it may connect anew. With
# max_servers = the feed's maxproc (the integration guide's rule) the idle
# cached connection then holds the only free worker, and the new
# connection waits until Postfix drops the cached one: a 2 s stall, seen
# in Postfix's log as a connection-setup delay (delays=a/b/c/d, c = 2) and
# in the bench as a Postfix chain at a third of the pass-through's speed.
#
# A worker idle after a transaction now closes its connection with a 421
# when a client has waited on a listener beyond a short grace with no
# other worker free; Postfix's RSET probe of the closed cached connection
# fails and it connects anew, so nothing is lost or deferred. Bursts of
# mail with short pauses between them (when Postfix connects anew) through
# a private Postfix, amavisfeed maxproc 1, max_servers 1.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

ROUNDS=6
BURST=40
plan 5
start_sink
start_postfix 1
start_tollgated "max_servers = 1"

total=0
for round in $(seq 1 $ROUNDS); do
	if ! timeout 120 "$PF_SBIN/smtp-source" -s 1 -m $BURST -l 2048 -f sender@example.net \
		-t rcpt@example.com "127.0.0.1:$PF_INJECT_PORT" 2>>"$TG_TMP/smtp-source.err"; then
		diag "smtp-source failed in round $round"
		diag_file "$TG_TMP/smtp-source.err" 5
	fi
	total=$((total + BURST))
	wait_until '[ "$(count_sink)" -ge '"$total"' ]' 60 || diag "round $round: $(count_sink) of $total at the sink"
	sleep 0.3	# Postfix's cache keeps the connection 2 s: the next burst comes while it holds it
done
settle

is "$(count_sink)" "$total" "every message of $ROUNDS bursts reached the sink once ($total)"

# Postfix's delivery lines to tollgated: delays=a/b/c/d, c is the connection setup
feed="relay=127.0.0.1\[127.0.0.1\]:$TG_LMTP_PORT,"
slow=$(grep -E "$feed" "$PF_DIR/maillog" | grep -E 'status=sent' |
	sed -n 's/.*delays=[0-9.]*\/[0-9.]*\/\([0-9.]*\)\/.*/\1/p' | awk '$1 >= 1' | wc -l)
sent=$(grep -E "$feed" "$PF_DIR/maillog" | grep -c 'status=sent')
if [ "$sent" -eq "$total" ] && [ "$slow" -eq 0 ]; then
	ok "no delivery to tollgated waited 1 s or more for its connection ($sent deliveries)"
else
	not_ok "deliveries to tollgated that waited ≥ 1 s for the connection: $slow of $sent"
	grep -E "$feed" "$PF_DIR/maillog" | grep -E 'delays=[0-9.]+/[0-9.]+/[1-9]' | tail -n 5 | cut -c1-220 |
		sed 's/^/# /'
fi

deferred=$(grep -E "$feed" "$PF_DIR/maillog" | grep -c 'status=deferred')
is "$deferred" 0 "Postfix deferred nothing on the way to tollgated"

n=$(tg_log_count 'idle connection from \[127.0.0.1\] closed: a client is waiting')
if [ "${n:-0}" -ge 1 ]; then
	ok "an idle cached connection gave its worker to a waiting client ($n times)"
else
	not_ok "no idle connection was closed for a waiting client (the test did not make the situation)"
fi

n=$(grep -cE 'Passed CLEAN' "$TG_LOG")
is "$n" "$total" "tollgated passed each message once"
