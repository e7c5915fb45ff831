/*
 * webhook.c - the webhook worker role (webhook.workers processes).
 *
 * Consumes webhook.topic in its own consumer group, claims the WEBHOOK
 * rows it is told about (status-guarded, with a lease, as the mailer
 * does), and delivers each through the webhook channel (channel_webhook.c:
 * build, send, classify).  2xx is SENT; 410 is FAILED for good and
 * disables the endpoint (webhook_endpoints, migration 016) until an
 * operator re-enables it; 429, 5xx, timeouts and connection failures are
 * retried here with email.retry.*'s backoff, never sooner than the
 * endpoint's Retry-After, and handed to the sweeper once the attempts are
 * spent; any other status is FAILED for good.  Each attempt's outcome and
 * its history row are written by one statement before the next; a Kafka
 * offset is stored only once its row's final outcome is committed:
 * at-least-once (the receiver dedupes on webhook-id).
 * Never decides anything about HTTP routes or the sweeper's schedule.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "channel.h"
#include "conf.h"
#include "db.h"
#include "kafka_worker.h"
#include "log.h"
#include "mailpolicy.h"
#include "proc.h"
#include "roles.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

/* Messages read per turn; the rest waits in Kafka while jobs are held. */
#define WEBHOOK_BATCH	32
#define WEBHOOK_HELD	256

struct webhook_job {
	int64_t		 id;
	json_t		*row;		/* the claimed columns, by name */
	char		*name;		/* its endpoint */
	int		 attempts;	/* every round */
	int		 round;		/* in this worker */
	int		 requeues;
	bool		 disabled;	/* its endpoint was disabled at claim */
	double		 due;		/* util_now() of the next attempt */
	int32_t		 partition;
	int64_t		 offset;
	bool		 pending;	/* a result not yet written */
	bool		 done;		/* final and written: to drop */
	struct channel_attempt a;	/* the latest attempt */
	struct webhook_outcome {
		const char *status;	/* SENT, PROCESSING, FAILED */
		const char *kind;	/* history: sent, temporary, permanent, disabled */
		bool	 permanent;
		bool	 disable;	/* a 410: the endpoint goes off */
		double	 delay;		/* to the retry or the requeue */
	} o;
};

/* A message read and not yet claimed (kept while the claim fails). */
struct webhook_msg {
	int64_t		 id;
	int32_t		 partition;
	int64_t		 offset;
};

struct webhook {
	rd_kafka_t	*rk;
	struct webhook_msg msgs[WEBHOOK_BATCH];
	int		 nmsgs;
	PGconn		*db;		/* link.conn */
	struct db_link	 link;
	const struct channel *ch;
	void		*ctx;		/* the channel's, per process */
	struct webhook_job jobs[WEBHOOK_HELD];
	size_t		 njobs;
	struct mailpolicy policy;	/* email.retry.*, sweeper.*: one backoff */
	char		 owner[96];
};

static bool	webhook_holds(const struct webhook *, int32_t, int64_t);

static void
webhook_log_ctx(const struct webhook_job *j)
{
	log_ctx_int("notification_id", j->id);
	log_ctx_str("topic", conf->webhook_topic);
	log_ctx_int("partition", j->partition);
	log_ctx_int("offset", j->offset);
}

/* (Re)connects to PostgreSQL with a capped backoff; false while down. */
static bool
webhook_db(struct webhook *w)
{
	return (w->db = worker_db(&w->link)) != NULL;
}

/* webhook.topic's consumer; its first assignment makes us ready. */
static rd_kafka_t *
webhook_consumer(char *err, size_t len)
{
	const char *const extra[] = {
		"partition.assignment.strategy", "range,roundrobin",
		/* a fresh deployment's topic exists before its first
		 * webhook, not after a metadata refresh (300 s by default) */
		"allow.auto.create.topics", "true",
		NULL
	};

	return kafka_worker_new(conf->webhook_group_id, conf->webhook_topic,
	    extra, err, len);
}

/* A message is done for Kafka: its offset goes with the next commit. */
static void
webhook_store_offset(struct webhook *w, int32_t partition, int64_t offset)
{
	kafka_worker_store(w->rk, conf->webhook_topic, partition, offset);
}

/*
 * A join on the primary key, like the mailer's claim; only WEBHOOK rows.
 * disabled: the endpoint's state (migration 016) at the claim.
 */
