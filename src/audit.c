/*
 * audit.c - the audit role: every message of every topic, once, in
 * PostgreSQL.
 *
 * One consumer in audit.group_id, subscribed by regex.  Offsets live
 * only in kafka_offsets, committed in the same transaction as the rows
 * (audit_batch.c); on assignment each partition starts after its stored
 * offset.  While a batch fills, its COPY is already open and fed, so
 * PostgreSQL inserts while we consume.  While PostgreSQL is down the
 * batch stays in memory, the partitions are paused, and the same batch
 * is retried with backoff.
 * Must never commit offsets to Kafka, drop a polled message of a
 * partition it still owns, or stop on a malformed message.
 */
#include "config.h"

#include <malloc.h>
#include <regex.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "backoff.h"
#include "conf.h"
#include "db.h"
#include "kafka.h"
#include "log.h"
#include "proc.h"
#include "roles.h"
#include "stats.h"
#include "util.h"

#define AUDIT_BACKOFF_FIRST	0.1	/* seconds */
#define AUDIT_BACKOFF_MAX	2.0
#define AUDIT_IDLE_MS		500	/* poll timeout with nothing to do */
#define AUDIT_STREAM_BYTES	(64 * 1024)	/* COPY data sent while filling */
#define AUDIT_MAINT_S		60	/* partitions ahead, retention */

struct audit {
	rd_kafka_t	*rk;
	rd_kafka_queue_t *queue;	/* the consumer's: messages waiting */
	PGconn		*db;		/* link.conn */
	struct db_link	 link;
	struct audit_batch batch;
	regex_t		 exclude;
	bool		 has_exclude;
	bool		 failing;	/* the last commit failed */
	bool		 paused;
	bool		 broken;	/* out of memory: exit, restart clean */
	bool		 busy;		/* recorded since the last trim */
	bool		 reseek;	/* the connection was replaced */
	struct backoff	 backoff;	/* of failed commits */
	double		 retry_at;	/* util_now() of the next attempt */
	int64_t		 missing;	/* start of a partition never stored */
	double		 maint_at;	/* util_now() of the next upkeep */
};

/* False for internal topics (__*) and for audit.exclude. */
static bool
audit_wanted(const struct audit *a, const char *topic)
{
	if (topic[0] == '_' && topic[1] == '_')
		return false;
	return !a->has_exclude || regexec(&a->exclude, topic, 0, NULL, 0) != 0;
}

/* A copy of parts without the topics we do not record. */
static rd_kafka_topic_partition_list_t *
audit_filter(const struct audit *a, const rd_kafka_topic_partition_list_t *in)
{
	rd_kafka_topic_partition_list_t *out;
	int i;

	out = rd_kafka_topic_partition_list_new(in->cnt > 0 ? in->cnt : 1);
	for (i = 0; i < in->cnt; i++)
		if (audit_wanted(a, in->elems[i].topic))
			rd_kafka_topic_partition_list_add(out, in->elems[i].topic,
			    in->elems[i].partition);
	return out;
}

/*
 * A live database connection, reconnecting when it broke.  The session
 * commits asynchronously unless audit.synchronous_commit: a batch and its
 * offsets commit together, so a commit lost in a crash loses both, and
 * audit_reseek() reads the messages again.
 */
static int
audit_db(struct audit *a, char *err, size_t len)
{
	const struct db_opts o = { conf->database_connect_timeout,
	    conf->database_worker_statement_timeout, 0 };
	enum db_link_state st;

	if (a->db != NULL && !db_broken(a->db))
		return 0;
	if (a->db != NULL)
		a->reseek = true;
	if (a->batch.stream == a->db)
		audit_batch_unstream(&a->batch);
	a->link.conninfo = conf->database_conninfo;
	a->link.opts = o;	/* no backoff here: audit_failed() paces */
	st = db_link_check(&a->link, err, len);
	if (st == DB_LINK_OPENED || st == DB_LINK_RESTORED) {
		if (!conf->audit_synchronous_commit && db_exec(a->link.conn,
		    "SET synchronous_commit = off", err, len) == -1)
			db_link_close(&a->link);
	}
	a->db = a->link.conn;
	return a->db != NULL ? 0 : -1;
}

