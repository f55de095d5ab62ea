"""report.py - what bench/run writes: CSVs, summary.md, gnuplot PNGs.

Input is the list of points bench/run measured (one dict per scenario,
message size and concurrency; see POINT_FIELDS) plus the raw runs
(RUN_FIELDS). Output, all in the run's result directory:

  results.csv   one row per point (medians over --repeat)
  runs.csv      one row per measured run (every repeat)
  summary.md    the table, the knee per scenario and size with the
                matching max_servers and amavisfeed master.cf line, the
                targets (met / not met, with the numbers)
  *.png         msgs/s and p99 latency vs concurrency, one line per
                scenario, one plot per message size

Deliberately left out: judging a speed as pass/fail anywhere but the
targets table; comparisons across runs (compare the CSVs).
"""

import csv
import os
import shutil
import subprocess

from postfix import amavisfeed_line

POINT_FIELDS = [
    "scenario", "proto", "size", "concurrency", "max_servers", "repeats", "messages_per_run",
    "msgs_per_s", "msgs_per_s_min", "msgs_per_s_max", "ratio_vs_upper", "ratio_vs_amavisd",
    "cpu_ms_per_msg", "chain_cpu_ms_per_msg", "lat_p50_ms", "lat_p99_ms", "lat_source", "lat_samples",
    "pss_total_kib", "pss_master_kib", "pss_per_worker_kib", "workers",
    "host_cpu_pct", "clamav", "status", "note",
]
RUN_FIELDS = [
    "scenario", "proto", "size", "concurrency", "repeat", "messages", "delivered",
    "seconds", "msgs_per_s", "filter_cpu_s", "chain_cpu_s", "host_cpu_pct", "status", "note", "shape",
]
CORPUS_FIELDS = [
    "scenario", "shape", "proto", "size", "concurrency", "max_servers", "repeats", "messages_per_run",
    "msgs_per_s", "msgs_per_s_min", "msgs_per_s_max", "ratio_vs_amavisd", "cpu_ms_per_msg", "client_cpu_ms_per_msg",
    "lat_p50_ms", "lat_p99_ms", "lat_samples", "host_cpu_pct", "clamav", "status", "note",
]

KNEE_FRACTION = 0.95
# issue 17's targets (bench/README.md "Output")
TARGET_CPU_MS_4K = 0.2
TARGET_CPU_MS_100K = 1.5
MULTIPART_SHAPES = ("pdf", "zip", "jpeg")
TARGET_RATIO_4K = 0.6
TARGET_RATIO_100K = 0.5
TARGET_VS_AMAVISD = 40.0
TARGET_VS_PASSTHRU = 0.8
TARGET_PSS_FACTOR = 1.2
TARGET_P99_SLACK_MS = 10.0


def size_label(size):
    """size_label - 4096 -> 4KiB, 1048576 -> 1MiB"""
    if size % (1 << 20) == 0:
        return "%dMiB" % (size >> 20)
    if size % 1024 == 0:
        return "%dKiB" % (size >> 10)
    return "%dB" % size


def fmt(v, digits=1):
    """fmt - a number for the table, '-' when missing"""
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return "%.*f" % (digits, v)
    return str(v)


def mib(kib):
    return None if kib is None else kib / 1024.0


def write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else
                            ("%.4f" % r[k] if isinstance(r.get(k), float) else r[k]))
                        for k in fields})


def ok_points(points, scenario, size):
    return [p for p in points if p["scenario"] == scenario and p["size"] == size
            and p["status"] == "ok" and p.get("msgs_per_s")]


def knee(points, scenario, size):
    """knee - (knee concurrency, best point) or (None, None)

    The knee is the smallest concurrency whose median throughput is
    within 5% of the best median throughput of that scenario and size.
    """
    pts = ok_points(points, scenario, size)
    if not pts:
        return None, None
    best = max(pts, key=lambda p: p["msgs_per_s"])
    for p in sorted(pts, key=lambda p: p["concurrency"]):
        if p["msgs_per_s"] >= KNEE_FRACTION * best["msgs_per_s"]:
            return p, best
    return None, best