static const char webhook_sql_claim[] =
    "UPDATE email_notifications n SET status = 'PROCESSING',"
    " lease_until = now() + $2::float8 * interval '1 second',"
    " lease_owner = $3, updated_at = now() "
    "FROM unnest($1::bigint[], $4::int[], $5::bigint[]) AS a(id, part, off) "
    "WHERE n.id = a.id AND n.type = 'WEBHOOK'"
    " AND n.status IN ('PENDING', 'PROCESSING')"
    " AND (n.lease_until IS NULL OR n.lease_until < now()) "
    "RETURNING n.id, a.part, a.off, n.attempts, n.requeues, n.recipient,"
    " json_build_object('recipient', n.recipient, 'title', n.title,"
    "  'content', n.content, 'user_id', n.user_id::text,"
    "  'metadata', n.metadata::text,"
    "  'created_at', to_char(n.created_at AT TIME ZONE 'UTC',"
    "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text,"
    " EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.name = n.recipient"
    "  AND e.disabled_at IS NOT NULL)";

/* A claimed row becomes a job due now. */
static void
webhook_job_from_row(struct webhook *w, const PGresult *res, int i)
{
	struct webhook_job *j = &w->jobs[w->njobs];
	json_error_t je;

	memset(j, 0, sizeof(*j));
	j->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	j->partition = (int32_t)atoi(PQgetvalue(res, i, 1));
	j->offset = strtoll(PQgetvalue(res, i, 2), NULL, 10);
	j->attempts = atoi(PQgetvalue(res, i, 3));
	j->requeues = atoi(PQgetvalue(res, i, 4));
	j->name = strdup(PQgetvalue(res, i, 5));
	j->row = json_loads(PQgetvalue(res, i, 6), 0, &je);
	j->disabled = PQgetvalue(res, i, 7)[0] == 't';
	j->due = util_now();
	if (j->name == NULL || j->row == NULL)
		fatalx("out of memory");
	w->njobs++;
}

/*
 * Claims what the messages read name: 0, and every message whose row it
 * did not return is done for us; -1 (logged) and they are kept for the
 * next turn (their rows stay queued, so no one else would send them).
 */
static int
webhook_claim(struct webhook *w)
{
	struct db_arr a[3];
	char lease[32], err[DB_ERRLEN];
	const char *p[5];
	PGresult *res;
	int i;

	memset(a, 0, sizeof(a));
	for (i = 0; i < w->nmsgs; i++) {
		db_arr_int(&a[0], w->msgs[i].id);
		db_arr_int(&a[1], w->msgs[i].partition);
		db_arr_int(&a[2], w->msgs[i].offset);
	}
	snprintf(lease, sizeof(lease), "%.3f", conf->email_lease);
	p[0] = db_arr_end(&a[0]);
	p[1] = lease;
	p[2] = w->owner;
	p[3] = db_arr_end(&a[1]);
	p[4] = db_arr_end(&a[2]);
	if (p[0] == NULL || p[3] == NULL || p[4] == NULL)
		fatalx("out of memory");
	res = db_query(w->db, webhook_sql_claim, 5, p, err, sizeof(err));
	for (i = 0; i < 3; i++)
		db_arr_free(&a[i]);
	if (res == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("claiming %d webhook notifications: %s (kept for the "
		    "next turn)", w->nmsgs, err);
		return -1;
	}
	for (i = 0; i < PQntuples(res); i++)
		webhook_job_from_row(w, res, i);
	PQclear(res);
	return 0;
}

/* The offsets of the messages no job holds: done for us. */
static void
webhook_claimed(struct webhook *w)
{
	int i;

	for (i = 0; i < w->nmsgs; i++)
		if (!webhook_holds(w, w->msgs[i].partition, w->msgs[i].offset))
			webhook_store_offset(w, w->msgs[i].partition,
			    w->msgs[i].offset);
	w->nmsgs = 0;
}