/*
 * After a reconnect, PostgreSQL may have lost commits it acknowledged
 * (asynchronous commit, or a failover): every assigned partition starts
 * again from the offset the database holds now, and the batch in hand,
 * which may begin past a lost one, is dropped to be read again.
 */
static int
audit_reseek(struct audit *a, char *err, size_t len)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_error_t *e;
	int i, rc = -1;

	if (rd_kafka_assignment(a->rk, &parts) != 0 || parts == NULL) {
		snprintf(err, len, "cannot read the assignment");
		goto out;
	}
	if (parts->cnt > 0 && audit_offsets_load(a->db, conf->audit_group_id,
	    parts, a->missing, err, len) == -1)
		goto out;
	audit_batch_clear(&a->batch);
	if (parts->cnt > 0 &&
	    (e = rd_kafka_seek_partitions(a->rk, parts, 5000)) != NULL) {
		snprintf(err, len, "seek: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		goto out;
	}
	for (i = 0; i < parts->cnt; i++)
		if (parts->elems[i].err != 0) {
			snprintf(err, len, "seek %s [%d]: %s", parts->elems[i].topic,
			    (int)parts->elems[i].partition,
			    rd_kafka_err2str(parts->elems[i].err));
			goto out;
		}
	log_info("reconnected: %d partitions restart from the stored offsets",
	    parts->cnt);
	a->reseek = false;
	rc = 0;
out:
	if (parts != NULL)
		rd_kafka_topic_partition_list_destroy(parts);
	return rc;
}

/* Pauses or resumes fetching on every assigned partition. */
static void
audit_pause(struct audit *a, bool pause)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t err;

	if ((err = rd_kafka_assignment(a->rk, &parts)) == 0)
		err = pause ? rd_kafka_pause_partitions(a->rk, parts) :
		    rd_kafka_resume_partitions(a->rk, parts);
	if (err != 0)
		log_warnx("cannot %s partitions: %s", pause ? "pause" :
		    "resume", rd_kafka_err2str(err));
	else
		a->paused = pause;
	if (parts != NULL)
		rd_kafka_topic_partition_list_destroy(parts);
}

/* libpq's multi-line messages on one log line. */
static void
audit_oneline(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\n' || *s == '\t')
			*s = ' ';
}

/* A commit failed: keep the batch, pause, retry later. */
static void
audit_failed(struct audit *a, char *why)
{
	const rd_kafka_message_t *m = a->batch.n > 0 ? a->batch.msg[0] : NULL;

	stats_add(CTR_DB_ERRORS, 1);
	a->retry_at = util_now() + backoff_next(&a->backoff, NULL);
	audit_oneline(why);
	if (m != NULL && !a->failing) {
		audit_log_ctx(m);
		log_warnx("batch of %d messages from %s [%d] at offset %lld not "
		    "committed: %s; consumption paused, retrying", a->batch.n,
		    rd_kafka_topic_name(m->rkt), (int)m->partition,
		    (long long)m->offset, why);
		log_ctx_clear();
	} else if (!a->failing)
		log_warnx("database unavailable: %s; retrying", why);
	else
		log_debug("database still unavailable: %s", why);
	a->failing = true;
	if (!a->paused)
		audit_pause(a, true);
}

/* A commit (or a reconnect) worked after failures: resume. */
static void
audit_recovered(struct audit *a)
{
	if (!a->failing)
		return;
	log_info("database reachable again; consumption resumed");
	a->failing = false;
	backoff_reset(&a->backoff);
	a->retry_at = 0;
	if (a->paused)
		audit_pause(a, false);
}

/*
 * Commits the batch (an empty one just checks the database).  With
 * chain and more messages already fetched, the next batch's COPY opens
 * in the same round trip as this COMMIT: under a backlog PostgreSQL
 * then never waits for us between batches.
 */
