#!/bin/bash
# t_sighup_sigterm.sh - SIGHUP: the master re-reads its config and starts
# new workers while a message in flight still completes; SIGTERM: master
# and workers drain and exit within shutdown_timeout, the pid file goes.
# tollgated forwards to a slow sink so a message can be held in flight.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 15
SHUTDOWN=10
start_slowsink 4
start_tollgated "forward_method = smtp:[127.0.0.1]:$SLOW_PORT
max_servers = 2
shutdown_timeout = ${SHUTDOWN}s"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10
is "$(tollgated_worker_count)" 2 "2 workers at start"
is "$(tr -dc 0-9 <"$TG_PIDFILE" 2>/dev/null)" "$TG_PID" "pid file holds the master's pid"
like "$(proc_title "$TG_PID")" '^tollgated: master' "master's title"
old_workers=$(tollgated_workers | sort | tr '\n' ' ')

# send_bg - a message over LMTP in the background: send_bg NAME SENDER
send_bg() {
	$SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --from "$2" --to user1@example.com \
		--message-id "$1-$$@example.net" --timeout 60 >"$TG_TMP/$1.out" 2>&1 &
	eval "BG_$1=\$!"
	tg_track $!
}

# --- SIGHUP with a message in flight (downstream holds its 354 for 4 s)
send_bg hup slow-data@example.net
wait_until 'grep -q "^data .*<slow-data@" "$SLOW_EVENTS"' 20 || diag "the message did not reach the slow sink"
busy=$(tollgated_busy_worker)
sed -i 's/^max_servers = .*/max_servers = 3/' "$TG_CONF"
kill -HUP "$TG_PID"
new_workers() { tollgated_workers | grep -vxF -f <(tr ' ' '\n' <<<"$old_workers" | grep .) | grep -c .; }
if wait_until '[ "$(new_workers)" -ge 2 ]' 10; then ok "SIGHUP: new workers appear (different pids)"; else not_ok "SIGHUP: new workers appear"; diag "before: $old_workers now: $(tollgated_workers | tr '\n' ' ')"; fi
if [ -n "$busy" ] && pid_alive "$busy"; then ok "SIGHUP: the busy worker $busy keeps its session"; else not_ok "SIGHUP: the busy worker keeps its session (busy=${busy:-none})"; fi
wait_until '! pid_alive "$BG_hup"' 30
like "$(grep '^S: 250 2.0.0 from MTA' "$TG_TMP/hup.out")" "^S: 250 2\\.0\\.0 from MTA\\(smtp:\\[127\\.0\\.0\\.1\\]:$SLOW_PORT\\): 250 2\\.0\\.0 Ok: queued as SLOW" \
	"the message in flight during SIGHUP completed"
is "$(slow_count_grep "hup-$$@")" 1 "and arrived downstream once"
if wait_until '[ -n "$busy" ] && ! pid_alive "$busy"' 10; then ok "the old busy worker left after its session"; else not_ok "the old busy worker left after its session"; fi
wait_until '[ "$(tollgated_worker_count)" -eq 3 ] && [ "$(new_workers)" -eq 3 ]' 10
is "$(tollgated_worker_count) $(new_workers)" "3 3" "re-read config: max_servers = 3, all workers new"
if pid_alive "$TG_PID"; then ok "master survived SIGHUP"; else not_ok "master survived SIGHUP"; fi

# a message after the reload
$SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --to user2@example.com --message-id "after-hup-$$@example.net" >"$TG_TMP/after.out" 2>&1
is "$(slow_count_grep "after-hup-$$@")" 1 "a message after the reload is delivered"

# --- SIGTERM with a message in flight: it drains, then everything exits
send_bg term slow-data@example.net
wait_until '[ "$(grep -c "^data .*<slow-data@" "$SLOW_EVENTS")" -ge 2 ]' 20
all="$TG_PID $(tollgated_workers | tr '\n' ' ')"
t0=$SECONDS
kill -TERM "$TG_PID"
# shellcheck disable=SC2086
if wait_gone $((SHUTDOWN + 5)) $all; then ok "SIGTERM: master and workers exited ($((SECONDS - t0)) s, bound ${SHUTDOWN} s)"; else
	not_ok "SIGTERM: master and workers exited within ${SHUTDOWN} s"; diag "left: $(for p in $all; do pid_alive "$p" && echo "$p $(proc_title "$p")"; done)"; fi
wait "$TG_PID" 2>/dev/null
tg_untrack "$TG_PID"
if [ ! -e "$TG_PIDFILE" ]; then ok "pid file removed"; else not_ok "pid file removed"; fi
wait_until '! pid_alive "$BG_term"' 20
reply=$(grep -E '^S: [0-9]{3} ' "$TG_TMP/term.out" | sed -n '/^S: 354/{n;p;}')
like "$reply" '^S: (250 2\.0\.0 from MTA|4[0-9][0-9] )' "the message in flight at SIGTERM was delivered or tempfailed, never lost (${reply:-no reply})"
if grep -q '^S: 250 2.0.0 from MTA' <<<"$reply"; then
	is "$(slow_count_grep "term-$$@")" 1 "it was delivered downstream (drained)"
else
	is "$(slow_count_grep "term-$$@")" 0 "it was not delivered downstream (client keeps it)"
fi
