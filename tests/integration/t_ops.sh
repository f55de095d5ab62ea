#!/bin/bash
# t_ops.sh - operations: the tollgate tool against a running tollgated
# (status, --watch, stats, version, reload, stop over the control
# socket), the control socket's permissions (a non-root user outside
# its group is refused, by the file mode and by SO_PEERCRED), the
# Prometheus endpoint, sd_notify messages, check-config, postfix-config
# applied to a private Postfix that then delivers through tollgate, and
# postfix-config --check finding a wrong maxproc; the systemd unit is
# checked with systemd-analyze verify.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE): run make first"
require_cmd setpriv util-linux
require_cmd systemd-analyze systemd

plan 49
TG() { "$TOLLGATE" "$@"; }

# a datagram socket standing in for systemd's $NOTIFY_SOCKET
NOTIFY_LOG=$TG_TMP/notify.log
: >"$NOTIFY_LOG"
"$PYTHON" - "$TG_TMP/notify.sock" "$NOTIFY_LOG" >>"$TG_TMP/notify.err" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    d = s.recv(4096)
    with open(sys.argv[2], "a") as f:
        f.write(d.decode() + "\n--\n")
EOF
tg_track $!
wait_until '[ -S "$TG_TMP/notify.sock" ]' 10

start_sink
start_postfix 2
MPORT=$(free_port) || bail_out "no free port"
CTL=$TG_TMP/tollgated.ctl
NOTIFY_SOCKET=$TG_TMP/notify.sock start_tollgated "max_servers = 3
metrics_listen = 127.0.0.1:$MPORT
control_socket = $CTL
control_socket_group = root"
wait_until '[ "$(tollgated_worker_count)" -eq 3 ]' 10

# --- version, status
like "$(TG version -s "$CTL")" '^tollgated [0-9]+\.[0-9]+' "version answers over the control socket"
wait_until '[ "$(TG status -s "$CTL" | grep -cE "^[0-9]+ +idle ")" -eq 3 ]' 10
out=$(TG status -s "$CTL")
like "$(head -n 1 <<<"$out")" "^tollgated .*: master pid $TG_PID, generation [0-9]+, 3 workers \\(max_servers 3\\), up " "status header: master pid, generation, workers, max_servers"
like "$(sed -n 2p <<<"$out")" '^PID +STATE +SINCE +QUEUE-ID +SERVED +GEN$' "status table header"
is "$(awk 'NR > 2 { print $1 }' <<<"$out" | sort | tr '\n' ' ')" "$(tollgated_workers | sort | tr '\n' ' ')" \
	"status lists exactly the max_servers = 3 workers (their pids)"
is "$(awk 'NR > 2 && $2 == "idle" && $4 == "-"' <<<"$out" | wc -l)" 3 "all idle, no queue id"
like "$(TG status -c "$TG_CONF" | head -n 1)" "master pid $TG_PID" "status -c FILE finds control_socket in the file"
out=$(timeout 3.5 "$TOLLGATE" status -s "$CTL" --watch 1)
if [ "$(grep -c '^tollgated .*master pid' <<<"$out")" -ge 2 ]; then ok "status --watch 1 repeats"; else not_ok "status --watch 1 repeats"; diag "$out"; fi
is "$(stat -c '%a %U %G' "$CTL")" "660 root root" "control socket: mode 0660, owner root, group control_socket_group"
like "$(ls -l /proc/"$(tollgated_workers | head -n 1)"/fd 2>/dev/null | grep -c "$CTL")" '^0$' "workers do not hold the control socket"

# --- permissions: a non-root user outside the socket's group is refused
# (a copy of the tool in the temp dir: nobody may not reach the build dir)
cp "$TOLLGATE" "$TG_TMP/tollgate" && chmod 755 "$TG_TMP/tollgate"
if setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$TG_TMP/tollgate" 2>/dev/null; then
	TOLLGATE_NOBODY=$TG_TMP/tollgate
	err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$TOLLGATE_NOBODY" status -s "$CTL" 2>&1); rc=$?
	like "$rc $err" '^2 .*Permission denied' "nobody cannot even connect (mode 0660 root:root)"
	chmod 666 "$CTL"
	err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$TOLLGATE_NOBODY" stop -s "$CTL" 2>&1); rc=$?
	like "$rc $err" '^1 .*error: permission denied' "with the mode opened, SO_PEERCRED still refuses nobody"
	like "$(grep 'control: refused' "$TG_LOG" | tail -n 1)" 'refused uid 65534' "the refusal is logged with the uid"
	out=$(setpriv --reuid=nobody --regid=root --clear-groups "$TOLLGATE_NOBODY" version -s "$CTL" 2>&1); rc=$?
	like "$rc $out" '^0 tollgated ' "a non-root member of the socket's group is served"
	chmod 660 "$CTL"
	if pid_alive "$TG_PID"; then ok "the refused stop did not stop the daemon"; else not_ok "the refused stop did not stop the daemon"; fi
