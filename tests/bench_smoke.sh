#!/bin/sh
# bench_smoke.sh - bench/run --quick works end to end: it runs the upper and
# tollgate scenarios, the amavisd-new peer (--peer amavisd: Debian's
# amavisd-new with a private clamd) and a tiny corpus run (--corpus: every
# message shape of bench/lib/corpus.py, through tollgated and through the
# amavisd peer) into a temp dir and leaves results.csv,
# runs.csv, summary.md with the tollgate ÷ amavisd ratio and at least one
# PNG, and no process behind; that the targets are judged by their limits
# (from made-up points); and (without running them: a Postfix point
# takes too long for --quick) that the summary's "filter cost inside
# Postfix" section computes postfix − postfix-passthru from given points. It asserts that the harness works, never a
# speed: the numbers of a CI machine mean nothing.
#
# Not in make check's TESTS: it loads both cores for minutes, which would
# upset the time-bounded tests beside it under make -j2. `make
# check-bench` runs it alone (ops/quickstart does, after the other tests,
# and counts its result).
#
# Environment: top_srcdir, top_builddir (from make), TOLLGATED (default
# $top_builddir/tollgated), TG_KEEP_TMP=1 keeps the output dir.
# Skipped as a whole only without root (as the integration tests); a
# missing tool, gnuplot, amavisd-new or clamav-daemon (ops/quickstart
# installs them all) or an unbuilt tollgated fails it.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
TOLLGATED=${TOLLGATED:-$top_builddir/tollgated}
RUN="$top_srcdir/bench/run"

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
bail_out() { echo "Bail out! $*"; exit 1; }
[ "$(id -u)" = 0 ] || skip_all "needs root (smtp-sink -u, tollgated daemon_user)"
PATH=$PATH:/usr/sbin:/sbin
for t in smtp-source:postfix smtp-sink:postfix python3:python3 gnuplot:gnuplot-nox \
	amavisd:amavisd-new clamd:clamav-daemon; do
	command -v "${t%%:*}" >/dev/null 2>&1 ||
		bail_out "${t%%:*} is missing: install the Debian package ${t#*:} (ops/quickstart installs it)"
done
[ -x "$TOLLGATED" ] || bail_out "tollgated not built ($TOLLGATED): run make first"
[ -f "$RUN" ] || bail_out "bench/run not found ($RUN)"

