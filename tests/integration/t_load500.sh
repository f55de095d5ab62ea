#!/bin/bash
# t_load500.sh - 500 messages from smtp-source (10 sessions in parallel)
# through Postfix and tollgated: all arrive, none is left in the queue, and
# tollgated logged one Passed CLEAN line each.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

N=500
plan 6
start_sink
start_postfix 4
start_tollgated "max_servers = 4"

t0=$SECONDS
if timeout 120 "$PF_SBIN/smtp-source" -s 10 -m $N -l 4096 -f sender@example.net -t rcpt@example.com \
	"127.0.0.1:$PF_INJECT_PORT" >"$TG_TMP/smtp-source.log" 2>&1; then
	ok "smtp-source sent $N messages into Postfix"
else
	not_ok "smtp-source sent $N messages into Postfix"; diag_file "$TG_TMP/smtp-source.log" 10
fi
wait_until '[ "$(count_sink)" -ge $N ]' 180
t1=$SECONDS
is "$(count_sink)" $N "all $N messages arrived at the sink"
diag "$(count_sink) messages in $((t1 - t0)) s"
# an empty queue also means smtp-sink has finished writing every dump
wait_until '[ "$(postfix_queue_count)" -eq 0 ]' 30
is "$(postfix_queue_count)" 0 "Postfix queue is empty"
is "$(sink_files | xargs -r grep -L '^X-Virus-Scanned: tollgate at example.com' | wc -l)" 0 "every one carries X-Virus-Scanned"
wait_until '[ "$(tg_log_count "Passed CLEAN")" -ge $N ]' 10
is "$(tg_log_count 'Passed CLEAN')" $N "tollgated logged $N Passed CLEAN lines"
is "$(grep -c 'status=deferred' "$PF_DIR/maillog")" 0 "Postfix deferred nothing"
