/*
 * metrics.c - sums the shared stats page into Prometheus text format.
 *
 * Reads every slot (live or not: counters of dead children stay in
 * their slot and keep counting when the slot is reused, so sums never
 * go backwards).  Pure formatting: no locks, no handles.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "metrics.h"
#include "proc.h"
#include "stats.h"

static void
metrics_head(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t
metrics_sum_ctr(enum stats_ctr c)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < STATS_SLOTS; i++)
		n += __atomic_load_n(&stats->slot[i].ctr[c], __ATOMIC_RELAXED);
	return n;
}

static const struct {
	enum stats_ctr	 ctr;
	const char	*name, *labels, *help;
} metrics_ctrs[] = {
	{ CTR_NOTIF_ACCEPTED, "notifyd_notifications_accepted_total", "",
	  "Notifications stored by POST." },
	{ CTR_NOTIF_INSERTS, "notifyd_notification_inserts_total", "",
	  "INSERT statements (group commits) storing POSTed notifications." },
	{ CTR_NOTIF_QUEUED, "notifyd_notifications_queued_total", "",
	  "Notifications acknowledged by Kafka." },
	{ CTR_NOTIF_SENT, "notifyd_notifications_sent_total", "",
	  "Notifications accepted by the SMTP relay (250)." },
	{ CTR_NOTIF_FAILED, "notifyd_notifications_failed_total", "",
	  "Notifications marked FAILED." },
	{ CTR_NOTIF_RETRIED, "notifyd_notifications_retried_total", "",
	  "Delivery attempts retried by a worker." },
	{ CTR_NOTIF_SUPPRESSED, "notifyd_notifications_suppressed_total", "",
	  "Notifications stored or claimed SUPPRESSED, never sent." },
	{ CTR_EVENTS_DELIVERED, "notifyd_delivery_events_delivered_total", "",
	  "Delivery events the events endpoint answered 2xx." },
	{ CTR_EVENTS_RETRIED, "notifyd_delivery_events_retried_total", "",
	  "Delivery event attempts the events endpoint did not take "
	  "(each is sent again later)." },
	{ CTR_NOTIF_REQUEUED, "notifyd_notifications_requeued_total", "",
	  "Notifications requeued by the sweeper." },
	{ CTR_SMTP_2XX, "notifyd_smtp_attempts_total", "{class=\"2xx\"}",
	  "SMTP delivery attempts by outcome class." },
	{ CTR_SMTP_4XX, "notifyd_smtp_attempts_total", "{class=\"4xx\"}", NULL },
	{ CTR_SMTP_5XX, "notifyd_smtp_attempts_total", "{class=\"5xx\"}", NULL },
	{ CTR_SMTP_NETERR, "notifyd_smtp_attempts_total", "{class=\"network\"}",
	  NULL },
	{ CTR_RATE_WAITS, "notifyd_rate_limit_waits_total", "",
	  "Sends delayed by email.rate_limit." },
	{ CTR_AUDIT_RECORDED, "notifyd_audit_messages_total", "",
	  "Kafka messages recorded by the audit role." },
	{ CTR_AUDIT_BATCHES, "notifyd_audit_batches_total", "",
	  "Audit batches committed." },
	{ CTR_DB_ERRORS, "notifyd_database_errors_total", "",
	  "PostgreSQL errors seen by any process (the API counts only an "
	  "unreachable server or a lost connection)." },
	{ CTR_DB_TIMEOUTS, "notifyd_database_timeouts_total", "",
	  "API requests answered 503 for a pool wait or statement timeout." },
	{ CTR_KAFKA_ERRORS, "notifyd_kafka_errors_total", "",
	  "Kafka errors seen by any process." },
};

static void
metrics_counters(struct buf *b)
{
	size_t i;

	for (i = 0; i < sizeof(metrics_ctrs) / sizeof(metrics_ctrs[0]); i++) {
		if (metrics_ctrs[i].help != NULL)
			metrics_head(b, metrics_ctrs[i].name, "counter",
			    metrics_ctrs[i].help);
		buf_printf(b, "%s%s %llu\n", metrics_ctrs[i].name,
		    metrics_ctrs[i].labels,
		    (unsigned long long)metrics_sum_ctr(metrics_ctrs[i].ctr));
	}
}

/* Requests by route: route r is named names[r] (the route table's). */
static void
metrics_http(struct buf *b, const char *const *names, int nroutes)
{
	const char *name;
	uint64_t n;
	int r, c, i;

	metrics_head(b, "notifyd_http_requests_total", "counter",
	    "HTTP requests by route and status class.");
	for (r = 0; r < STATS_ROUTES; r++) {
		if (r < nroutes && r < STATS_ROUTES - 1)
			name = names[r];
		else if (r == STATS_ROUTES - 1)
			name = "unmatched";
		else
			continue;
		for (c = 1; c <= 5; c++) {
			for (n = 0, i = 0; i < STATS_SLOTS; i++)
				n += __atomic_load_n(&stats->slot[i].http[r][c],
				    __ATOMIC_RELAXED);
			if (n > 0)
				buf_printf(b, "notifyd_http_requests_total"
				    "{route=\"%s\",code=\"%dxx\"} %llu\n", name, c,
				    (unsigned long long)n);
		}
	}
}