static int
audit_flush(struct audit *a, bool chain)
{
	char err[DB_ERRLEN];
	int64_t t0 = util_now_us();
	int recorded, n = a->batch.n;
	enum audit_commit rc = AUDIT_RETRY;

	chain = chain && rd_kafka_queue_length(a->queue) > 0;
	if (audit_db(a, err, sizeof(err)) == -1 ||
	    (a->reseek && audit_reseek(a, err, sizeof(err)) == -1) ||
	    (rc = audit_batch_commit(a->db, conf->audit_group_id, &a->batch,
	    chain, &recorded, err, sizeof(err))) == AUDIT_RETRY) {
		audit_failed(a, err);
		return -1;
	}
	if (n > 0) {
		stats_add(CTR_AUDIT_RECORDED, (uint64_t)recorded);
		stats_add(CTR_AUDIT_BATCHES, 1);
		if (stats_self != NULL)
			stats_hist_observe(&stats_self->audit_commit,
			    (uint64_t)(util_now_us() - t0));
		if (recorded < n)
			log_debug("batch of %d: %d already recorded", n,
			    n - recorded);
	}
	audit_batch_clear(&a->batch);
	if (rc == AUDIT_COMMITTED_NEXT)
		audit_batch_adopt(&a->batch, a->db);
	audit_recovered(a);
	return 0;
}

/* Reads the stored offsets of parts, waiting for the database. */
static int
audit_offsets(struct audit *a, rd_kafka_topic_partition_list_t *parts)
{
	char err[DB_ERRLEN];
	struct backoff b = { AUDIT_BACKOFF_FIRST, AUDIT_BACKOFF_MAX, 0, 0 };
	double until;
	bool logged = false;

	for (;;) {
		if (audit_db(a, err, sizeof(err)) == 0 &&
		    audit_offsets_load(a->db, conf->audit_group_id, parts,
		    a->missing, err, sizeof(err)) == 0)
			return 0;
		stats_add(CTR_DB_ERRORS, 1);
		audit_oneline(err);
		if (!logged)
			log_warnx("cannot read the offsets of %d assigned "
			    "partitions: %s; retrying", parts->cnt, err);
		logged = true;
		for (until = util_now() + backoff_next(&b, NULL);
		    util_now() < until; util_sleep(0.1))
			if (!proc_running())
				return -1;
	}
}