def find(points, scenario, size, conc):
    for p in points:
        if (p["scenario"], p["size"], p["concurrency"]) == (scenario, size, conc) and p["status"] == "ok":
            return p
    return None


def fill_ratios(points):
    """fill_ratios - same-run ratios at the same size and concurrency:
    ratio_vs_upper of every non-upper point, ratio_vs_amavisd of tollgate's"""
    for p in points:
        if p["scenario"] == "upper" or p["status"] != "ok":
            continue
        u = find(points, "upper", p["size"], p["concurrency"])
        if u and u.get("msgs_per_s"):
            p["ratio_vs_upper"] = p["msgs_per_s"] / u["msgs_per_s"]
        if p["scenario"] == "tollgate":
            am = find(points, "amavisd", p["size"], p["concurrency"])
            if am and am.get("msgs_per_s"):
                p["ratio_vs_amavisd"] = p["msgs_per_s"] / am["msgs_per_s"]


def fill_corpus_ratios(cpoints):
    """fill_corpus_ratios - ratio_vs_amavisd of each tollgate corpus point:
    its msgs/s ÷ the amavisd peer's at the same shape, size and concurrency"""
    peer = {(p.get("shape"), p["size"], p["concurrency"]): p for p in cpoints
            if p["scenario"] == "corpus-amavisd" and p["status"] == "ok" and p.get("msgs_per_s")}
    for p in cpoints:
        am = peer.get((p.get("shape"), p["size"], p["concurrency"]))
        if p["scenario"] == "corpus" and p["status"] == "ok" and p.get("msgs_per_s") and am:
            p["ratio_vs_amavisd"] = p["msgs_per_s"] / am["msgs_per_s"]


def _cpu_row(what, limit, pts):
    """_cpu_row - a CPU-per-message target over corpus points: the worst one judged"""
    pts = [p for p in pts if p.get("cpu_ms_per_msg") is not None]
    if not pts:
        return (what, "not measured (needs --corpus with that shape and size)", "not measured")
    worst = max(pts, key=lambda p: p["cpu_ms_per_msg"])
    each = ", ".join("%s c=%d: %.2f" % (p.get("shape"), p["concurrency"], p["cpu_ms_per_msg"])
                     for p in sorted(pts, key=lambda p: (p.get("shape"), p["concurrency"])))
    return (what, "%.2f ms at the worst (%s, concurrency %d); %s"
            % (worst["cpu_ms_per_msg"], worst.get("shape"), worst["concurrency"], each),
            "met" if worst["cpu_ms_per_msg"] <= limit else "not met")


def _every_row(what, limit, pts, key, unit="", digits=2):
    """_every_row - a ratio that must hold at every point: the lowest judged"""
    pts = [p for p in pts if p.get(key) is not None]
    if not pts:
        return None
    lo = min(pts, key=lambda p: p[key])
    each = ", ".join("%s%d: %.*f%s" % ((p["shape"] + " c=") if p.get("shape") else "",
                                       p["concurrency"], digits, p[key], unit)
                     for p in sorted(pts, key=lambda p: (p.get("shape") or "", p["concurrency"])))
    return (what, "%.*f%s at the lowest (%sconcurrency %d); by point: %s"
            % (digits, lo[key], unit, (lo["shape"] + ", ") if lo.get("shape") else "", lo["concurrency"], each),
            "met" if lo[key] >= limit else "not met")