else
	for d in "nobody cannot connect" "SO_PEERCRED refuses nobody" "refusal logged" "group member served" "refused stop"; do
		not_ok "$d: nobody cannot run $TG_TMP/tollgate"
	done
fi
like "$(printf 'x%.0s' $(seq 1 1100) | "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.read().encode() + b"\n")
print(s.makefile().read().strip())' "$CTL")" '^error: request too long' "a request over 1024 bytes is refused"
like "$(printf 'bogus\n' | "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.read().encode())
print(s.makefile().read().strip())' "$CTL")" '^error: unknown request' "an unknown request gets an error"

# --- sd_notify
wait_until 'grep -q "^READY=1" "$NOTIFY_LOG"' 5
like "$(tr '\n' ' ' <"$NOTIFY_LOG")" 'READY=1 MONOTONIC_USEC=[0-9]+ STATUS=running: 3 workers' "sd_notify READY=1 with STATUS="

# --- postfix-config, applied to the private Postfix
TG postfix-config -c "$TG_CONF" >"$TG_TMP/pfcfg.out"; rc=$?
is "$rc" 0 "postfix-config exits 0"
like "$(grep '^amavisfeed ' "$TG_TMP/pfcfg.out")" '^amavisfeed +unix +- +- +n +- +3 +lmtp$' "feed transport with maxproc = max_servers = 3"
like "$(tr '\n' ' ' <"$TG_TMP/pfcfg.out")" '-o lmtp_data_done_timeout=1200 +-o lmtp_send_xforward_command=yes' "data-done timeout above child_timeout, XFORWARD on"
like "$(grep -A1 "^127.0.0.1:$PF_REINJECT_PORT inet" "$TG_TMP/pfcfg.out" | tr '\n' ' ')" 'smtpd +-o content_filter= ' "re-injection smtpd on forward_method's port, content_filter emptied"
is "$(grep -c '^  -o ' "$TG_TMP/pfcfg.out")" 24 "3 transport options + the 21 re-injection overrides of the guide"
is "$(sed -n '/^# main.cf/,$p' "$TG_TMP/pfcfg.out" | grep -v '^#')" "content_filter = amavisfeed:[127.0.0.1]:$TG_LMTP_PORT" "main.cf line (--mode global)"
like "$(TG postfix-config -c "$TG_CONF" --mode service | grep content_filter=amavisfeed)" '^#   -o content_filter=amavisfeed:' "--mode service: the -o line for chosen smtpd services"
# --mode milter with a milter listener: smtpd_milters pointing at it
MILTER_PORT=$(free_port) || bail_out "no free port"
sed "s/^listen = .*/&, milter:127.0.0.1:$MILTER_PORT/" "$TG_CONF" >"$TG_TMP/milter.conf"
out=$(TG postfix-config -c "$TG_TMP/milter.conf" --mode milter 2>&1); rc=$?
like "$rc $(tr '\n' ' ' <<<"$out")" "^0 .*smtpd_milters = inet:127\.0\.0\.1:$MILTER_PORT milter_protocol = 6 milter_default_action = tempfail milter_content_timeout = [0-9]+s" \
	"--mode milter prints smtpd_milters = inet:127.0.0.1:PORT of the milter listener, tempfail, a content timeout"
# --check --mode milter against a copy of the private Postfix's configuration
PFC=$TG_TMP/pf-milter
mkdir -p "$PFC" && cp "$PF_DIR/main.cf" "$PF_DIR/master.cf" "$PFC/"
mapfile -t mlines < <(sed -n '/^# main.cf/,$p' <<<"$out" | grep -v '^#')
"$PF_SBIN/postconf" -c "$PFC" -e "${mlines[@]}"
out=$(TG postfix-config -c "$TG_TMP/milter.conf" --mode milter --check --postfix-dir "$PFC"); rc=$?
like "$rc $(tail -n 1 <<<"$out")" '^0 Postfix and tollgate agree' "--check --mode milter: the applied main.cf lines match"
"$PF_SBIN/postconf" -c "$PFC" -e 'milter_default_action = accept' 'milter_content_timeout = 100s'
out=$(TG postfix-config -c "$TG_TMP/milter.conf" --mode milter --check --postfix-dir "$PFC"); rc=$?
like "$rc $(grep -c MISMATCH <<<"$out") $(tr '\n' ' ' <<<"$out")" \
	'^1 2 .*milter_default_action is accept, not tempfail: mail would pass unscanned' \
	"--check --mode milter: accept as the default action and a content timeout under child_timeout are mismatches"