/* Up to a batch of messages naming ids; waits at most wait seconds. */
static void
webhook_poll(struct webhook *w, double wait)
{
	rd_kafka_message_t *km;
	struct webhook_msg *m;

	while (w->nmsgs < WEBHOOK_BATCH && (km = rd_kafka_consumer_poll(w->rk,
	    w->nmsgs == 0 ? (int)(wait * 1000) : 0)) != NULL) {
		m = &w->msgs[w->nmsgs];
		if (km->err && km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warnx("consume %s: %s", conf->webhook_topic,
			    rd_kafka_message_errstr(km));
		else if (!km->err && (m->id = kafka_worker_msg_id(km)) < 0) {
			log_warnx("%s [%d] offset %lld: not a notification id; "
			    "skipped", conf->webhook_topic, (int)km->partition,
			    (long long)km->offset);
			webhook_store_offset(w, km->partition, km->offset);
		} else if (!km->err) {
			m->partition = km->partition;
			m->offset = km->offset;
			w->nmsgs++;
		}
		rd_kafka_message_destroy(km);
	}
}

/* Reads (unless a failed claim's messages wait) and claims. */
static void
webhook_read(struct webhook *w, double wait)
{
	if (w->nmsgs == 0) {
		if (w->njobs + WEBHOOK_BATCH > WEBHOOK_HELD) {
			util_sleep(wait);
			return;
		}
		webhook_poll(w, wait);
	}
	if (w->nmsgs > 0 && webhook_claim(w) == 0)
		webhook_claimed(w);
	else if (w->nmsgs > 0)
		util_sleep(0.2);
}

/* Tells whether a job holds that message (its offset waits for it). */
static bool
webhook_holds(const struct webhook *w, int32_t partition, int64_t offset)
{
	size_t i;

	for (i = 0; i < w->njobs; i++)
		if (w->jobs[i].partition == partition &&
		    w->jobs[i].offset == offset)
			return true;
	return false;
}

/*
 * The verdict on an attempt: the channel's classification, then the
 * shared retry policy (email.retry.*, sweeper.*), then Retry-After: a
 * retry or a requeue never comes sooner than the endpoint asked.
 */
static void
webhook_judge(const struct webhook *w, const struct webhook_job *j,
    const struct channel_attempt *a, struct webhook_outcome *o)
{
	enum channel_verdict v = w->ch->classify(a);
	struct mailpolicy_decision d;
	struct smtp_result r;

	memset(&r, 0, sizeof(r));
	r.code = a->code;
	r.outcome = v == CHANNEL_SENT ? SMTP_OK : v == CHANNEL_TEMPORARY ?
	    SMTP_TEMP : SMTP_PERM;
	mailpolicy_judge(&w->policy, &r, j->round, j->requeues,
	    (double)random() / (double)RAND_MAX, &d);
	o->status = mailpolicy_status(d.verdict);
	o->permanent = d.permanent;
	o->delay = d.delay;
	if (v == CHANNEL_TEMPORARY && a->retry_after > o->delay)
		o->delay = a->retry_after;
	o->disable = a->code == 410;
	o->kind = v == CHANNEL_SENT ? "sent" : d.permanent ? "permanent" :
	    "temporary";
	stats_add(v == CHANNEL_SENT ? CTR_NOTIF_SENT : d.verdict ==
	    MAILPOLICY_RETRY ? CTR_NOTIF_RETRIED : CTR_NOTIF_FAILED, 1);
}

/*
 * One attempt's outcome, its history row and (a 410) the endpoint's
 * disabling, in one statement, guarded by our lease.
 */
static const char webhook_sql_outcome[] =
    "WITH u AS (UPDATE email_notifications n SET status = $3,"
    "  attempts = $4, last_error = CASE WHEN $3 = 'SENT' THEN n.last_error"
    "   ELSE $6 END, message_id = $8,"
    "  sent_at = CASE WHEN $3 = 'SENT' THEN now() ELSE n.sent_at END,"
    "  permanent = $9::bool,"
    "  next_attempt_at = CASE WHEN $3 = 'FAILED' AND NOT $9::bool"
    "   THEN now() + $7::float8 * interval '1 second' END,"
    "  lease_until = CASE WHEN $3 = 'PROCESSING' THEN now() +"
    "   ($7::float8 + $10::float8) * interval '1 second' END,"
    "  lease_owner = CASE WHEN $3 = 'PROCESSING' THEN $2 END,"
    "  updated_at = now()"
    "  WHERE n.id = $1 AND n.lease_owner = $2 RETURNING n.id, n.recipient),"
    " a AS (INSERT INTO email_attempts (notification_id, attempt, smtp_code,"
    "  smtp_text, outcome) SELECT id, $4, $5::int, $6, $11 FROM u"
    "  ON CONFLICT DO NOTHING),"
    " d AS (INSERT INTO webhook_endpoints AS e (name, disabled_at,"
    "  disabled_code, disabled_text, disabled_by)"
    "  SELECT recipient, now(), $5::int, $6, id FROM u WHERE $12::bool"
    "  ON CONFLICT (name) DO UPDATE SET disabled_at = now(),"
    "  disabled_code = EXCLUDED.disabled_code,"
    "  disabled_text = EXCLUDED.disabled_text,"
    "  disabled_by = EXCLUDED.disabled_by, updated_at = now()"
    "  WHERE e.disabled_at IS NULL) "
    "SELECT count(*) FROM u";

/* Writes it; -1 with err, 0 when the lease was lost, 1 when written. */
static int
webhook_write(struct webhook *w, const struct webhook_job *j,
    const struct channel_attempt *a, const struct webhook_outcome *o,
    char *err, size_t len)
{
	char id[24], att[16], code[16], delay[32], lease[32];
	const char *p[12];
	PGresult *res;
	int n;

	snprintf(id, sizeof(id), "%" PRId64, j->id);
	snprintf(att, sizeof(att), "%d", j->attempts);
	snprintf(code, sizeof(code), "%d", a->code);
	snprintf(delay, sizeof(delay), "%.3f", o->delay);
	snprintf(lease, sizeof(lease), "%.3f", conf->email_lease);
	p[0] = id;
	p[1] = w->owner;
	p[2] = o->status;
	p[3] = att;
	p[4] = a->code > 0 ? code : NULL;
	p[5] = a->text;
	p[6] = delay;
	p[7] = a->ref[0] != '\0' ? a->ref : NULL;
	p[8] = o->permanent ? "true" : "false";
	p[9] = lease;
	p[10] = o->kind;
	p[11] = o->disable ? "true" : "false";
	if ((res = db_query_named(w->db, "webhook_outcome",
	    webhook_sql_outcome, 12, p, err, len)) == NULL)
		return -1;
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n > 0;
}

/* No request to an endpoint a 410 disabled: FAILED for good at once. */
static void
webhook_refuse_disabled(struct webhook_job *j)
{
	j->a.code = -1;
	j->a.retry_after = -1;
	snprintf(j->a.text, sizeof(j->a.text), "endpoint %s is disabled (it "
	    "answered 410 Gone) until re-enabled: POST /notification_service/"
	    "api/webhooks/endpoints/%s/enable", j->name, j->name);
	j->o.status = "FAILED";
	j->o.kind = "disabled";
	j->o.permanent = true;
	j->o.disable = false;
	j->o.delay = 0;
	stats_add(CTR_NOTIF_FAILED, 1);
}

/* Builds and sends the notification through the channel. */
static void
webhook_send(struct webhook *w, struct webhook_job *j)
{
	const struct channel_job cj = { j->id, 0, j->attempts, j->row };
	char *msg = NULL, err[256];
	size_t len = 0;

	memset(&j->a, 0, sizeof(j->a));
	j->a.retry_after = -1;
	if (w->ch->build(w->ctx, &cj, &msg, &len, err, sizeof(err)) == -1) {
		j->a.code = 0;	/* out of memory here: try again */
		snprintf(j->a.text, sizeof(j->a.text), "%s", err);
	} else
		(void)w->ch->send(w->ctx, &cj, msg, len, &j->a);
	free(msg);
	webhook_judge(w, j, &j->a, &j->o);
}

static void
webhook_log_attempt(const struct webhook_job *j)
{
	char code[16] = "";

	if (j->a.code > 0)	/* none for a timeout or no request at all */
		snprintf(code, sizeof(code), "%d", j->a.code);
	webhook_log_ctx(j);
	if (strcmp(j->o.status, "SENT") == 0)
		log_info("notification %lld: SENT to endpoint %s (%d, %s)",
		    (long long)j->id, j->name, j->a.code, j->a.ref);
	else
		log_info("notification %lld: attempt %d to endpoint %s: %s%s "
		    "(%s%s%s)%s", (long long)j->id, j->attempts, j->name,
		    j->o.status, j->o.permanent ? " permanently" : "",
		    code, *code ? ": " : "", j->a.text, j->o.disable ?
		    "; endpoint disabled until re-enabled" : "");
	log_ctx_clear();
}

/*
 * Writes the job's result.  A failed write keeps it (never sent twice)
 * and is tried again next turn; a lost lease (the sweeper gave the row
 * to someone else) drops the job.
 */
static void
webhook_finish(struct webhook *w, struct webhook_job *j)
{
	char err[DB_ERRLEN];
	int rc;

	if ((rc = webhook_write(w, j, &j->a, &j->o, err, sizeof(err))) == -1) {
		stats_add(CTR_DB_ERRORS, 1);
		webhook_log_ctx(j);
		log_warnx("recording the outcome of notification %lld: %s "
		    "(will retry)", (long long)j->id, err);
		log_ctx_clear();
		return;
	}
	j->pending = false;
	if (rc == 0)
		log_warnx("notification %lld: lease lost before its outcome "
		    "was written; left to its new holder", (long long)j->id);
	if (rc == 1 && strcmp(j->o.status, "PROCESSING") == 0) {
		j->due = util_now() + j->o.delay;
		return;
	}
	j->done = true;
	webhook_store_offset(w, j->partition, j->offset);
}

/* One attempt at a due job, then its outcome written. */
static void
webhook_attempt(struct webhook *w, struct webhook_job *j)
{
	j->round++;
	j->attempts++;
	if (j->disabled)
		webhook_refuse_disabled(j);
	else
		webhook_send(w, j);
	webhook_log_attempt(j);
	j->pending = true;
	webhook_finish(w, j);
}

/* Drops the jobs that are done (order does not matter). */
static void
webhook_compact(struct webhook *w)
{
	size_t i = 0;

	while (i < w->njobs) {
		if (!w->jobs[i].done) {
			i++;
			continue;
		}
		json_decref(w->jobs[i].row);
		free(w->jobs[i].name);
		w->jobs[i] = w->jobs[--w->njobs];
	}
}

/* Writes what is pending, then attempts what is due; stops on a stop. */
static void
webhook_send_due(struct webhook *w)
{
	size_t i;

	for (i = 0; i < w->njobs; i++)
		if (w->jobs[i].pending)
			webhook_finish(w, &w->jobs[i]);
	for (i = 0; i < w->njobs && proc_running() && !db_broken(w->db); i++)
		if (!w->jobs[i].pending && !w->jobs[i].done &&
		    w->jobs[i].due <= util_now())
			webhook_attempt(w, &w->jobs[i]);
	webhook_compact(w);
}

/* Seconds until the next retry is due (at most cap), 0 if one is. */
static double
webhook_next_due(const struct webhook *w, double cap)
{
	double now = util_now(), d = cap;
	size_t i;

	for (i = 0; i < w->njobs; i++)
		if (!w->jobs[i].pending && w->jobs[i].due - now < d)
			d = w->jobs[i].due - now;
	return d < 0 ? 0 : d;
}

static const char webhook_sql_release[] =
    "UPDATE email_notifications SET lease_until = now(), updated_at = now() "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND status = 'PROCESSING'";

/* At a stop, rows waiting for a retry are let go for the sweeper. */
static void
webhook_release(struct webhook *w)
{
	struct db_arr ids = { 0 };
	char err[DB_ERRLEN];
	const char *p[2];
	PGresult *res;
	size_t i;

	if (w->njobs == 0 || !webhook_db(w))
		return;
	for (i = 0; i < w->njobs; i++)
		db_arr_int(&ids, w->jobs[i].id);
	p[0] = db_arr_end(&ids);
	p[1] = w->owner;
	if (p[0] != NULL && (res = db_query(w->db, webhook_sql_release, 2, p,
	    err, sizeof(err))) != NULL)
		PQclear(res);
	else
		log_warnx("releasing %zu held notifications: %s (their leases "
		    "expire by themselves)", w->njobs, err);
	db_arr_free(&ids);
}

/* One turn: read and claim (waiting no longer than the next retry), send. */
static void
webhook_turn(struct webhook *w)
{
	if (!webhook_db(w)) {
		util_sleep(0.2);
		return;
	}
	webhook_read(w, webhook_next_due(w, 0.2));
	webhook_send_due(w);
}

static int
webhook_init(struct webhook *w, const struct proc_info *pi)
{
	char err[512];

	memset(w, 0, sizeof(*w));
	worker_owner(w->owner, sizeof(w->owner), "webhook", pi->index);
	worker_policy(&w->policy);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		return 1;
	}
	if ((w->ch = channel_find("WEBHOOK")) == NULL ||
	    (w->ctx = w->ch->open(conf, err, sizeof(err))) == NULL) {
		log_error("webhook channel: %s", w->ch ? err : "not built in");
		return EXIT_CONFIG;
	}
	if ((w->rk = webhook_consumer(err, sizeof(err))) == NULL) {
		log_error("webhook consumer: %s", err);
		return EXIT_CONFIG;
	}
	return webhook_db(w) ? 0 : 1;
}

int
webhook_main(const struct proc_info *pi)
{
	struct webhook w;
	size_t i;
	int rc;

	if ((rc = webhook_init(&w, pi)) == 0) {
		/* proc_ready() comes with the first assignment */
		while (proc_running())
			webhook_turn(&w);
		webhook_release(&w);
	}
	kafka_worker_close(w.rk);
	for (i = 0; i < w.njobs; i++) {
		json_decref(w.jobs[i].row);
		free(w.jobs[i].name);
	}
	if (w.ch != NULL && w.ctx != NULL)
		w.ch->close(w.ctx);
	db_link_close(&w.link);
	curl_global_cleanup();
	return rc;
}