/* Sums one histogram over all slots; off = its offset in a slot. */
static void
metrics_hist(struct buf *b, const char *name, const char *help, size_t off)
{
	uint64_t bucket[STATS_HIST_BUCKETS + 1] = { 0 }, count, sum = 0, cum;
	double le = 0.001;
	int i, k;

	for (i = 0; i < STATS_SLOTS; i++) {
		const struct stats_hist *h = (const void *)
		    ((const char *)&stats->slot[i] + off);
		for (k = 0; k <= STATS_HIST_BUCKETS; k++)
			bucket[k] += __atomic_load_n(&h->bucket[k], __ATOMIC_RELAXED);
		sum += __atomic_load_n(&h->sum_us, __ATOMIC_RELAXED);
	}
	metrics_head(b, name, "histogram", help);
	for (cum = 0, k = 0; k < STATS_HIST_BUCKETS; k++, le *= 2) {
		cum += bucket[k];
		buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, le,
		    (unsigned long long)cum);
	}
	/*
	 * +Inf and _count from the buckets, not from h->count: a writer
	 * bumps its bucket before its count, so reading both while it runs
	 * could show a finite bucket above +Inf.
	 */
	count = cum + bucket[STATS_HIST_BUCKETS];
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)count);
	buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum / 1e6,
	    name, (unsigned long long)count);
}

static void
metrics_procs(struct buf *b)
{
	int up[ROLE_MAX] = { 0 }, ready[ROLE_MAX] = { 0 }, i, r;

	for (i = 0; i < STATS_SLOTS; i++) {
		const struct stats_slot *s = &stats->slot[i];
		int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (st == SLOT_FREE || s->role < 0 || s->role >= ROLE_MAX)
			continue;
		up[s->role]++;
		ready[s->role] += st == SLOT_READY;
	}
	metrics_head(b, "notifyd_processes", "gauge",
	    "Child processes alive by role.");
	for (r = 0; r < ROLE_MAX; r++)
		buf_printf(b, "notifyd_processes{role=\"%s\"} %d\n",
		    proc_role_name((enum role)r), up[r]);
	metrics_head(b, "notifyd_processes_ready", "gauge",
	    "Child processes serving by role.");
	for (r = 0; r < ROLE_MAX; r++)
		buf_printf(b, "notifyd_processes_ready{role=\"%s\"} %d\n",
		    proc_role_name((enum role)r), ready[r]);
	metrics_head(b, "notifyd_child_restarts_total", "counter",
	    "Children respawned after dying, by role.");
	for (r = 0; r < ROLE_MAX; r++)
		buf_printf(b, "notifyd_child_restarts_total{role=\"%s\"} %llu\n",
		    proc_role_name((enum role)r),
		    (unsigned long long)stats->restarts[r]);
}

/* Writes a label value with Prometheus escaping (\\, \", \n). */
static void
metrics_label(struct buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			buf_printf(b, "\\n");
		else
			buf_printf(b, "%c", *v);
	}
}

/* The audit consumer's lag per partition, read under its sequence counter. */
static void
metrics_lag(struct buf *b)
{
	struct stats_lag copy[STATS_LAG_MAX];
	uint32_t seq;
	int n = 0, tries, i;

	for (tries = 0; tries < 5; tries++) {
		seq = __atomic_load_n(&stats->lag_seq, __ATOMIC_ACQUIRE);
		if (seq & 1)
			continue;
		n = stats->nlag;
		if (n < 0 || n > STATS_LAG_MAX)
			n = 0;
		memcpy(copy, stats->lag, sizeof(copy[0]) * (size_t)n);
		if (__atomic_load_n(&stats->lag_seq, __ATOMIC_ACQUIRE) == seq)
			break;
		n = 0;
	}
	metrics_head(b, "notifyd_audit_consumer_lag", "gauge",
	    "Messages behind the high watermark, by topic and partition.");
	for (i = 0; i < n; i++) {
		copy[i].topic[sizeof(copy[i].topic) - 1] = '\0';
		buf_printf(b, "notifyd_audit_consumer_lag{topic=\"");
		metrics_label(b, copy[i].topic);
		buf_printf(b, "\",partition=\"%d\"} %lld\n", (int)copy[i].partition,
		    (long long)copy[i].lag);
	}
}

/*
 * The outbox of delivery events: what is left to send and how old the
 * oldest is, so an endpoint that refuses for hours shows before the
 * table grows out of hand (events are never given up).  Only while the
 * events role runs.
 */
static void
metrics_events(struct buf *b)
{
	int64_t n = __atomic_load_n(&stats->events_pending, __ATOMIC_RELAXED);
	int64_t age = __atomic_load_n(&stats->events_oldest_s,
	    __ATOMIC_RELAXED);

	if (*conf->events_endpoint == '\0' || n < 0)
		return;
	metrics_head(b, "notifyd_delivery_events_pending", "gauge",
	    "Delivery events not yet delivered to events.endpoint.");
	buf_printf(b, "notifyd_delivery_events_pending %lld\n", (long long)n);
	metrics_head(b, "notifyd_delivery_events_oldest_pending_seconds",
	    "gauge", "Age of the oldest delivery event not yet delivered.");
	buf_printf(b, "notifyd_delivery_events_oldest_pending_seconds %lld\n",
	    (long long)age);
}

char *
metrics_render(const char *const *route_names, int nroutes)
{
	struct buf b = { 0 };

	metrics_head(&b, "notifyd_build_info", "gauge", "Build information.");
	buf_printf(&b, "notifyd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	metrics_procs(&b);
	metrics_http(&b, route_names, nroutes);
	metrics_hist(&b, "notifyd_http_request_duration_seconds",
	    "HTTP request latency.", offsetof(struct stats_slot, http_latency));
	metrics_counters(&b);
	metrics_hist(&b, "notifyd_audit_commit_duration_seconds",
	    "Audit batch commit latency.",
	    offsetof(struct stats_slot, audit_commit));
	metrics_lag(&b);
	metrics_events(&b);
	if (buf_str(&b) == NULL) {
		buf_free(&b);
		return NULL;
	}
	return b.p;
}