awk '/^# main\.cf/ { m = 0 } m && !/^#/ { print } /^# master\.cf/ { m = 1 }' "$TG_TMP/pfcfg.out" >"$TG_TMP/gen.master"
awk -v r="127.0.0.1:$PF_REINJECT_PORT" '/^[^ \t#]/ { skip = ($1 == "amavisfeed" || $1 == r) } !skip' \
	"$PF_DIR/master.cf" >"$TG_TMP/master.cf.new"
cat "$TG_TMP/gen.master" >>"$TG_TMP/master.cf.new"
cp "$TG_TMP/master.cf.new" "$PF_DIR/master.cf"
postconf_pf -e "$(sed -n '/^# main.cf/,$p' "$TG_TMP/pfcfg.out" | grep -v '^#')"
postfix_reload
wait_port 127.0.0.1 "$PF_REINJECT_PORT" 15
out=$(TG postfix-config -c "$TG_CONF" --check --postfix-dir "$PF_DIR"); rc=$?
like "$rc $(tail -n 1 <<<"$out")" '^0 Postfix and tollgate agree' "--check: the applied configuration matches"
postfix_send --to user1@example.com --message-id "ops-$$@example.net" >"$TG_TMP/send.out" 2>&1
wait_until '[ "$(sink_count_grep "ops-$$@")" -ge 1 ]' 30
f=$(sink_grep "ops-$$@" | head -n 1)
like "$(if [ -n "$f" ]; then msg_headers "$f"; fi)" '^X-Virus-Scanned: tollgate at example\.com' \
	"with the generated master.cf/main.cf, Postfix delivers through tollgate"

# a deliberately wrong maxproc
sed -i 's/^\(amavisfeed[[:space:]]\+unix[[:space:]]\+-[[:space:]]\+-[[:space:]]\+n[[:space:]]\+-[[:space:]]\+\)3/\15/' "$PF_DIR/master.cf"
is "$(postconf_pf -M amavisfeed/unix | awk '{ print $7 }')" 5 "maxproc of amavisfeed changed to 5"
out=$(TG postfix-config -c "$TG_CONF" --check --postfix-dir "$PF_DIR"); rc=$?
is "$rc" 1 "--check exits 1 on a mismatch"
like "$out" 'MISMATCH: amavisfeed/unix maxproc is 5 \(5\) but max_servers is 3' "--check names the maxproc mismatch"
postconf_pf -e 'content_filter =' 
out=$(TG postfix-config -c "$TG_CONF" --check --postfix-dir "$PF_DIR")
like "$(grep -c MISMATCH <<<"$out")" '^2$' "--check reports every mismatch (maxproc and main.cf content_filter)"

# --- stats and metrics
out=$(TG stats -s "$CTL")
like "$(tr '\n' ' ' <<<"$out")" '^uptime [0-9]+.* messages [0-9]+ bytes [0-9]+ +CATEGORY +PASSED +BLOCKED +TEMPFAILED .*clean .*RATE +MSGS/S +BYTES/S 1m .*15m .*STAGE +COUNT +AVG-MS receive' "stats: counters by category, rates over 1/5/15 min, stages"
n=$(sed -n 's/^messages //p' <<<"$out")
like "${n:-0} $(awk '$1 == "clean" { print $2 }' <<<"$out")" '^[1-9][0-9]* [1-9]' "stats counted the clean message (messages and the clean category)"
"$PYTHON" - "$MPORT" >"$TG_TMP/metrics.check" 2>&1 <<'EOF'
import re, sys, urllib.request, urllib.error
port = sys.argv[1]
r = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10)
body = r.read().decode()
assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), "status/type"
line_re = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+]+|\+Inf)$')
samples, types = {}, {}
for l in body.splitlines():
    if l.startswith("# TYPE "):
        _, _, name, t = l.split(" ")
        types[name] = t
        continue
    if l.startswith("#"):
        continue
    m = line_re.match(l)
    assert m, "bad line: " + l
    samples[m.group(1) + (m.group(2) or "")] = float(m.group(4))
