#!/bin/bash
# t_spamd.sh - the spam clients (scanners/spam.h) against real daemons:
# a private SpamAssassin spamd on a loopback port and a unix socket
# (GTUBE must score >= 1000, a ham message low), and, when rspamd is
# a private rspamd (GTUBE must be "reject").
# The checks themselves are the "real" case of the unit test binary
# tests/unit/scanners/test_spam, run with TG_SPAMD_ADDRESS/TG_RSPAMD_URL.
#
# spamd and rspamd are supported peers (ops/quickstart installs both):
# without them the script fails. spamd runs with -L (local tests only: no
# DNS, no network rules), -x (no user preferences), Bayes and
# auto-learning off, one child, as nobody. rspamd runs with private
# ports and directories and DNS pointed at a dead local port (it needs
# ~20-60 s to compile its maps at start).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

TEST_SPAM=$top_builddir/tests/unit/scanners/test_spam
[ -x "$TEST_SPAM" ] || bail_out "unit test binary not built ($TEST_SPAM; make check builds it)"
require_cmd spamd spamd
require_cmd rspamd rspamd

plan 8

# ---------------------------------------------------------------- spamd
SPAMD_PORT=$(free_port) || bail_out "no free port"
SPAMD_DIR=$TG_TMP/spamd
mkdir -p "$SPAMD_DIR"
chown nobody "$SPAMD_DIR" 2>/dev/null
spamd -x -L -4 -i "127.0.0.1:$SPAMD_PORT" -i "$SPAMD_DIR/spamd.sock" -A 127.0.0.1 \
	-r "$SPAMD_DIR/spamd.pid" -s stderr -m 1 --min-children=1 --max-spare=1 \
	-u nobody -H "$SPAMD_DIR" --cf='use_bayes 0' --cf='bayes_auto_learn 0' \
	>"$SPAMD_DIR/log" 2>&1 &
tg_track $!
wait_until() { local n=$(($2 * 10)); while [ "$n" -gt 0 ]; do eval "$1" && return 0; sleep 0.1; n=$((n - 1)); done; return 1; }
if wait_until 'grep -qs "server started" "$SPAMD_DIR/log"' 120; then
	ok "private spamd started on 127.0.0.1:$SPAMD_PORT and $SPAMD_DIR/spamd.sock"
else
	not_ok "private spamd started"
	diag_file "$SPAMD_DIR/log" 20 "spamd log"
fi

out=$(TG_SPAMD_ADDRESS=127.0.0.1:$SPAMD_PORT CK_RUN_CASE=real "$TEST_SPAM" 2>&1)
like "$out" '^ok [0-9]+ - .*real_spamd: Passed' "TCP: GTUBE is spam, ham is not (test_spam real_spamd)" || true
printf '%s\n' "$out" | grep '^#' || diag "$out"
score=$(printf '%s\n' "$out" | sed -n 's/^# spamd GTUBE: score=\([-0-9.]*\) .*/\1/p')
check "TCP: GTUBE scores >= 1000 (got ${score:-none})" awk -v s="${score:-0}" 'BEGIN { exit !(s >= 1000) }'
score=$(printf '%s\n' "$out" | sed -n 's/^# spamd ham: score=\([-0-9.]*\) .*/\1/p')
check "TCP: ham scores < 5 (got ${score:-none})" awk -v s="${score:-99}" 'BEGIN { exit !(s < 5) }'

out=$(TG_SPAMD_ADDRESS=unix:$SPAMD_DIR/spamd.sock CK_RUN_CASE=real "$TEST_SPAM" 2>&1)
like "$out" '^ok [0-9]+ - .*real_spamd: Passed' "unix socket: GTUBE is spam, ham is not" || true
[ "$TG_FAILS" = 0 ] || diag "$out"
like "$(grep 'spamd: result: Y' "$SPAMD_DIR/log" | head -n 1)" 'result: Y [0-9]+ - .*GTUBE' \
	"spamd's own log: GTUBE identified as spam (result: Y ... - GTUBE...)"

# ---------------------------------------------------------------- rspamd
if ! id _rspamd >/dev/null 2>&1; then
	not_ok "rspamd: started: its user _rspamd is missing (apt-get install rspamd)"
	not_ok "rspamd: GTUBE is reject: rspamd is not installed properly"
else
	R=$TG_TMP/rspamd
	mkdir -p "$R/conf/override.d" "$R/conf/local.d" "$R/db" "$R/run" "$R/log"
	P1=$(free_port) && P2=$(free_port) && P3=$(free_port) || bail_out "no free port"
	printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$P1" >"$R/conf/override.d/worker-normal.inc"
	printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$P2" >"$R/conf/override.d/worker-controller.inc"
	printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$P3" >"$R/conf/override.d/worker-proxy.inc"
	printf 'type = "file";\nfilename = "%s/log/rspamd.log";\nlevel = "info";\n' "$R" >"$R/conf/override.d/logging.inc"
	printf 'dns { nameserver = ["127.0.0.1:1"]; timeout = 0.5s; retransmits = 1; }\n' >"$R/conf/local.d/options.inc"
	chown -R _rspamd "$R"
	rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf --var LOCAL_CONFDIR="$R/conf" \
		--var DBDIR="$R/db" --var RUNDIR="$R/run" --var LOGDIR="$R/log" -p "$R/run/rspamd.pid" \
		>"$R/out" 2>&1 &
	tg_track $!
	if wait_until 'port_listening 127.0.0.1 "$P1"' 240; then
		ok "rspamd: started on 127.0.0.1:$P1"
		out=$(TG_RSPAMD_URL=http://127.0.0.1:$P1 CK_RUN_CASE=real "$TEST_SPAM" 2>&1)
		like "$out" '^ok [0-9]+ - .*real_rspamd: Passed' "rspamd: GTUBE is reject, ham is not (test_spam real_rspamd)"
		printf '%s\n' "$out" | grep '^#' | cut -c1-300
	else
		not_ok "rspamd: started (it did not listen within 240 s)"
		not_ok "rspamd: GTUBE is reject (rspamd did not start)"
		diag_file "$R/out" 10 "rspamd output"
	fi
fi