/* New partitions start right after what the database holds. */
static void
audit_assign(struct audit *a, rd_kafka_topic_partition_list_t *parts,
    bool coop)
{
	rd_kafka_topic_partition_list_t *want = audit_filter(a, parts);
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t err = 0;
	int i;

	/* Cooperative: the connection may be feeding the batch's COPY. */
	audit_batch_unstream(&a->batch);
	if (want->cnt > 0 && audit_offsets(a, want) == -1) {
		rd_kafka_topic_partition_list_destroy(want);
		want = rd_kafka_topic_partition_list_new(1);
	}
	for (i = 0; i < want->cnt; i++) {
		audit_log_ctx_part(want->elems[i].topic,
		    want->elems[i].partition, want->elems[i].offset);
		log_debug("assigned %s [%d] from offset %lld",
		    want->elems[i].topic, (int)want->elems[i].partition,
		    (long long)want->elems[i].offset);
		log_ctx_clear();
	}
	if (coop)
		e = rd_kafka_incremental_assign(a->rk, want);
	else
		err = rd_kafka_assign(a->rk, want);
	if (e != NULL) {
		log_error("incremental assign: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else if (err != 0)
		log_error("assign: %s", rd_kafka_err2str(err));
	else
		log_info("assigned %d partitions (%d not recorded)", want->cnt,
		    parts->cnt - want->cnt);
	rd_kafka_topic_partition_list_destroy(want);
}

/* Commits what we hold before giving partitions away; drops it if not. */
static void
audit_revoke(struct audit *a, rd_kafka_topic_partition_list_t *parts,
    bool coop)
{
	rd_kafka_topic_partition_list_t *want = audit_filter(a, parts);
	rd_kafka_error_t *e = NULL;

	if (a->batch.n > 0 && audit_flush(a, false) == -1 &&
	    audit_batch_drop(&a->batch, want) == -1)
		a->broken = true;
	if (coop)
		e = rd_kafka_incremental_unassign(a->rk, want);
	else
		(void)rd_kafka_assign(a->rk, NULL);
	if (e != NULL) {
		log_error("incremental unassign: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	log_info("revoked %d partitions%s", parts->cnt,
	    rd_kafka_assignment_lost(a->rk) ? " (lost)" : "");
	rd_kafka_topic_partition_list_destroy(want);
	if (!coop)
		a->paused = false;
}

static void
audit_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct audit *a = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
		audit_assign(a, parts, coop);
	else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
		audit_revoke(a, parts, coop);
	else {
		log_error("rebalance: %s", rd_kafka_err2str(err));
		audit_revoke(a, parts, coop);
	}
}

/*
 * Copies one topic's partition lags from librdkafka's statistics.  Its
 * own consumer_lag counts from the offset committed to Kafka, which we
 * never do (offsets live in PostgreSQL): the lag is the high watermark
 * less the next offset this process will read.
 */
static int
audit_stats_topic(const char *topic, json_t *parts, int n)
{
	json_int_t hi, app;
	const char *id;
	json_t *p;

	json_object_foreach(parts, id, p) {
		hi = json_integer_value(json_object_get(p, "hi_offset"));
		app = json_integer_value(json_object_get(p, "app_offset"));
		/* Nothing read since the assignment (an idle partition): the
		 * fetch position is ours when nothing waits in the queue. */
		if (app < 0 && json_integer_value(json_object_get(p,
		    "fetchq_cnt")) == 0)
			app = json_integer_value(json_object_get(p,
			    "next_offset"));
		if (n >= STATS_LAG_MAX || strcmp(id, "-1") == 0 || hi < 0 ||
		    app < 0)
			continue;
		snprintf(stats->lag[n].topic, sizeof(stats->lag[n].topic), "%s",
		    topic);
		stats->lag[n].partition = (int32_t)atoi(id);
		stats->lag[n++].lag = hi > app ? hi - app : 0;
	}
	return n;
}

/*
 * librdkafka's statistics (every statistics.interval.ms, on our poll):
 * the consumer lag of each assigned partition goes to the stats page,
 * under a sequence counter so /metrics never reads a half-written table.
 */
static int
audit_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	json_t *root, *topics, *t;
	const char *name;
	int n = 0;

	if ((root = json_loadb(json, len, 0, NULL)) == NULL)
		return 0;
	__atomic_add_fetch(&stats->lag_seq, 1, __ATOMIC_ACQ_REL);
	topics = json_object_get(root, "topics");
	json_object_foreach(topics, name, t)
		n = audit_stats_topic(name, json_object_get(t, "partitions"), n);
	stats->nlag = n;
	__atomic_add_fetch(&stats->lag_seq, 1, __ATOMIC_ACQ_REL);
	json_decref(root);
	return 0;	/* librdkafka frees json */
}

/* The consumer, subscribed to audit.topics (always as a regex). */
static rd_kafka_t *
audit_consumer_new(struct audit *a, char *err, size_t len)
{
	static const char *const defaults[] = {
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"enable.partition.eof", "false",
		/* Pre-fetch ~1 s of traffic, not librdkafka's 64 MB. */
		"queued.max.messages.kbytes", "8192",
		/* per-partition consumer lag for /metrics */
		"statistics.interval.ms", "5000",
		/* A new topic must not revoke every partition (eager): with
		 * it a busy topic stopped for a whole rebalance (5.5 s). */
		"partition.assignment.strategy", "cooperative-sticky",
		NULL
	};
	const struct kafka_opts ko = { conf->kafka_brokers,
	    conf->kafka_properties.v, conf->kafka_properties.n };
	rd_kafka_topic_partition_list_t *sub;
	rd_kafka_conf_t *kc;
	rd_kafka_resp_err_t e;
	char refresh[16], pattern[1024];
	rd_kafka_t *rk;

	snprintf(refresh, sizeof(refresh), "%d", conf->audit_metadata_refresh);
	if ((kc = kafka_conf_new(&ko, defaults, err, len)) == NULL)
		return NULL;
	if (kafka_conf_set(kc, "group.id", conf->audit_group_id, err, len) ==
	    -1 || kafka_conf_set(kc, "topic.metadata.refresh.interval.ms",
	    refresh, err, len) == -1) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_rebalance_cb(kc, audit_rebalance);
	rd_kafka_conf_set_stats_cb(kc, audit_stats);
	rd_kafka_conf_set_opaque(kc, a);
	if ((rk = kafka_new(RD_KAFKA_CONSUMER, kc, err, len)) == NULL)
		return NULL;
	rd_kafka_poll_set_consumer(rk);
	snprintf(pattern, sizeof(pattern), "%s%s",
	    conf->audit_topics[0] == '^' ? "" : "^", conf->audit_topics);
	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, pattern, RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (e != 0) {
		snprintf(err, len, "subscribe %.200s: %s", pattern,
		    rd_kafka_err2str(e));
		rd_kafka_destroy(rk);
		return NULL;
	}
	return rk;
}

/* A consumed message goes into the batch; errors are only logged. */
static void
audit_take(struct audit *a, rd_kafka_message_t *m)
{
	if (m->err != 0) {
		/* The context is set only here: never on the per-message path. */
		audit_log_ctx(m);
		/* A regex matching no topic yet is no news. */
		if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			log_debug("consume: %s", rd_kafka_message_errstr(m));
		else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warnx("consume %s [%d]: %s", m->rkt ?
			    rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
			    rd_kafka_message_errstr(m));
		log_ctx_clear();
		rd_kafka_message_destroy(m);
		return;
	}
	if (audit_batch_add(&a->batch, m) == -1) {
		audit_log_ctx(m);
		log_error("out of memory holding %s [%d] at offset %lld; "
		    "restarting from the stored offsets",
		    rd_kafka_topic_name(m->rkt), (int)m->partition,
		    (long long)m->offset);
		log_ctx_clear();
		rd_kafka_message_destroy(m);
		a->broken = true;
		return;
	}
	if (!a->failing && a->db != NULL && !db_broken(a->db) &&
	    a->batch.copy.len - a->batch.sent >= AUDIT_STREAM_BYTES)
		audit_batch_stream(&a->batch, a->db);
}

/* How long the next poll may block, in ms. */
static int
audit_wait_ms(const struct audit *a)
{
	double left;

	if (a->failing)
		left = (a->retry_at - util_now()) * 1000;
	else if (a->batch.n == 0)
		return AUDIT_IDLE_MS;
	else if (a->batch.n >= conf->audit_batch_size)
		return 0;
	else
		left = conf->audit_batch_linger -
		    (double)(util_now_us() - a->batch.started_us) / 1000;
	return left <= 0 ? 0 : left > AUDIT_IDLE_MS ? AUDIT_IDLE_MS : (int)left;
}

/* Whether to commit now: full, lingered long enough, or a retry is due. */
static bool
audit_due(const struct audit *a)
{
	if (a->failing)
		return util_now() >= a->retry_at;
	if (a->batch.n == 0)
		return false;
	return a->batch.n >= conf->audit_batch_size ||
	    util_now_us() - a->batch.started_us >=
	    (int64_t)conf->audit_batch_linger * 1000;
}

static int
audit_init(struct audit *a)
{
	char err[KAFKA_ERRLEN];
	int e;

	a->backoff.first = AUDIT_BACKOFF_FIRST;
	a->backoff.max = AUDIT_BACKOFF_MAX;
	a->missing = strcmp(conf->audit_start_from, "latest") == 0 ?
	    RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
	if (conf->audit_exclude[0] != '\0') {
		if ((e = regcomp(&a->exclude, conf->audit_exclude,
		    REG_EXTENDED | REG_NOSUB)) != 0) {
			regerror(e, &a->exclude, err, sizeof(err));
			log_error("audit.exclude: %s", err);
			return EXIT_CONFIG;
		}
		a->has_exclude = true;
	}
	if (audit_db(a, err, sizeof(err)) == -1)
		log_warnx("database: %s; will retry", err);
	if ((a->rk = audit_consumer_new(a, err, sizeof(err))) == NULL) {
		log_error("kafka consumer: %s", err);
		return EXIT_CONFIG;
	}
	a->queue = rd_kafka_queue_get_consumer(a->rk);
	return 0;
}

/* Commits what is left, leaves the group, frees everything. */
static void
audit_fini(struct audit *a)
{
	if (a->rk != NULL) {
		if (a->batch.n > 0 && !a->broken && audit_flush(a, false) ==
		    -1)
			log_warnx("%d messages not committed at exit; they will "
			    "be read again", a->batch.n);
		audit_batch_unstream(&a->batch);	/* one opened ahead */
		if (a->queue != NULL)
			rd_kafka_queue_destroy(a->queue);
		if (proc_stop != STOP_FAST && !a->broken)
			(void)rd_kafka_consumer_close(a->rk);
		/* Messages must go before their client. */
		audit_batch_free(&a->batch);
		rd_kafka_destroy_flags(a->rk, proc_stop == STOP_FAST ||
		    a->broken ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
	}
	db_link_close(&a->link);
	a->db = NULL;
	if (a->has_exclude)
		regfree(&a->exclude);
}

static const char audit_sql_ensure[] =
    "SELECT audit_partitions_ensure($1, 2)";
static const char audit_sql_drop[] =
    "SELECT audit_partitions_drop($1::interval)";

/* Runs one upkeep function; its count, or -1 with err set. */
static int
audit_upkeep(struct audit *a, const char *sql, const char *arg, char *err,
    size_t len)
{
	PGresult *r;
	int n;

	if ((r = db_query(a->db, sql, 1, &arg, err, len)) == NULL)
		return -1;
	n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

/*
 * Every AUDIT_MAINT_S, between batches: the audit_events partitions two
 * audit.partition spans ahead, and those past audit.retention dropped.
 * A failure (a lock held by a long export, the database away) is logged
 * and tried again next time; rows never wait for it.
 */
static void
audit_maintain(struct audit *a)
{
	char err[DB_ERRLEN], keep[32];
	int n;

	a->maint_at = util_now() + AUDIT_MAINT_S;
	if (a->failing || a->batch.n > 0 || audit_db(a, err, sizeof(err)) == -1)
		return;
	audit_batch_unstream(&a->batch);	/* a COPY opened ahead */
	if ((n = audit_upkeep(a, audit_sql_ensure, conf->audit_partition, err,
	    sizeof(err))) == -1)
		log_warnx("cannot create audit_events partitions ahead: %s", err);
	else if (n > 0)
		log_info("created %d audit_events partitions (one a %s)", n,
		    conf->audit_partition);
	if (conf_span_parse(conf->audit_retention, keep, sizeof(keep)) != 1)
		return;
	if ((n = audit_upkeep(a, audit_sql_drop, keep, err, sizeof(err))) == -1)
		log_warnx("cannot drop audit_events partitions older than %s: "
		    "%s; trying again in %d s", keep, err, AUDIT_MAINT_S);
	else if (n > 0)
		log_info("dropped %d audit_events partitions older than %s", n,
		    keep);
}

int
audit_main(const struct proc_info *pi)
{
	rd_kafka_message_t *m;
	struct audit a;
	int rc;

	memset(&a, 0, sizeof(a));
	if ((rc = audit_init(&a)) != 0) {
		audit_fini(&a);
		return rc;
	}
	proc_ready();
	while (proc_running() && !a.broken) {
		if ((m = rd_kafka_consumer_poll(a.rk, audit_wait_ms(&a))) != NULL) {
			audit_take(&a, m);
			a.busy = true;
		} else if (a.batch.n == 0 && a.batch.stream != NULL)
			/* A COPY opened ahead, and nothing came: no open
			 * statement while idle (statement_timeout, vacuum). */
			audit_batch_unstream(&a.batch);
		else if (a.busy && a.batch.n == 0) {
			/*
			 * A burst is over: hand back what glibc keeps of it
			 * (every arena: librdkafka's threads fill their own),
			 * so the resting size does not depend on the largest
			 * burst so far.
			 */
			malloc_trim(0);
			a.busy = false;
		}
		if (audit_due(&a))
			(void)audit_flush(&a, true);
		if (util_now() >= a.maint_at)
			audit_maintain(&a);
	}
	rc = a.broken ? 1 : 0;
	audit_fini(&a);
	return rc;
}
