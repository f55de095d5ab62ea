#!/bin/bash
# t_maxservers_postfix.sh - max_servers = postfix:amavisfeed/unix takes the
# worker count from the maxproc of Postfix's feed transport (postconf -M of
# postfix_config_directory), so both sides stay in step; after a change of
# maxproc, a SIGHUP follows it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 7
start_sink
start_postfix 3
is "$(postconf_pf -M amavisfeed/unix | awk '{ print $7 }')" 3 "the private instance's amavisfeed maxproc is 3"
start_tollgated "max_servers = postfix:amavisfeed/unix
postfix_config_directory = $PF_DIR"
wait_until '[ "$(tollgated_worker_count)" -ge 3 ]' 10
sleep 1
is "$(tollgated_worker_count)" 3 "exactly 3 workers (children of the master)"
is "$(for p in $(tollgated_workers); do proc_title "$p"; echo; done | grep -c '^tollgated: worker')" 3 "all 3 are titled 'tollgated: worker ...'"

out=$(postfix_send --to user1@example.com --message-id "maxsrv-$$@example.net")
wait_until '[ "$(sink_count_grep "maxsrv-$$@")" -ge 1 ]' 30
is "$(sink_count_grep "maxsrv-$$@")" 1 "mail flows through the 3 workers"

# maxproc 3 -> 4, Postfix reload, tollgated SIGHUP
PF_MAXPROC=4
pf_write_master_cf 1
postfix_reload
is "$(postconf_pf -M amavisfeed/unix | awk '{ print $7 }')" 4 "amavisfeed maxproc changed to 4"
kill -HUP "$TG_PID"
wait_until '[ "$(tollgated_worker_count)" -eq 4 ]' 15
sleep 1
is "$(tollgated_worker_count)" 4 "after SIGHUP: exactly 4 workers"
if pid_alive "$TG_PID"; then ok "master still running"; else not_ok "master still running"; fi