def targets(points, sizes, cpoints=()):
    """targets - rows (target, measured, verdict) of issue 17's targets,
    each judged on this run's points; "not measured" when the run lacks
    the scenario, size or concurrency a target needs"""
    rows = []
    clam_off = not any(p.get("clamav") == "on" for p in points if p["scenario"] == "tollgate")
    pss_note = ("; ClamAV off: no shared engine, so the workers' private memory dominates"
                if clam_off else "")
    nm = "not measured"

    # 1. CPU per message: 4 KiB (smtp-source body, at the knee), 100 KiB corpus shapes
    kn, _ = knee(points, "tollgate", 4096)
    if kn and kn.get("cpu_ms_per_msg") is not None:
        allc = [p["cpu_ms_per_msg"] for p in ok_points(points, "tollgate", 4096)
                if p.get("cpu_ms_per_msg") is not None]
        c4 = [p["cpu_ms_per_msg"] for p in cpoints if p["scenario"] == "corpus" and p["size"] == 4096
              and p["status"] == "ok" and p.get("cpu_ms_per_msg") is not None]
        v = kn["cpu_ms_per_msg"]
        rows.append(("CPU per message of tollgate's processes ≤ %.1f ms at 4KiB" % TARGET_CPU_MS_4K,
                     "%.3f ms at the knee (concurrency %d); %.3f-%.3f ms over the sweep%s"
                     % (v, kn["concurrency"], min(allc), max(allc),
                        "; corpus shapes at 4KiB %.3f-%.3f ms" % (min(c4), max(c4)) if c4 else ""),
                     "met" if v <= TARGET_CPU_MS_4K else "not met"))
    else:
        rows.append(("CPU per message of tollgate's processes ≤ %.1f ms at 4KiB" % TARGET_CPU_MS_4K,
                     "not measured (needs tollgate at 4KiB)", nm))
    c100 = [p for p in cpoints if p["scenario"] == "corpus" and p["size"] == 102400 and p["status"] == "ok"]
    rows.append(_cpu_row("CPU per message ≤ %.1f ms, 100KiB English text (corpus text)" % TARGET_CPU_MS_100K,
                         TARGET_CPU_MS_100K, [p for p in c100 if p.get("shape") == "text"]))
    rows.append(_cpu_row("CPU per message ≤ %.1f ms, 100KiB multipart with an attachment (corpus %s)"
                         % (TARGET_CPU_MS_100K, "/".join(MULTIPART_SHAPES)), TARGET_CPU_MS_100K,
                         [p for p in c100 if p.get("shape") in MULTIPART_SHAPES]))

    # 2. tollgate ÷ upper at every concurrency 1-16
    for size, limit in ((4096, TARGET_RATIO_4K), (102400, TARGET_RATIO_100K)):
        what = "tollgate ÷ upper ≥ %.1f at every concurrency 1-16, %s" % (limit, size_label(size))
        pts = [p for p in ok_points(points, "tollgate", size) if p["concurrency"] <= 16]
        r = _every_row(what, limit, pts, "ratio_vs_upper")
        rows.append(r or (what, "not measured (needs upper and tollgate at %s)" % size_label(size), nm))

    # 3. tollgate ÷ amavisd-new at every same point: the realistic corpus, then smtp-source bodies
    for size in (4096, 102400):
        what = "tollgate ÷ amavisd ≥ %.0f× msgs/s at every same point, corpus %s" % (
            TARGET_VS_AMAVISD, size_label(size))
        pts = [p for p in cpoints if p["scenario"] == "corpus" and p["size"] == size]
        r = _every_row(what, TARGET_VS_AMAVISD, pts, "ratio_vs_amavisd", unit="×", digits=1)
        rows.append(r or (what, "not measured (needs --corpus and --peer amavisd at %s)" % size_label(size), nm))
    for size in (4096, 102400):
        what = "tollgate ÷ amavisd ≥ %.0f× msgs/s at every same point, smtp-source body %s" % (
            TARGET_VS_AMAVISD, size_label(size))
        r = _every_row(what, TARGET_VS_AMAVISD, ok_points(points, "tollgate", size), "ratio_vs_amavisd",
                       unit="×", digits=1)
        if r:
            rows.append(r)

    # 4. the Postfix chain with tollgate against the same chain with the pass-through
    pairs = []
    for p in points:
        if p["scenario"] == "postfix" and p["status"] == "ok" and p.get("msgs_per_s"):
            pa = find(points, "postfix-passthru", p["size"], p["concurrency"])
            if pa and pa.get("msgs_per_s"):
                pairs.append(dict(p, shape="%s" % size_label(p["size"]),
                                  ratio_vs_passthru=p["msgs_per_s"] / pa["msgs_per_s"]))
    what = "Postfix chain with tollgate ≥ %.1f× the chain with the pass-through (msgs/s)" % TARGET_VS_PASSTHRU
    rows.append(_every_row(what, TARGET_VS_PASSTHRU, pairs, "ratio_vs_passthru", unit="×") or
                (what, "not measured (needs postfix and postfix-passthru)", nm))

    # 5. memory: master+16 workers vs master+1 worker
    psize = 4096 if 4096 in sizes else min(sizes)
    one = find(points, "tollgate", psize, 1)
    sixteen = find(points, "tollgate", psize, 16)
    pts = [p for p in ok_points(points, "tollgate", psize) if p.get("pss_total_kib")]
    what = "total PSS master+16 workers ≤ %.1f × master+1 worker" % TARGET_PSS_FACTOR
    if one and sixteen and one.get("pss_total_kib") and sixteen.get("pss_total_kib"):
        f = sixteen["pss_total_kib"] / one["pss_total_kib"]
        rows.append((what, "%.2f × (%.1f MiB vs %.1f MiB%s)" % (f, mib(sixteen["pss_total_kib"]),
                                                               mib(one["pss_total_kib"]), pss_note),
                     "met" if f <= TARGET_PSS_FACTOR else "not met"))
    elif pts:
        # estimate from the largest measured pool: master + n x worker
        big = max(pts, key=lambda p: p["concurrency"])
        m, w = big.get("pss_master_kib"), big.get("pss_per_worker_kib")
        if m is not None and w is not None:
            est16, est1 = m + 16 * w, m + w
            f = est16 / est1
            rows.append((what, "%.2f × estimated (master %.1f MiB + 16 × %.2f MiB per worker, measured at "
                         "concurrency %d; run concurrency 1 and 16 to measure%s)"
                         % (f, mib(m), mib(w), big["concurrency"], pss_note),
                         ("met" if f <= TARGET_PSS_FACTOR else "not met") + " (estimate)"))
        else:
            rows.append((what, nm, nm))
    else:
        rows.append((what, nm, nm))

    # 6. (an earlier round's target) p99 at the knee vs upper's p99 at the same concurrency
    what = "p99 at the 4KiB knee ≤ upper's p99 + %d ms" % TARGET_P99_SLACK_MS
    if kn and kn.get("lat_p99_ms") is not None:
        u = find(points, "upper", 4096, kn["concurrency"])
        if u and u.get("lat_p99_ms") is not None:
            lim = u["lat_p99_ms"] + TARGET_P99_SLACK_MS
            rows.append((what, "%.1f ms (%s) at concurrency %d; upper %.1f ms (probe) → limit %.1f ms"
                         % (kn["lat_p99_ms"], kn["lat_source"], kn["concurrency"], u["lat_p99_ms"], lim),
                         "met" if kn["lat_p99_ms"] <= lim else "not met"))
        else:
            rows.append((what, "%.1f ms at concurrency %d; upper not measured"
                         % (kn["lat_p99_ms"], kn["concurrency"]), nm))
    else:
        rows.append((what, nm, nm))
    return rows