tmp=$(mktemp -d /tmp/tollgate-bench-smoke.XXXXXX) || { echo "Bail out! mktemp failed"; exit 1; }
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	if [ "${TG_KEEP_TMP:-0}" = 1 ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
out=$tmp/results

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
diag_tail() { [ -f "$1" ] && tail -n "${2:-20}" "$1" | cut -c1-300 | sed 's/^/# /'; }

echo "1..13"

peer="--peer amavisd --corpus"

# 1: the run itself (bounded: --quick is meant to finish in under 3 minutes;
# the timeout only keeps a hung harness from hanging make check)
start=$(date +%s)
# shellcheck disable=SC2086  # $peer is a list of options
timeout -s INT 600 python3 "$RUN" --quick $peer --tollgated "$TOLLGATED" --out "$out" \
	>"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
end=$(date +%s)
if [ "$rc" = 0 ]; then
	ok "bench/run --quick $peer exited 0 (took $((end - start)) s)"
else
	not_ok "bench/run --quick $peer exited $rc"
	diag_tail "$tmp/stderr" 30
fi

# 2: results.csv: a header and an ok row for each scenario and concurrency
csv=$out/results.csv
if [ -s "$csv" ] && head -n 1 "$csv" | grep -q '^scenario,.*msgs_per_s'; then
	missing=
	for sc in upper tollgate; do
		for c in 1 2 4; do
			grep -q "^$sc,[a-z]*,4096,$c,.*,ok," "$csv" || missing="$missing $sc/c$c"
		done
	done
	if [ -z "$missing" ]; then ok "results.csv has an ok row for every point"; else
		not_ok "results.csv lacks ok rows for:$missing"; diag_tail "$csv" 10; fi
else
	not_ok "results.csv missing or without header"
fi

# 3: runs.csv has one row per measured run
if [ -s "$out/runs.csv" ] && [ "$(wc -l <"$out/runs.csv")" -ge 7 ]; then
	ok "runs.csv has the measured runs"
else
	not_ok "runs.csv missing or short"
fi

# 4: summary.md with the table, the knee and its settings, the targets
sum=$out/summary.md
if [ -s "$sum" ] && grep -q '^| scenario | size | conc |' "$sum" &&
	grep -q 'max_servers = [0-9]' "$sum" && grep -q 'amavisfeed unix - - n - [0-9]* lmtp' "$sum" &&
	grep -q '^## Targets' "$sum" && grep -q 'ClamAV: ' "$sum"; then
	ok "summary.md has the table, the knee with max_servers and the amavisfeed line, and the targets"
else
	not_ok "summary.md incomplete"
	diag_tail "$sum" 30
fi

# 5: the targets are reported with a verdict each (whatever it is)
if [ "$(grep -cE '\*\*(met|not met|not measured)' "$sum" 2>/dev/null)" -ge 5 ]; then
	ok "summary.md gives a verdict for each of the 5 targets"
else
	not_ok "summary.md lacks target verdicts"
fi

# 6: at least one PNG plot
png=$(find "$out" -maxdepth 1 -name '*.png' 2>/dev/null | head -n 1)
if [ -n "$png" ] && head -c 4 "$png" | od -An -c | grep -q 'P   N   G'; then
	ok "at least one PNG plot ($(basename "$png"))"
else
	not_ok "no PNG plot in $out"
fi

# 7: nothing the run started is still running
left=
if [ -f "$out/pids.log" ]; then
	while read -r pid name; do
		if [ -r "/proc/$pid/cmdline" ] &&
			tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'smtp-s(ource|ink)|tollgated|postfix|amavisd|clamd'; then
			left="$left $pid($name)"
		fi
	done <"$out/pids.log"
	if [ -z "$left" ]; then ok "no process of the run left behind"; else
		not_ok "processes left behind:$left"; fi
else
	not_ok "pids.log missing"
fi

# 8: the amavisd peer measured every point, its CPU counted (clamd too)
{
	missing=
	for c in 1 2 4; do
		# scenario,proto,size,concurrency,max_servers,...,cpu_ms_per_msg,...,ok
		grep -qE "^amavisd,[a-z]*,4096,$c,$c,.*,ok," "$csv" || missing="$missing c$c"
	done
	if [ -z "$missing" ] && grep -q '^- amavisd peer: amavis' "$sum"; then
		ok "results.csv has an ok amavisd row for every point; summary names the peer"
	else
		not_ok "amavisd peer rows missing:$missing"
		diag_tail "$csv" 10
		grep 'amavisd' "$tmp/stderr" | tail -n 10 | cut -c1-300 | sed 's/^/# /'
	fi
}

# 9: the tollgate ÷ amavisd ratio is filled in and judged
if grep -E '^\| tollgate ÷ amavisd' "$sum" | grep -qE '[0-9.]+× at the lowest.*\*\*(met|not met|met best ÷ best only)\*\*'; then
	ok "summary.md reports tollgate ÷ amavisd with a verdict"
else
	not_ok "summary.md lacks the tollgate ÷ amavisd ratio"
	grep -E 'amavisd' "$sum" | sed 's/^/# /'
fi

# 10: the corpus run: an ok row per message shape, and its table in summary.md
{
	missing=
	for shape in text html pdf zip jpeg thread; do
		# scenario,shape,proto,size,concurrency,...
		grep -qE "^corpus,$shape,[a-z]*,4096,[0-9]+,.*,ok," "$out/corpus.csv" 2>/dev/null ||
			missing="$missing $shape"
	done
	if [ -z "$missing" ] && grep -q '^## Corpus' "$sum" && grep -qE '^\| tollgate \| pdf \| 4KiB \|' "$sum"; then
		ok "corpus.csv has an ok row for every shape; summary.md has the corpus table"
	else
		not_ok "corpus rows missing:$missing"
		diag_tail "$out/corpus.csv" 10
	fi
}

# 11: the corpus through the amavisd peer too, and the ratio on it judged
{
	missing=
	for shape in text html pdf zip jpeg thread; do
		grep -qE "^corpus-amavisd,$shape,[a-z]*,4096,[0-9]+,.*,ok," "$out/corpus.csv" 2>/dev/null ||
			missing="$missing $shape"
	done
	if [ -z "$missing" ] && grep -qE '^\| amavisd \| pdf \| 4KiB \|' "$sum" &&
		grep -E '^\| tollgate ÷ amavisd .*corpus 4KiB' "$sum" |
		grep -qE '[0-9.]+× at the lowest \([a-z]+, concurrency [0-9]+\).*\*\*(met|not met)\*\*'; then
		ok "corpus-amavisd rows for every shape; tollgate ÷ amavisd on the corpus judged"
	else
		not_ok "corpus-amavisd rows missing:$missing, or the corpus ratio not judged"
		grep -E 'amavisd' "$sum" | cut -c1-300 | sed 's/^/# /'
	fi
}

# 12: the targets judged from made-up points (report.py alone): each
# verdict follows its limit, the lowest point decides "at every"
verdicts=$(python3 - "$top_srcdir/bench/lib" <<'EOF' 2>&1
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import report
def pt(sc, size, conc, r, **kw):
    return dict({"scenario": sc, "size": size, "concurrency": conc, "status": "ok", "msgs_per_s": r}, **kw)
pts = [pt("upper", 4096, 1, 100.0), pt("upper", 4096, 2, 200.0),
       pt("tollgate", 4096, 1, 70.0, cpu_ms_per_msg=0.15), pt("tollgate", 4096, 2, 110.0, cpu_ms_per_msg=0.19),
       pt("upper", 102400, 1, 50.0), pt("tollgate", 102400, 1, 30.0),
       pt("postfix", 4096, 2, 90.0), pt("postfix-passthru", 4096, 2, 100.0),
       pt("postfix", 4096, 8, 70.0), pt("postfix-passthru", 4096, 8, 100.0)]
report.fill_ratios(pts)
cp = [pt("corpus", 102400, 2, 100.0, shape="text", cpu_ms_per_msg=1.4),
      pt("corpus", 102400, 8, 120.0, shape="text", cpu_ms_per_msg=1.6),
      pt("corpus", 102400, 2, 100.0, shape="zip", cpu_ms_per_msg=1.2),
      pt("corpus-amavisd", 102400, 2, 2.0, shape="text"), pt("corpus-amavisd", 102400, 8, 2.0, shape="text"),
      pt("corpus-amavisd", 102400, 2, 3.0, shape="zip")]
report.fill_corpus_ratios(cp)
for t, m, v in report.targets(pts, [4096, 102400], cp):
    print("%s => %s" % (t, v))
EOF
)
want="CPU per message of tollgate's processes ≤ 0.2 ms at 4KiB => met
CPU per message ≤ 1.5 ms, 100KiB English text (corpus text) => not met
CPU per message ≤ 1.5 ms, 100KiB multipart with an attachment (corpus pdf/zip/jpeg) => met
tollgate ÷ upper ≥ 0.6 at every concurrency 1-16, 4KiB => not met
tollgate ÷ upper ≥ 0.5 at every concurrency 1-16, 100KiB => met
tollgate ÷ amavisd ≥ 40× msgs/s at every same point, corpus 4KiB => not measured
tollgate ÷ amavisd ≥ 40× msgs/s at every same point, corpus 100KiB => not met
Postfix chain with tollgate ≥ 0.8× the chain with the pass-through (msgs/s) => not met"
if [ "$(printf '%s\n' "$verdicts" | head -n 8)" = "$want" ]; then
	ok "targets: each verdict follows its limit, the lowest point judged"
else
	not_ok "targets judged wrongly"
	printf '%s\n' "$verdicts" | sed 's/^/# /'
fi

# 13: the filter cost inside Postfix (report.py alone, from made-up points:
# a second at most; the postfix-passthru scenario itself is not in --quick)
cost=$(python3 - "$top_srcdir/bench/lib" <<'EOF' 2>&1
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import report
pts = [{"scenario": sc, "size": 4096, "concurrency": 2, "status": "ok", "msgs_per_s": r,
        "chain_cpu_ms_per_msg": c} for sc, r, c in (("postfix", 60.0, 10.5), ("postfix-passthru", 120.0, 9.0))]
print("\n".join(report.postfix_cost_section(pts, [4096])))
EOF
)
if printf '%s\n' "$cost" | grep -qF 'filter cost inside Postfix = (postfix − passthru) CPU ms/msg = 10.500 − 9.000 = **1.500 ms/msg**'; then
	ok "summary's filter cost inside Postfix = postfix − passthru chain CPU ms/msg"
else
	not_ok "filter cost inside Postfix line missing or wrong"
	printf '%s\n' "$cost" | tail -n 5 | sed 's/^/# /'
fi

exit 0
