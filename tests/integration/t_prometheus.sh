#!/bin/bash
# t_prometheus.sh - ops/prometheus/ checked by Prometheus's own tool
# (promtool, Debian package prometheus): the alerting rules load, their
# unit tests pass, every query of the Grafana dashboard parses and names
# only metrics tollgated exports, and a live scrape of tollgated's
# /metrics passes `promtool check metrics` with the failure counters the
# alerts read moving when a scan fails and when Redis is down.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd promtool prometheus

plan 13
P=$top_srcdir/ops/prometheus

# --- the rules and their unit tests
out=$(promtool check rules "$P/tollgate.rules.yml" 2>&1)
check "promtool check rules: the alerting rules load" test $? = 0 || diag "$out"
out=$(cd "$P" && promtool test rules tollgate.rules.test.yml 2>&1)
rc=$?
is "$rc" 0 "promtool test rules: every alert fires where it should and only there"
[ "$rc" = 0 ] || diag "$out"

# --- scrape a live tollgated
start_sink
MPORT=$(free_port) || bail_out "no free port"
RPORT=$(free_port) || bail_out "no free port"	# nothing listens there: Redis is down
start_tollgated "metrics_listen = 127.0.0.1:$MPORT"
wait_port 127.0.0.1 "$MPORT" 10 || bail_out "no metrics listener on $MPORT"
scrape() { "$PYTHON" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
	"http://127.0.0.1:$MPORT/metrics"; }
send() {
	$MKMSG "$1" --out "$TG_TMP/$2.eml" --to "$2@example.com" --subject "prom $1 $$" --message-id "$2-$$@example.net"
	lmtp_deliver "$TG_TMP/$2.eml" sender@example.net "$2@example.com" | after_dot | head -n 1
}
send clean clean-1 >/dev/null
send eicar-b64 virus-1 >/dev/null
scrape >"$TG_TMP/scrape1.txt"
out=$(promtool check metrics <"$TG_TMP/scrape1.txt" 2>&1)
rc=$?
is "$rc:$out" "0:" "promtool check metrics: a live scrape is clean (no lint finding)"
like "$(grep '^tollgate_messages_total{category="virus",action="blocked"}' "$TG_TMP/scrape1.txt")" ' 1$' \
	"the virus counted as blocked"
like "$(grep '^tollgate_clamav_signatures ' "$TG_TMP/scrape1.txt")" '^tollgate_clamav_signatures [1-9][0-9]*$' \
	"the signatures in service are exported"
newest=$(find "$TG_SIGDB" -maxdepth 1 -type f \( -name '*.hdb' -o -name '*.ndb' \) -printf '%T@\n' | sort -n | tail -n 1)
is "$(sed -n 's/^tollgate_clamav_database_timestamp_seconds //p' "$TG_TMP/scrape1.txt")" "${newest%.*}" \
	"the database timestamp is the newest signature file's (no .cvd here)"

# --- a scan that cannot complete counts a scanner failure
find "$TG_SPOOL" -mindepth 1 -maxdepth 1 -name 'tollgated.*' -exec chmod 0500 {} +
like "$(send clean clean-ro)" '^451 ' "a scan without a writable temp dir is tempfailed"
find "$TG_SPOOL" -mindepth 1 -maxdepth 1 -name 'tollgated.*' -exec chmod 0700 {} +
like "$(scrape | grep '^tollgate_failures_total{kind="scanner_failure"}')" ' 1$' \
	"tollgate_failures_total{kind=\"scanner_failure\"} counts it"
stop_tollgated

# --- Redis down counts Redis errors
start_tollgated "metrics_listen = 127.0.0.1:$MPORT
state_redis_server = 127.0.0.1:$RPORT"
wait_port 127.0.0.1 "$MPORT" 10 || bail_out "no metrics listener on $MPORT"
send clean clean-redis >/dev/null
like "$(scrape | grep '^tollgate_failures_total{kind="redis_error"}')" ' [1-9][0-9]*$' \
	"tollgate_failures_total{kind=\"redis_error\"} counts a failed Redis request"
stop_tollgated

# --- the dashboard: valid JSON, every query parses, every metric exists
D=$P/grafana-tollgate.json
exprs=$("$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["panels"]:
    for t in p.get("targets", []):
        print(t["expr"].replace("$instance", ".*"))
' "$D" 2>&1)
check "the Grafana dashboard is valid JSON with queries" test -n "$exprs" -a "$(printf '%s\n' "$exprs" | grep -c tollgate_)" -ge 10
{
	echo "groups:"
	echo "  - name: dashboard"
	echo "    rules:"
	n=0
	while IFS= read -r e; do
		n=$((n + 1))
		printf '      - record: dashboard:q%d\n        expr: %s\n' "$n" "$("$PYTHON" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$e")"
	done <<<"$exprs"
} >"$TG_TMP/dashboard.rules.yml"
out=$(promtool check rules "$TG_TMP/dashboard.rules.yml" 2>&1)
check "every dashboard query parses as PromQL (promtool)" test $? = 0 || diag "$out"
missing=
for name in $(printf '%s\n' "$exprs" | grep -oE 'tollgate_[a-z_]+' | sort -u); do
	base=${name%_bucket}
	grep -qE "^(# TYPE )?$base" "$TG_TMP/scrape1.txt" || missing="$missing $name"
done
is "$missing" "" "every tollgate_* metric the dashboard reads is exported"
missing=
for name in $(grep -oE 'tollgate_[a-z_]+' "$P/tollgate.rules.yml" | sort -u); do
	grep -qE "^(# TYPE )?$name" "$TG_TMP/scrape1.txt" || missing="$missing $name"
done
is "$missing" "" "every tollgate_* metric the alerting rules read is exported"