def plots(outdir, points, scenarios, sizes, log):
    """plots - PNGs of msgs/s and p99 vs concurrency; list of files written"""
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot not found (apt-get install -y gnuplot-nox): no plots")
        return []
    written = []
    datadir = os.path.join(outdir, "plotdata")
    os.makedirs(datadir, exist_ok=True)
    for size in sizes:
        sl = size_label(size)
        for what, col, ylabel in (("throughput", "msgs_per_s", "messages / s (median)"),
                                  ("p99", "lat_p99_ms", "p99 latency per message (ms)")):
            series = []
            for sc in scenarios:
                pts = sorted((p for p in ok_points(points, sc, size) if p.get(col) is not None),
                             key=lambda p: p["concurrency"])
                if not pts:
                    continue
                dat = os.path.join(datadir, "%s-%s-%s.dat" % (what, sl, sc))
                with open(dat, "w") as f:
                    for p in pts:
                        f.write("%d %.4f\n" % (p["concurrency"], p[col]))
                series.append((sc, dat))
            if not series:
                continue
            png = os.path.join(outdir, "%s-%s.png" % (what, sl))
            script = [
                "set terminal png size 900,540 noenhanced",
                "set output '%s'" % png,
                "set title '%s vs concurrency, %s messages'" % (
                    "throughput" if what == "throughput" else "p99 latency", sl),
                "set xlabel 'concurrency (smtp-source sessions = max_servers)'",
                "set ylabel '%s'" % ylabel,
                "set logscale x 2",
                "set grid",
                "set offsets graph 0.03, graph 0.03, 0, 0",
                "set key outside right top",
            ]
            # amavisd sits two orders of magnitude away from tollgate: a
            # log y axis keeps both readable (values of 0 are left out)
            if any(sc == "amavisd" for sc, _ in series):
                script += ["set logscale y 10", "set yrange [*:*]",
                           "set ylabel '%s, log scale'" % ylabel]
            else:
                script += ["set yrange [0:*]"]
            script += [
                "plot " + ", ".join("'%s' using 1:2 with linespoints lw 2 pt 7 title '%s'" % (d, s)
                                    for s, d in series),
            ]
            try:
                r = subprocess.run([gp], input="\n".join(script) + "\n", text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            except subprocess.TimeoutExpired:
                log("gnuplot timed out on %s" % png)
                continue
            if r.returncode == 0 and os.path.exists(png):
                written.append(os.path.basename(png))
            else:
                log("gnuplot failed on %s: %s" % (png, r.stdout.strip()[-300:]))
    return written


def postfix_cost_section(points, sizes):
    """postfix_cost_section - summary.md lines: the postfix scenarios side
    by side per size and concurrency, and the filter's cost inside Postfix
    (chain CPU ms/msg of postfix minus postfix-passthru); [] without both"""
    scs = [sc for sc in ("postfix", "postfix-noscan", "postfix-passthru")
           if any(p["scenario"] == sc for p in points)]
    if "postfix-passthru" not in scs or len(scs) < 2:
        return []
    L = ["## Filter cost inside Postfix", "",
         "The same private Postfix chain (smtp-source → smtpd → queue → feed with maxproc = conc → "
         "re-injection smtpd → queue → smtp-sink) with tollgated as the filter (postfix), tollgated "
         "with ClamAV off (postfix-noscan) and no filter at all (postfix-passthru: Postfix's own "
         "smtp client straight to the re-injection smtpd). Chain CPU ms/msg: every Postfix process "
         "of the instance (its master and all it forked, reaped ones included) plus tollgated's "
         "master and workers; smtp-source and smtp-sink not counted. p99 from tollgated's log "
         "(passthru: none).", "",
         "| scenario | size | conc | msgs/s | min–max | chain CPU ms/msg | tollgated CPU ms/msg "
         "| p99 ms | status |",
         "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    pts = [p for p in points if p["scenario"] in scs]
    order = {s: i for i, s in enumerate(scs)}
    for p in sorted(pts, key=lambda p: (p["size"], p["concurrency"], order[p["scenario"]])):
        L.append("| %s | %s | %d | %s | %s–%s | %s | %s | %s | %s |" % (
            p["scenario"], size_label(p["size"]), p["concurrency"], fmt(p.get("msgs_per_s"), 0),
            fmt(p.get("msgs_per_s_min"), 0), fmt(p.get("msgs_per_s_max"), 0),
            fmt(p.get("chain_cpu_ms_per_msg"), 3), fmt(p.get("cpu_ms_per_msg"), 3),
            fmt(p.get("lat_p99_ms"), 1), p["status"] + (" (%s)" % p["note"] if p.get("note") else "")))
    L.append("")
    for size in sizes:
        for conc in sorted({p["concurrency"] for p in pts if p["size"] == size}):
            pa = find(points, "postfix-passthru", size, conc)
            for sc, what in (("postfix", "filter cost inside Postfix"),
                             ("postfix-noscan", "filter cost inside Postfix, ClamAV off")):
                pf = find(points, sc, size, conc)
                if sc not in scs:
                    continue
                if not (pf and pa and pf.get("chain_cpu_ms_per_msg") is not None
                        and pa.get("chain_cpu_ms_per_msg") is not None):
                    L.append("- %s, conc %d: %s = not measured" % (size_label(size), conc, what))
                    continue
                d = pf["chain_cpu_ms_per_msg"] - pa["chain_cpu_ms_per_msg"]
                L.append("- %s, conc %d: %s = (%s − passthru) CPU ms/msg = %.3f − %.3f = **%.3f ms/msg** "
                         "(%+.0f%% of the pass-through chain); msgs/s %.0f vs %.0f (%.2f×)"
                         % (size_label(size), conc, what, sc, pf["chain_cpu_ms_per_msg"],
                            pa["chain_cpu_ms_per_msg"], d,
                            100.0 * d / pa["chain_cpu_ms_per_msg"] if pa["chain_cpu_ms_per_msg"] else 0,
                            pf["msgs_per_s"], pa["msgs_per_s"],
                            pf["msgs_per_s"] / pa["msgs_per_s"] if pa["msgs_per_s"] else 0))
    L.append("")
    return L


def corpus_section(cpoints):
    """corpus_section - the lines of summary.md's per-shape table"""
    L = ["## Corpus (realistic message shapes, lib/corpus.py)", "",
         "Every message unique (Message-ID and a token in every part); msgs/s from the load "
         "client's wall time, CPU ms/msg of the filter's processes (tollgated: master + workers; "
         "amavisd: master + children + clamd), and of the load client beside it. ÷ amavisd: "
         "tollgate's msgs/s over the amavisd peer's at the same shape, size and concurrency.",
         "",
         "| filter | shape | size | conc | msgs/s | min–max | ÷ amavisd | CPU ms/msg | client CPU ms/msg "
         "| p50 ms | p99 ms | host CPU % | status |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for p in sorted(cpoints, key=lambda p: (p["size"], p["concurrency"], p.get("shape", ""), p["scenario"])):
        L.append("| %s | %s | %s | %d | %s | %s–%s | %s | %s | %s | %s | %s | %s | %s |" % (
            "amavisd" if p["scenario"] == "corpus-amavisd" else "tollgate",
            p.get("shape", "-"), size_label(p["size"]), p["concurrency"], fmt(p.get("msgs_per_s"), 1),
            fmt(p.get("msgs_per_s_min"), 1), fmt(p.get("msgs_per_s_max"), 1),
            fmt(p.get("ratio_vs_amavisd"), 1),
            fmt(p.get("cpu_ms_per_msg"), 3), fmt(p.get("client_cpu_ms_per_msg"), 3),
            fmt(p.get("lat_p50_ms"), 1), fmt(p.get("lat_p99_ms"), 1), fmt(p.get("host_cpu_pct"), 0),
            p["status"] + (" (%s)" % p["note"] if p.get("note") else "")))
    L.append("")
    return L


def summary(outdir, meta, points, scenarios, sizes, pngs, notes, corpus_points=None, extra=None):
    """summary - write summary.md; return its text"""
    L = []
    L.append("# tollgate bench — %s, %s" % (meta["date"], meta["host"]))
    L.append("")
    L.append("- command: `%s`" % meta["command"])
    L.append("- machine: %s" % meta["machine"])
    L.append("- before the run: %s" % meta["host_state"])
    L.append("- tollgated: %s" % meta["tollgated"])
    L.append("- source tree: %s" % meta["git"])
    L.append("- ClamAV: %s" % meta["clamav"])
    if meta.get("scan_tmp"):
        L.append("- scanners' temp files: %s" % meta["scan_tmp"])
    if meta.get("amavisd"):
        L.append("- amavisd peer: %s" % meta["amavisd"])
    L.append("- protocol smtp-source → tollgated: %s; repeats per point: %d (median shown); "
             "target seconds per run: %s" % (meta["proto"], meta["repeat"], meta["seconds"]))
    L.append("- latency: tollgate/postfix from tollgated's per-message log lines (\", N ms\"), "
             "amavisd from its own (same shape); "
             "upper from a probe client beside the load (connect → reply to the final dot); "
             "both filters log whole milliseconds, so 0 means under 1 ms")
    L.append("- CPU ms/msg: the filter's processes from /proc (tollgated: master + workers; "
             "amavisd: master + children + their helpers + clamd); the postfix scenarios also "
             "give the whole chain's (Postfix's processes included) in results.csv and below")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("| scenario | size | conc | msgs/s | min–max | ÷ upper | ÷ amavisd | CPU ms/msg | p50 ms "
             "| p99 ms | lat from | PSS total MiB | PSS/worker MiB | host CPU % | status |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|")
    order = {s: i for i, s in enumerate(scenarios)}
    for p in sorted(points, key=lambda p: (p["size"], order.get(p["scenario"], 99), p["concurrency"])):
        L.append("| %s | %s | %d | %s | %s–%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p["scenario"], size_label(p["size"]), p["concurrency"], fmt(p.get("msgs_per_s"), 0),
            fmt(p.get("msgs_per_s_min"), 0), fmt(p.get("msgs_per_s_max"), 0),
            fmt(p.get("ratio_vs_upper"), 2), fmt(p.get("ratio_vs_amavisd"), 1),
            fmt(p.get("cpu_ms_per_msg"), 3),
            fmt(p.get("lat_p50_ms"), 1), fmt(p.get("lat_p99_ms"), 1), p.get("lat_source") or "-",
            fmt(mib(p.get("pss_total_kib")), 1), fmt(mib(p.get("pss_per_worker_kib")), 2),
            fmt(p.get("host_cpu_pct"), 0),
            p["status"] + (" (%s)" % p["note"] if p.get("note") else "")))
    L.append("")
    L += postfix_cost_section(points, sizes)
    if corpus_points:
        L += corpus_section(corpus_points)
    if extra:
        L += extra
    L.append("## Knee (smallest concurrency within 5% of the best throughput)")
    L.append("")
    recommend = None
    for sc in scenarios:
        if sc in ("upper", "postfix-passthru", "postfix-noscan"):
            # no filter, or one that scans nothing: no max_servers to advise
            for size in sizes:
                kn, best = knee(points, sc, size)
                if best:
                    L.append("- %s (%s), %s: best %.0f msgs/s at concurrency %d"
                             % (sc, {"upper": "the ceiling", "postfix-passthru": "no filter",
                                     "postfix-noscan": "ClamAV off"}[sc],
                                size_label(size), best["msgs_per_s"], best["concurrency"]))
            continue
        for size in sizes:
            kn, best = knee(points, sc, size)
            if not kn:
                L.append("- %s, %s: not measured" % (sc, size_label(size)))
                continue
            n = kn["concurrency"]
            L.append("- %s, %s: best %.0f msgs/s at concurrency %d; knee at concurrency **%d** "
                     "(%.0f msgs/s) → `max_servers = %d` and master.cf `%s`"
                     % (sc, size_label(size), best["msgs_per_s"], best["concurrency"], n,
                        kn["msgs_per_s"], n, amavisfeed_line(n)))
            top = max(p["concurrency"] for p in ok_points(points, sc, size))
            if n == top and len(ok_points(points, sc, size)) > 1:
                L.append("  - the knee is the largest concurrency measured: throughput was still "
                         "rising, so the real knee may lie higher (extend --concurrency)")
            if size == (4096 if 4096 in sizes else min(sizes)) and sc != "amavisd":
                if recommend is None or sc == "postfix":
                    recommend = (sc, n)
    if recommend:
        sc, n = recommend
        L.append("")
        L.append("Suggested setting (from the %s scenario, %s): tollgate.conf `max_servers = %d`, "
                 "master.cf `%s` — keep both sides equal (integration guide, 5.1)."
                 % (sc, size_label(4096 if 4096 in sizes else min(sizes)), n, amavisfeed_line(n)))
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | measured | verdict |")
    L.append("|---|---|---|")
    for t, m, v in targets(points, sizes, corpus_points or ()):
        L.append("| %s | %s | **%s** |" % (t, m, v))
    L.append("")
    if pngs:
        L.append("## Plots")
        L.append("")
        for p in pngs:
            L.append("![%s](%s)" % (p, p))
        L.append("")
    if notes:
        L.append("## Notes")
        L.append("")
        for n in notes:
            L.append("- %s" % n)
        L.append("")
    text = "\n".join(L)
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(text)
    return text