workers = sum(v for k, v in samples.items() if k.startswith("tollgate_workers{"))
assert workers == 3, "workers %s" % workers
assert types["tollgate_messages_total"] == "counter"
assert types["tollgate_stage_duration_seconds"] == "histogram"
for st in ("receive", "scan", "forward"):
    b = [(k, v) for k, v in samples.items() if k.startswith('tollgate_stage_duration_seconds_bucket{stage="%s"' % st)]
    assert len(b) == 15, "buckets of " + st
    vals = [v for _, v in b]
    assert vals == sorted(vals), "buckets not cumulative"
    assert samples['tollgate_stage_duration_seconds_count{stage="%s"}' % st] == vals[-1]
assert 'tollgate_messages_total{category="clean",action="passed"}' in samples
try:
    urllib.request.urlopen("http://127.0.0.1:%s/other" % port, timeout=10)
    raise AssertionError("GET /other did not get a 404")
except urllib.error.HTTPError as e:
    assert e.code == 404
print("METRICS OK")
EOF
if grep -q '^METRICS OK$' "$TG_TMP/metrics.check"; then ok "GET /metrics parses as Prometheus text: 3 workers, counters, 3 cumulative histograms; 404 elsewhere"; else
	not_ok "GET /metrics parses as Prometheus text"; diag "$(cat "$TG_TMP/metrics.check")"; fi

# --- check-config
printf 'listen = lmtp:127.0.0.1:10024\n# a comment\nchild_timeout = forever\n' >"$TG_TMP/bad.conf"
err=$(TG check-config -c "$TG_TMP/bad.conf" 2>&1); rc=$?
like "$rc $err" "^1 .*$TG_TMP/bad.conf:3: child_timeout" "check-config: exit 1 with file:line on a broken file"
err=$(TG check-config -c "$TG_CONF" 2>&1); rc=$?
is "$rc" 0 "check-config: exit 0 on the running configuration"
# --- config -n / -d, like postconf -n / -d
like "$(TG config -n -c "$TG_CONF")" "^max_servers = " "config -n prints the settings the file sets"
is "$(TG config -d -c "$TG_CONF" | grep -c '^forward_method = smtp:\[127.0.0.1\]:10025$')" 1 "config -d prints the built-in defaults"

# --- reload changes the generation
gen() { TG status -s "$CTL" | sed -n 's/.*generation \([0-9]*\),.*/\1/p'; }
g0=$(gen)
like "$(TG reload -s "$CTL")" '^reloading' "reload is acknowledged"
if wait_until '[ "$(gen)" = "$((g0 + 1))" ]' 10; then ok "reload: generation $g0 -> $((g0 + 1))"; else not_ok "reload changes the generation"; diag "still $(gen)"; fi
wait_until '[ "$(TG status -s "$CTL" | awk -v g="$((g0 + 1))" "NR > 2 && \$6 == g" | wc -l)" -eq 3 ]' 10
is "$(TG status -s "$CTL" | awk -v g="$((g0 + 1))" 'NR > 2 && $6 == g' | wc -l)" 3 "after reload: 3 workers of the new generation"
like "$(tr '\n' ' ' <"$NOTIFY_LOG")" 'RELOADING=1 MONOTONIC_USEC=[0-9]+ STATUS=reloading.*READY=1' "sd_notify RELOADING=1 then READY=1"

# --- stop ends the daemon
all="$TG_PID $(tollgated_workers | tr '\n' ' ')"
like "$(TG stop -s "$CTL")" '^stopping' "stop is acknowledged"
# shellcheck disable=SC2086
if wait_gone 20 $all; then ok "stop: master and workers exited"; else not_ok "stop: master and workers exited"; fi
wait "$TG_PID" 2>/dev/null
tg_untrack "$TG_PID"
if [ ! -e "$CTL" ] && [ ! -e "$TG_PIDFILE" ]; then ok "control socket and pid file removed"; else not_ok "control socket and pid file removed"; fi
like "$(tr '\n' ' ' <"$NOTIFY_LOG")" 'STOPPING=1' "sd_notify STOPPING=1"

# --- the systemd unit
unit=$top_builddir/ops/tollgated.service
if [ ! -f "$unit" ]; then
	not_ok "systemd-analyze verify ops/tollgated.service: $unit not built"
else
	sed -e "s|^\\(Exec[A-Za-z]*=\\)[^ ]*/tollgated|\\1$TOLLGATED|" "$unit" >"$TG_TMP/tollgated.service"
	out=$(systemd-analyze verify --man=no "$TG_TMP/tollgated.service" 2>&1); rc=$?
	like "$rc $(grep -c . <<<"$out")" '^0 0$' "systemd-analyze verify ops/tollgated.service: clean"
	[ -n "$out" ] && diag "$out"
fi
