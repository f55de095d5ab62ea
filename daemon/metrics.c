/*
 * metrics.c - the Prometheus text exposition (format 0.0.4) of the
 * scoreboard: message counters by category and outcome, bytes, workers
 * by state, and one latency histogram per message stage. The HTTP side
 * is in control.c.
 *
 * Also: failures that are not messages (scanner failures, Redis
 * errors), old-generation workers still draining, and the age of the
 * ClamAV signatures in service, for ops/prometheus/'s alerts.
 *
 * Deliberately left out: cluster-wide (Redis) counters; per-worker
 * series (pids come and go, which only makes series churn).
 */
#include "config.h"

#include <unistd.h>

#include "daemon/control.h"
#include "lib/buf.h"

/* metrics_help - the HELP and TYPE lines of one metric family */
static void metrics_help(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_render(struct buf *out, const struct control_info *info)
{
	struct sb_counters k;
	int per_state[SB_EXITING + 1] = { 0 };
	int i, j, b;

	scoreboard_read(info->sb, &k);
	for (i = 0; i < info->nslots; i++)
		if (info->sb->slot[i].pid && info->sb->slot[i].state >= 0 && info->sb->slot[i].state <= SB_EXITING)
			per_state[info->sb->slot[i].state]++;

	metrics_help(out, "tollgate_build_info", "gauge", "tollgated version");
	buf_printf(out, "tollgate_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	metrics_help(out, "tollgate_start_time_seconds", "gauge", "when the master started (Unix time)");
	buf_printf(out, "tollgate_start_time_seconds %lld\n", (long long)info->started);
	metrics_help(out, "tollgate_generation", "gauge", "configuration generation (bumped by each reload)");
	buf_printf(out, "tollgate_generation %u\n", info->generation);
	metrics_help(out, "tollgate_workers_target", "gauge", "max_servers now");
	buf_printf(out, "tollgate_workers_target %d\n", info->target);
	metrics_help(out, "tollgate_workers", "gauge", "worker processes by scoreboard state");
	for (i = SB_STARTING; i <= SB_EXITING; i++)
		buf_printf(out, "tollgate_workers{state=\"%s\"} %d\n", scoreboard_state_name(i), per_state[i]);

	{
		int old = 0;

		for (i = 0; i < info->nslots; i++)
			if (info->sb->slot[i].pid && info->sb->slot[i].generation != info->generation)
				old++;
		metrics_help(out, "tollgate_workers_old_generation", "gauge",
		    "workers of an earlier configuration generation still finishing their session");
		buf_printf(out, "tollgate_workers_old_generation %d\n", old);
	}
	metrics_help(out, "tollgate_failures_total", "counter",
	    "failures counted apart from messages: scanner_failure (a scan that could not complete, "
	    "message tempfailed), redis_error (a shared-state request that failed)");
	for (i = 0; i < SB_EVENTS; i++)
		buf_printf(out, "tollgate_failures_total{kind=\"%s\"} %llu\n", scoreboard_event_name(i),
		    (unsigned long long)k.events[i]);
	metrics_help(out, "tollgate_clamav_enabled", "gauge", "1 when virus scanning is on");
	buf_printf(out, "tollgate_clamav_enabled %d\n", info->clamav ? 1 : 0);
	if (info->clamav) {
		metrics_help(out, "tollgate_clamav_signatures", "gauge", "signatures in the engine in service");
		buf_printf(out, "tollgate_clamav_signatures %u\n", info->clamav_signatures);
		metrics_help(out, "tollgate_clamav_database_timestamp_seconds", "gauge",
		    "build time of the signatures in service (Unix time; newest .cvd/.cld, else file mtime)");
		buf_printf(out, "tollgate_clamav_database_timestamp_seconds %lld\n", (long long)info->clamav_db_time);
		metrics_help(out, "tollgate_clamav_loaded_timestamp_seconds", "gauge",
		    "when the engine in service was compiled (Unix time)");
		buf_printf(out, "tollgate_clamav_loaded_timestamp_seconds %lld\n",
		    (long long)info->clamav_loaded_at);
	}

	metrics_help(out, "tollgate_messages_total", "counter",
	    "messages processed, by main content category and outcome");
	for (i = 0; i < CC_MAJORS; i++)
		for (j = 0; j < SB_ACTIONS; j++)
			buf_printf(out, "tollgate_messages_total{category=\"%s\",action=\"%s\"} %llu\n",
			    category_label((unsigned)i), scoreboard_action_name(j),
			    (unsigned long long)k.messages[i][j]);
	metrics_help(out, "tollgate_received_bytes_total", "counter", "bytes of the processed messages");
	buf_printf(out, "tollgate_received_bytes_total %llu\n", (unsigned long long)k.bytes);

	metrics_help(out, "tollgate_stage_duration_seconds", "histogram",
	    "time per message stage: receive, scan (parse, scan, decide), forward (re-injection)");
	for (i = 0; i < SB_STAGES; i++) {
		const char *st = scoreboard_stage_name(i);
		unsigned long long cum = 0;

		for (b = 0; b < SB_BUCKETS; b++) {
			cum += k.stage_bucket[i][b];
			buf_printf(out, "tollgate_stage_duration_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n", st,
			    (double)sb_bucket_usec[b] / 1e6, cum);
		}
		cum += k.stage_bucket[i][SB_BUCKETS];
		buf_printf(out, "tollgate_stage_duration_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n", st, cum);
		buf_printf(out, "tollgate_stage_duration_seconds_sum{stage=\"%s\"} %.6f\n", st,
		    (double)k.stage_sum_usec[i] / 1e6);
		/* the count is the +Inf bucket, so both agree even when a
		 * worker added an observation while we read */
		buf_printf(out, "tollgate_stage_duration_seconds_count{stage=\"%s\"} %llu\n", st, cum);
	}
}
