/*
 * mailer.c - the email worker role (email.workers processes).
 *
 * Consumes the email topic in a consumer group, claims the rows it was
 * told about in one UPDATE (status-guarded, with a lease, so no other
 * worker or duplicate message sends the same row concurrently), sends
 * each through one reused SMTP connection, retries 4xx and network
 * errors here with exponential backoff, and writes outcomes and the
 * attempts log for many messages in one statement.  Both statements are
 * sent ahead (db_pipe.c) and run while the previous batch goes out over
 * SMTP, so a session never idles for a round trip or a WAL flush.  A
 * Kafka offset is stored only once its row's outcome is committed (read
 * back): at-least-once.
 * Never decides anything about HTTP or the sweeper's schedule.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "backoff.h"
#include "channel.h"
#include "conf.h"
#include "db.h"
#include "db_pipe.h"
#include "kafka.h"
#include "log.h"
#include "mailpolicy.h"
#include "notif.h"
#include "proc.h"
#include "roles.h"
#include "stats.h"
#include "suppress.h"
#include "util.h"

/* Where a job stands between its sends and the outcome writes. */
enum mailer_job_state {
	MAILER_JOB_WAITING,	/* no result in hand: sent when due */
	MAILER_JOB_FINAL,	/* SENT or FAILED, not yet written */
	MAILER_JOB_RETRY,	/* a retry's result, not yet written */
};

struct mailer_job {
	int64_t		 id;
	int64_t		 created_us;
	json_t		*row;		/* the claimed row, for the channel */
	int		 attempts;	/* all attempts so far, every round */
	int		 round;		/* attempts in this worker */
	int		 requeues;
	double		 due;		/* monotonic time of the next attempt */
	int32_t		 partition;
	int64_t		 offset;
	/* the latest attempt, until written */
	enum mailer_job_state state;
	bool		 stored;	/* its outcome is committed */
	bool		 writing;	/* in the outcome write in flight */
	const char	*status;
	bool		 permanent;
	double		 delay;
	struct channel_attempt att;
};

struct mailer_msg {
	int64_t		id;
	int32_t		partition;
	int64_t		offset;
};

struct mailer {
	rd_kafka_t	*rk;
	PGconn		*db;
	const struct channel *ch;	/* email: builds, sends, classifies */
	void		*chctx;		/* its per-process state */
	struct mailer_job *jobs;
	size_t		 njobs, cap;
	struct mailpolicy policy;	/* email.retry.*, sweeper.* */
	size_t		 batch;		/* email.batch */
	struct mailer_msg *msgs;	/* read, not yet claimed: batch of them */
	size_t		 nmsgs;
	bool		*used;		/* claim rows matched: batch of them */
	char		 owner[96];
	struct db_link	 link;		/* owns db */
	double		 renew_at;	/* when held leases need extending */
	double		 write_at;	/* when a failed outcome write is retried */
	struct backoff	 write_backoff;
	/* statements sent ahead (db_pipe), read by mailer_collect */
	bool		 writing;	/* the outcome write of jobs[].writing */
	bool		 claiming;	/* the claim of msgs */
	struct db_pipe_stmt claim_stmt, outcome_stmt;	/* prepared once */
};

/*
 * The context of one job's log lines: JSON logs carry it as members
 * (notification_id; topic, partition, offset), text logs as a suffix.
 * The caller clears it after its lines.
 */
static void
mailer_log_ctx(int64_t id, int32_t partition, int64_t offset)
{
	if (id >= 0)
		log_ctx_int("notification_id", id);
	log_ctx_str("topic", conf->email_topic);
	log_ctx_int("partition", partition);
	log_ctx_int("offset", offset);
}

static void
mailer_job_clear(struct mailer_job *j)
{
	json_decref(j->row);
	memset(j, 0, sizeof(*j));
}

/* (Re)connects to PostgreSQL with a capped backoff; false while down. */
static bool
mailer_db(struct mailer *m)
{
	const struct db_opts o = { conf->database_connect_timeout,
	    conf->database_worker_statement_timeout, 0 };
	char err[DB_ERRLEN];
	enum db_link_state st;

	m->link.conninfo = conf->database_conninfo;
	m->link.opts = o;
	m->link.backoff.first = 0.5;
	m->link.backoff.max = 10;
	st = db_link_check(&m->link, err, sizeof(err));
	m->db = m->link.conn;
	if (st == DB_LINK_RESTORED)
		log_info("database connection restored");
	if (st == DB_LINK_FAILED) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("database: %s; retrying in %.1f s", err,
		    m->link.delay);
	}
	return m->db != NULL;
}

/*
 * librdkafka's default assignment, plus one thing: the first assignment
 * is when this mailer starts delivering, so that is when it tells the
 * master it is ready (systemd's READY=1 and /ready wait for every
 * mailer; before, a notification posted right after them waited for
 * the group join, seconds).  An empty assignment counts: the group is
 * formed and has given the partitions to the others.
 */
static void
mailer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_error_t *e = NULL;

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (coop)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			ae = rd_kafka_assign(rk, parts);
		log_info("assigned %d partitions of %s", parts->cnt,
		    conf->email_topic);
		if (stats_self != NULL && stats_self->state == SLOT_STARTING)
			proc_ready();
	} else if (coop)
		e = rd_kafka_incremental_unassign(rk, parts);
	else
		ae = rd_kafka_assign(rk, NULL);
	if (e != NULL) {
		log_error("rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else if (ae != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_error("rebalance: %s", rd_kafka_err2str(ae));
}

static rd_kafka_t *
mailer_consumer(char *err, size_t len)
{
	const char *const defaults[] = {
		"group.id", conf->email_group_id,
		"enable.auto.commit", "true",
		"auto.commit.interval.ms", "500",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"socket.nagle.disable", "true",
		"fetch.wait.max.ms", "10",
		NULL
	};
	const struct kafka_opts ko = { conf->kafka_brokers,
	    conf->kafka_properties.v, conf->kafka_properties.n };
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_conf_t *kc;
	rd_kafka_t *rk;
	rd_kafka_resp_err_t e;

	if ((kc = kafka_conf_new(&ko, defaults, err, len)) == NULL)
		return NULL;
	rd_kafka_conf_set_rebalance_cb(kc, mailer_rebalance);
	if ((rk = kafka_new(RD_KAFKA_CONSUMER, kc, err, len)) == NULL)
		return NULL;
	rd_kafka_poll_set_consumer(rk);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, conf->email_topic,
	    RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, len, "subscribe %s: %s", conf->email_topic,
		    rd_kafka_err2str(e));
		rd_kafka_destroy(rk);
		return NULL;
	}
	return rk;
}

/* Marks a message done for Kafka: its offset is committed with the next. */
static void
mailer_store_offset(struct mailer *m, int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_list_t *l;

	if (offset < 0)
		return;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, conf->email_topic,
	    partition)->offset = offset + 1;
	(void)rd_kafka_offsets_store(m->rk, l);	/* fails only if revoked */
	rd_kafka_topic_partition_list_destroy(l);
}

/* Reads the id a message names; -1 for a message that names none. */
static int64_t
mailer_msg_id(const rd_kafka_message_t *km)
{
	char buf[24];
	char *end;
	long long id;

	if (km->payload == NULL || km->len == 0 || km->len >= sizeof(buf))
		return -1;
	memcpy(buf, km->payload, km->len);
	buf[km->len] = '\0';
	id = strtoll(buf, &end, 10);
	return *end == '\0' && id > 0 ? id : -1;
}

/* Up to max messages: waits timeout_ms for the first, not for the rest. */
static size_t
mailer_poll(struct mailer *m, struct mailer_msg *msgs, size_t max,
    int timeout_ms)
{
	rd_kafka_message_t *km;
	size_t n = 0;

	while (n < max &&
	    (km = rd_kafka_consumer_poll(m->rk, n == 0 ? timeout_ms : 0)) != NULL) {
		if (km->err) {
			if (km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warnx("consume %s: %s", conf->email_topic,
				    rd_kafka_message_errstr(km));
		} else if ((msgs[n].id = mailer_msg_id(km)) < 0) {
			mailer_log_ctx(-1, km->partition, km->offset);
			log_warnx("%s [%d] offset %lld: not a notification id; "
			    "skipped", conf->email_topic, (int)km->partition,
			    (long long)km->offset);
			log_ctx_clear();
			mailer_store_offset(m, km->partition, km->offset);
		} else {
			msgs[n].partition = km->partition;
			msgs[n++].offset = km->offset;
		}
		rd_kafka_message_destroy(km);
	}
	return n;
}

/*
 * A join on the primary key rather than "id = ANY($1) AND status IN ...",
 * which lets the planner AND in the status index and scan its dead
 * entries (see queue.c).  A duplicate id joins twice but updates once.
 * A row whose address was suppressed, or whose user opted out of its
 * category, since it was accepted becomes SUPPRESSED here, unsent (a
 * retry by hand of a bounced row is not held by its own bounce).
 */
static const char mailer_sql_claim[] =
    "UPDATE email_notifications n SET status = CASE WHEN"
    " email_suppression_reason(n.recipient, n.user_id, n.category, n.id) IS NULL"
    " THEN 'PROCESSING' ELSE 'SUPPRESSED' END, suppressed_reason ="
    " email_suppression_reason(n.recipient, n.user_id, n.category, n.id),"
    " lease_until = now() + $2::float8 * interval '1 second',"
    " lease_owner = $3, updated_at = now() "
    "FROM unnest($1::bigint[]) AS a(id) "
    "WHERE n.id = a.id AND n.status IN ('PENDING', 'PROCESSING')"
    " AND (n.lease_until IS NULL OR n.lease_until < now()) "
    "RETURNING n.id, n.title, n.content, n.recipient, n.from_addr,"
    " n.attempts, n.message_id, n.requeues,"
    " (extract(epoch from n.created_at) * 1000000)::bigint AS created_us,"
    " n.text_part, n.category, n.user_id #>> '{}' AS user_id,"
    " n.suppressed_reason";

static struct mailer_job *
mailer_job_add(struct mailer *m)
{
	struct mailer_job *nj;

	if (m->njobs == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		if ((nj = realloc(m->jobs, m->cap * sizeof(*nj))) == NULL)
			fatalx("out of memory");
		m->jobs = nj;
	}
	nj = &m->jobs[m->njobs++];
	memset(nj, 0, sizeof(*nj));
	return nj;
}

/*
 * The claimed row as the channel reads it: every column by name, SQL
 * NULL as null.  The database's text is UTF-8 already: not checked again.
 */
static json_t *
mailer_row_json(const PGresult *res, int i)
{
	json_t *row = json_object(), *v;
	int c;

	if (row == NULL)
		fatalx("out of memory");
	for (c = 0; c < PQnfields(res); c++) {
		v = PQgetisnull(res, i, c) ? json_null() :
		    json_stringn_nocheck(PQgetvalue(res, i, c),
		    (size_t)PQgetlength(res, i, c));
		if (v == NULL || json_object_set_new_nocheck(row,
		    PQfname(res, c), v) == -1)
			fatalx("out of memory");
	}
	return row;
}

/* Turns a claimed row into a job due now. */
static void
mailer_job_from_row(struct mailer *m, const PGresult *res, int i,
    const struct mailer_msg *msg)
{
	struct mailer_job *j;

	if (!PQgetisnull(res, i, 12)) {
		log_info("notification %lld: SUPPRESSED before sending (%s)",
		    (long long)msg->id, PQgetvalue(res, i, 12));
		stats_add(CTR_NOTIF_SUPPRESSED, 1);
		mailer_store_offset(m, msg->partition, msg->offset);
		return;
	}
	j = mailer_job_add(m);
	j->id = msg->id;
	j->partition = msg->partition;
	j->offset = msg->offset;
	j->attempts = atoi(PQgetvalue(res, i, 5));
	j->requeues = atoi(PQgetvalue(res, i, 7));
	j->created_us = strtoll(PQgetvalue(res, i, 8), NULL, 10);
	j->row = mailer_row_json(res, i);
	j->due = util_now();
}

/* Finds the claimed row for a message, if the claim returned it. */
static int
mailer_claimed_row(const PGresult *res, int64_t id, bool *used, size_t nused)
{
	int i;

	/* One row per distinct id at most, so never more than the batch. */
	for (i = 0; i < PQntuples(res) && (size_t)i < nused; i++)
		if (!used[i] && strtoll(PQgetvalue(res, i, 0), NULL, 10) == id) {
			used[i] = true;
			return i;
		}
	return -1;
}

/*
 * Sends the claim of the messages read, ahead (db_pipe): the sends of
 * the previous batch go on while the server runs it; mailer_collect
 * applies it.  -1 with err when it could not be sent.
 */
static int
mailer_claim_send(struct mailer *m, char *err, size_t len)
{
	struct db_arr ids = { 0 };
	char lease[32];
	const char *p[3];
	size_t i;
	int rc = -1;

	for (i = 0; i < m->nmsgs; i++)
		db_arr_int(&ids, m->msgs[i].id);
	snprintf(lease, sizeof(lease), "%.3f", conf->email_lease);
	p[0] = db_arr_end(&ids);
	p[1] = lease;
	p[2] = m->owner;
	if (p[0] == NULL)
		snprintf(err, len, "out of memory");
	else
		rc = db_pipe_send_named(m->db, &m->claim_stmt, p, err, len);
	db_arr_free(&ids);
	return rc;
}

/*
 * The claimed rows become jobs due now.  A row not returned is SENT,
 * FAILED or held by someone else: its message is done for us.
 */
static void
mailer_claim_apply(struct mailer *m, const PGresult *res)
{
	const struct mailer_msg *msg;
	size_t i;
	int row;

	if (m->njobs == 0)	/* the first lease of a fresh batch */
		m->renew_at = util_now() + conf->email_lease / 2;
	memset(m->used, 0, m->batch * sizeof(*m->used));
	for (i = 0; i < m->nmsgs; i++) {
		msg = &m->msgs[i];
		if ((row = mailer_claimed_row(res, msg->id, m->used,
		    m->batch)) >= 0)
			mailer_job_from_row(m, res, row, msg);
		else {
			log_debug("notification %lld: not claimable (done or held "
			    "elsewhere); skipped", (long long)msg->id);
			mailer_store_offset(m, msg->partition, msg->offset);
		}
	}
	m->nmsgs = 0;
}

/* Waits for this send's turn in the cluster-wide email.rate_limit. */
static void
mailer_rate_wait(void)
{
	int64_t now, at;

	if (conf->email_rate_limit <= 0)
		return;
	now = util_now_us();
	at = mailpolicy_rate_reserve(&stats->rate_next_us,
	    conf->email_rate_limit, now);
	if (at > now) {
		stats_add(CTR_RATE_WAITS, 1);
		util_sleep((double)(at - now) / 1e6);
	}
}

/*
 * Judges an attempt by the channel's verdict and the retry policy, and
 * counts it.  The policy reads an SMTP-shaped result: the verdict and
 * the code say all it needs.
 */
static void
mailer_judge(struct mailer *m, struct mailer_job *j, enum channel_verdict v)
{
	static const enum stats_ctr reply_ctr[] = {
		[MAILPOLICY_2XX] = CTR_SMTP_2XX,
		[MAILPOLICY_4XX] = CTR_SMTP_4XX,
		[MAILPOLICY_5XX] = CTR_SMTP_5XX,
		[MAILPOLICY_NETERR] = CTR_SMTP_NETERR,
	};
	static const enum stats_ctr verdict_ctr[] = {
		[MAILPOLICY_SENT] = CTR_NOTIF_SENT,
		[MAILPOLICY_FAILED] = CTR_NOTIF_FAILED,
		[MAILPOLICY_RETRY] = CTR_NOTIF_RETRIED,
	};
	struct smtp_result r = { v == CHANNEL_SENT ? SMTP_OK :
	    v == CHANNEL_PERMANENT ? SMTP_PERM : SMTP_TEMP, j->att.code, "" };
	struct mailpolicy_decision d;

	mailpolicy_judge(&m->policy, &r, j->round, j->requeues,
	    (double)random() / (double)RAND_MAX, &d);
	stats_add(reply_ctr[d.reply], 1);
	stats_add(verdict_ctr[d.verdict], 1);
	j->status = mailpolicy_status(d.verdict);
	j->state = d.verdict == MAILPOLICY_RETRY ? MAILER_JOB_RETRY :
	    MAILER_JOB_FINAL;
	j->permanent = d.permanent;
	j->delay = d.delay;
}

/*
 * One attempt through the channel: build, wait for the rate limit's
 * turn, send.  A row that can never be built (an address these settings
 * cannot send) fails permanently, unsent.  Returns the verdict.
 */
static enum channel_verdict
mailer_attempt(struct mailer *m, struct mailer_job *j)
{
	const struct channel_job cj = { j->id, j->created_us, j->attempts + 1,
	    j->row };
	char err[256], *msg;
	size_t len;
	int rc;

	j->round++;
	j->attempts++;
	if ((rc = m->ch->build(m->chctx, &cj, &msg, &len, err,
	    sizeof(err))) == -2)
		fatalx("out of memory");
	if (rc == -1) {
		memset(&j->att, 0, sizeof(j->att));
		snprintf(j->att.text, sizeof(j->att.text), "%s", err);
		return CHANNEL_PERMANENT;
	}
	if (err[0] != '\0')
		log_warnx("notification %lld: %s", (long long)j->id, err);
	mailer_rate_wait();
	(void)m->ch->send(m->chctx, &cj, msg, len, &j->att);
	free(msg);
	return m->ch->classify(&j->att);
}

static void
mailer_send(struct mailer *m, struct mailer_job *j)
{
	const char *to = json_string_value(json_object_get(j->row,
	    "recipient"));

	mailer_judge(m, j, mailer_attempt(m, j));
	mailer_log_ctx(j->id, j->partition, j->offset);
	if (j->state == MAILER_JOB_FINAL && !strcmp(j->status, "SENT"))
		log_info("notification %lld: SENT to %s (%s)", (long long)j->id,
		    to, j->att.ref);
	else
		log_info("notification %lld: attempt %d to %s: %s%s%s (%s)",
		    (long long)j->id, j->attempts, to, j->status,
		    j->permanent ? " permanently" : "", j->state == MAILER_JOB_RETRY ?
		    ", will retry" : "", j->att.text);
	log_ctx_clear();
}

static const char mailer_sql_outcome[] =
    "WITH o AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[],"
    "   $4::int[], $5::text[], $6::text[], $7::float8[], $8::bool[])"
    "   AS t(id, status, attempt, code, reply, msgid, delay, permanent)),"
    " a AS (INSERT INTO email_attempts (notification_id, attempt, smtp_code,"
    "   smtp_text, outcome)"
    "   SELECT id, attempt, nullif(code, 0), reply, CASE WHEN status = 'SENT'"
    "   THEN 'sent' WHEN permanent THEN 'permanent' ELSE 'temporary' END"
    "   FROM o ON CONFLICT DO NOTHING) "
    "UPDATE email_notifications n SET status = o.status,"
    " attempts = o.attempt,"
    " last_error = CASE WHEN o.status = 'SENT' THEN n.last_error"
    "   ELSE o.reply END,"
    " message_id = coalesce(nullif(o.msgid, ''), n.message_id),"
    " sent_at = CASE WHEN o.status = 'SENT' THEN now() ELSE n.sent_at END,"
    " permanent = o.permanent,"
    " next_attempt_at = CASE WHEN o.status = 'FAILED' AND NOT o.permanent"
    "   THEN now() + o.delay * interval '1 second' END,"
    " lease_until = CASE WHEN o.status = 'PROCESSING' THEN now() +"
    "   (o.delay + $10::float8) * interval '1 second' END,"
    " lease_owner = CASE WHEN o.status = 'PROCESSING' THEN $9 END,"
    " updated_at = now() "
    "FROM o WHERE n.id = o.id AND n.lease_owner = $9";

/* The arrays of mailer_sql_outcome: every unwritten result, or job only. */
static int
mailer_outcome_params(struct mailer *m, struct db_arr *a, ssize_t only)
{
	struct mailer_job *j;
	size_t i;
	int n = 0;

	for (i = 0; i < m->njobs; i++) {
		j = &m->jobs[i];
		if (j->state == MAILER_JOB_WAITING || j->stored ||
		    (only >= 0 && (size_t)only != i))
			continue;
		db_arr_int(&a[0], j->id);
		db_arr_text(&a[1], j->status);
		db_arr_int(&a[2], j->attempts);
		db_arr_int(&a[3], j->att.code);
		db_arr_text(&a[4], j->att.text);
		db_arr_text(&a[5], j->att.ref);
		db_arr_float(&a[6], j->delay);
		db_arr_text(&a[7], j->permanent ? "t" : "f");
		n++;
	}
	return n;
}

/* Drops finished jobs (storing their offsets); retries wait for their turn. */
static void
mailer_outcome_applied(struct mailer *m)
{
	size_t i, k = 0;
	double now = util_now();

	for (i = 0; i < m->njobs; i++) {
		struct mailer_job *j = &m->jobs[i];
		if (j->state != MAILER_JOB_WAITING && !j->stored)
			goto keep;
		j->stored = false;
		if (j->state == MAILER_JOB_FINAL) {
			mailer_store_offset(m, j->partition, j->offset);
			mailer_job_clear(j);
			continue;
		}
		if (j->state == MAILER_JOB_RETRY) {
			j->due = now + j->delay;
			j->state = MAILER_JOB_WAITING;
		}
keep:
		if (k != i)
			m->jobs[k] = *j;
		k++;
	}
	m->njobs = k;
}

/*
 * A failure about the address (suppress.c) puts it on the suppression
 * list in the same statement as the outcome: a CTE in front of
 * mailer_sql_outcome, used only when the batch holds such a failure.  A
 * manual entry stays manual.
 */
static const char mailer_sql_bounce[] =
    "WITH sup AS (INSERT INTO email_suppressions (address_key, address,"
    "   reason, code, text, notification_id)"
    " SELECT DISTINCT ON (email_suppression_key(n.recipient))"
    "   email_suppression_key(n.recipient), n.recipient, 'bounce', b.code,"
    "   b.reply, b.id"
    " FROM unnest($11::bigint[], $12::int[], $13::text[]) AS b(id, code, reply)"
    " JOIN email_notifications n ON n.id = b.id AND n.lease_owner = $9"
    " ORDER BY email_suppression_key(n.recipient), b.id DESC"
    " ON CONFLICT (address_key) DO UPDATE SET code = EXCLUDED.code,"
    "   text = EXCLUDED.text, notification_id = EXCLUDED.notification_id,"
    "   created_at = now() WHERE email_suppressions.reason = 'bounce'), ";

/* The arrays of mailer_sql_bounce ($11-$13): how many bounces. */
static int
mailer_bounce_params(struct mailer *m, struct db_arr *a, ssize_t only)
{
	struct mailer_job *j;
	size_t i;
	int n = 0;

	for (i = 0; i < m->njobs; i++) {
		j = &m->jobs[i];
		if (j->state != MAILER_JOB_FINAL || j->stored || !j->permanent ||
		    (only >= 0 && (size_t)only != i) ||
		    !suppress_address_failure(j->att.code, j->att.text))
			continue;
		db_arr_int(&a[0], j->id);
		db_arr_int(&a[1], j->att.code);
		db_arr_text(&a[2], j->att.text);
		n++;
	}
	return n;
}

/* The outcome statement, with the bounce CTE in front when needed. */
static const char *
mailer_outcome_sql(bool bounce)
{
	static char *with;

	if (!bounce)
		return mailer_sql_outcome;
	/* mailer_sql_outcome opens with "WITH ": its CTEs follow ours. */
	if (with == NULL && asprintf(&with, "%s%s", mailer_sql_bounce,
	    mailer_sql_outcome + 5) == -1)
		fatalx("out of memory");
	return with;
}

/*
 * One outcome statement: every unwritten result, or job only's.  Ahead,
 * it is sent (db_pipe) and its jobs are marked writing until
 * mailer_collect reads it; otherwise they are stored once it returns.
 * A batch with a bounce is written at once (a statement of its own
 * shape, rare): never ahead.
 */
static int
mailer_write_some(struct mailer *m, ssize_t only, bool ahead, char *err,
    size_t errlen)
{
	struct db_arr a[11];
	char lease[32];
	const char *p[13];
	int nb;
	PGresult *res = NULL;
	size_t k;
	int i, n, rc = 0;

	memset(a, 0, sizeof(a));
	if ((n = mailer_outcome_params(m, a, only)) == 0)
		return 0;
	nb = mailer_bounce_params(m, a + 8, only);
	for (i = 0; i < 11; i++)
		if ((p[i < 8 ? i : i + 2] = db_arr_end(&a[i])) == NULL)
			fatalx("out of memory");
	snprintf(lease, sizeof(lease), "%.3f", conf->email_lease);
	p[8] = m->owner;
	p[9] = lease;
	if (nb > 0)
		ahead = false;
	if (ahead)
		rc = db_pipe_send_named(m->db, &m->outcome_stmt, p, err,
		    errlen);
	else if ((res = db_query(m->db, mailer_outcome_sql(nb > 0),
	    nb > 0 ? 13 : 10, p, err, errlen)) == NULL)
		rc = -1;
	PQclear(res);
	for (i = 0; i < 11; i++)
		db_arr_free(&a[i]);
	if (rc == -1)
		return -1;
	for (k = 0; k < m->njobs; k++)
		if (m->jobs[k].state != MAILER_JOB_WAITING &&
		    !m->jobs[k].stored && (only < 0 || (size_t)only == k)) {
			m->jobs[k].writing = ahead;
			m->jobs[k].stored = !ahead;
		}
	m->writing = ahead;
	return 0;
}

/*
 * When the server refuses the whole batch on a live connection, each
 * result is written on its own, so one row it refuses cannot hold back
 * the others; a result refused alone loses its reply text (the attempt,
 * code and status still count).  Returns how many were refused.
 */
static int
mailer_write_each(struct mailer *m)
{
	char err[DB_ERRLEN];
	size_t i;
	int bad = 0;

	for (i = 0; i < m->njobs && !db_broken(m->db); i++) {
		struct mailer_job *j = &m->jobs[i];
		if (j->state == MAILER_JOB_WAITING || j->stored ||
		    mailer_write_some(m, (ssize_t)i, false, err,
		    sizeof(err)) == 0)
			continue;
		bad++;
		mailer_log_ctx(j->id, j->partition, j->offset);
		log_warnx("notification %lld: recording its outcome: %s; "
		    "retrying without the reply text", (long long)j->id, err);
		log_ctx_clear();
		snprintf(j->att.text, sizeof(j->att.text), "(reply text not "
		    "recordable)");
	}
	return bad;
}

/*
 * After the outcome statement (rc -1: it failed, err says why).  A
 * failure never stops the worker: results stay in hand (never sent
 * again), leases keep being renewed, and the write is retried with a
 * backoff.  -1 while some result is still unwritten.
 */
static int
mailer_write_finish(struct mailer *m, int rc, const char *err)
{
	int n = 0;

	if (rc == -1) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("recording delivery outcomes: %s (will retry)", err);
		n = db_broken(m->db) ? 1 : mailer_write_each(m);
	}
	if (n == 0) {
		backoff_reset(&m->write_backoff);
		return 0;
	}
	m->write_at = util_now() + backoff_next(&m->write_backoff, NULL);
	return -1;
}

/* Writes every pending result and attempt now, in one statement if it can. */
static int
mailer_write_outcomes(struct mailer *m)
{
	char err[DB_ERRLEN];
	int rc;

	if (util_now() < m->write_at)
		return -1;
	rc = mailer_write_some(m, -1, false, err, sizeof(err));
	rc = mailer_write_finish(m, rc, err);
	mailer_outcome_applied(m);
	return rc;
}

/*
 * Sends the results in hand ahead (db_pipe): the server commits them
 * while this worker sends the next batch.  Their offsets are stored
 * once mailer_collect has read the commit, as before: at-least-once.
 */
static void
mailer_write_ahead(struct mailer *m)
{
	char err[DB_ERRLEN];

	if (util_now() < m->write_at ||
	    mailer_write_some(m, -1, true, err, sizeof(err)) == 0)
		return;
	db_pipe_end(m->db);	/* nothing else is in flight yet */
	(void)mailer_write_finish(m, -1, err);
}

/* Sends the claim of the messages read ahead, if any. */
static void
mailer_claim_ahead(struct mailer *m)
{
	char err[DB_ERRLEN];

	if (m->nmsgs == 0)
		return;
	if (mailer_claim_send(m, err, sizeof(err)) == 0) {
		m->claiming = true;
		return;
	}
	stats_add(CTR_DB_ERRORS, 1);
	log_warnx("claiming %zu notifications: %s", m->nmsgs, err);
	if (!m->writing)
		db_pipe_end(m->db);
}

/*
 * Reads what was sent ahead, in the order sent: the outcome write (its
 * jobs are then stored, or written again one by one) and the claim (its
 * rows become jobs).  Finished jobs are dropped by the caller
 * (mailer_outcome_applied), not here: a send loop may be walking them.
 * -1 when the claim failed: its messages are kept for the next turn.
 */
static int
mailer_collect(struct mailer *m)
{
	char werr[DB_ERRLEN], cerr[DB_ERRLEN];
	PGresult *wres = NULL, *cres = NULL;
	bool wrote = m->writing, claimed = m->claiming;
	size_t i;

	if (wrote)
		wres = db_pipe_result_named(m->db, &m->outcome_stmt, werr,
		    sizeof(werr));
	if (claimed)
		cres = db_pipe_result_named(m->db, &m->claim_stmt, cerr,
		    sizeof(cerr));
	if (!wrote && !claimed)
		return 0;
	db_pipe_end(m->db);
	m->writing = m->claiming = false;
	for (i = 0; i < m->njobs; i++) {
		if (m->jobs[i].writing)
			m->jobs[i].stored = wres != NULL;
		m->jobs[i].writing = false;
	}
	if (wrote)
		(void)mailer_write_finish(m, wres != NULL ? 0 : -1, werr);
	PQclear(wres);
	if (claimed && cres == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("claiming %zu notifications: %s", m->nmsgs, cerr);
		return -1;
	}
	if (claimed)
		mailer_claim_apply(m, cres);
	PQclear(cres);
	return 0;
}

static const char mailer_sql_renew[] =
    "UPDATE email_notifications SET lease_until = greatest(lease_until,"
    " now() + $3::float8 * interval '1 second') "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2"
    " AND status = 'PROCESSING'";

/*
 * Extends the leases of everything held once half a lease has gone by,
 * so a slow relay or email.rate_limit never lets the sweeper hand a row
 * we still hold to someone else.
 */
static void
mailer_renew(struct mailer *m)
{
	struct db_arr ids = { 0 };
	char err[DB_ERRLEN], lease[32];
	const char *p[3];
	PGresult *res;
	size_t i;

	if (util_now() < m->renew_at || m->njobs == 0)
		return;
	(void)mailer_collect(m);	/* the connection, free for a query */
	for (i = 0; i < m->njobs; i++)
		db_arr_int(&ids, m->jobs[i].id);
	snprintf(lease, sizeof(lease), "%.3f", conf->email_lease);
	p[0] = db_arr_end(&ids);
	p[1] = m->owner;
	p[2] = lease;
	if (p[0] != NULL &&
	    (res = db_query(m->db, mailer_sql_renew, 3, p, err, sizeof(err)))) {
		PQclear(res);
		m->renew_at = util_now() + conf->email_lease / 2;
	} else
		log_warnx("extending %zu leases: %s", m->njobs, err);
	db_arr_free(&ids);
}

/*
 * Sends every job that is due; the turn records the results at once
 * afterwards.  On a stop request it finishes the message in hand and no
 * more.
 */
static void
mailer_send_due(struct mailer *m)
{
	double now = util_now();
	size_t i;

	for (i = 0; i < m->njobs && proc_running(); i++) {
		mailer_renew(m);
		if (m->jobs[i].state == MAILER_JOB_WAITING &&
		    m->jobs[i].due <= now)
			mailer_send(m, &m->jobs[i]);
	}
}

/* Seconds until the next retry is due (capped), 0 if one is due now. */
static double
mailer_next_due(const struct mailer *m, double cap)
{
	double now = util_now(), d = cap;
	size_t i;

	for (i = 0; i < m->njobs; i++)
		if (m->jobs[i].state == MAILER_JOB_WAITING &&
		    m->jobs[i].due - now < d)
			d = m->jobs[i].due - now;
	return d < 0 ? 0 : d;
}

static const char mailer_sql_release[] =
    "UPDATE email_notifications SET lease_until = now(), updated_at = now() "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND status = 'PROCESSING'";

/*
 * At a stop, rows still held (waiting for a retry) are let go with an
 * expired lease: the next worker to see their message, or the sweeper,
 * takes them over.
 */
static void
mailer_release(struct mailer *m)
{
	struct db_arr ids = { 0 };
	char err[DB_ERRLEN];
	const char *p[2];
	PGresult *res;
	size_t i;

	if (m->njobs == 0 || !mailer_db(m))
		return;
	for (i = 0; i < m->njobs; i++)
		db_arr_int(&ids, m->jobs[i].id);
	p[0] = db_arr_end(&ids);
	p[1] = m->owner;
	if (p[0] != NULL &&
	    (res = db_query(m->db, mailer_sql_release, 2, p, err, sizeof(err))))
		PQclear(res);
	else
		log_warnx("releasing %zu held notifications: %s (their leases "
		    "expire by themselves)", m->njobs, err);
	db_arr_free(&ids);
	log_info("released %zu notifications waiting for a retry", m->njobs);
}

/*
 * Reads up to a batch from Kafka, waiting no longer than the next retry
 * is due.  Reads nothing while an unclaimed read is in hand, or while a
 * few batches are held (the rest waits in Kafka): then it only waits.
 */
static void
mailer_read(struct mailer *m)
{
	double wait = mailer_next_due(m, 0.2);

	if (m->nmsgs > 0)
		return;
	if (m->njobs >= m->batch * 4) {
		util_sleep(wait);
		return;
	}
	m->nmsgs = mailer_poll(m, m->msgs, m->batch, (int)(wait * 1000));
}

/*
 * One turn, in the order a message takes: the statements sent ahead in
 * the last turn are read, the results in hand are sent ahead to be
 * written, Kafka is read and the claim of what it names sent ahead, and
 * the jobs due (the last turn's claim and any retries) are sent over
 * SMTP while the server runs both statements: the sessions never wait
 * for a claim, a commit or its WAL flush.  A failed claim keeps its
 * messages for the next turn and sends nothing; a failed write is
 * retried later while reading and renewing go on.
 */
static void
mailer_turn(struct mailer *m)
{
	int claimed = mailer_collect(m);

	mailer_outcome_applied(m);
	if (!mailer_db(m) || claimed == -1) {
		util_sleep(0.2);
		return;
	}
	mailer_write_ahead(m);
	mailer_read(m);
	mailer_claim_ahead(m);
	mailer_send_due(m);
	mailer_renew(m);
}

/* The retry policy, from this process's configuration snapshot. */
static void
mailer_policy_from_conf(struct mailpolicy *p)
{
	p->max_attempts = conf->email_retry_max_attempts;
	p->retry_initial = conf->email_retry_initial;
	p->retry_multiplier = conf->email_retry_multiplier;
	p->retry_max_delay = conf->email_retry_max_delay;
	p->retry_jitter = conf->email_retry_jitter;
	p->requeue_base = conf->sweeper_interval;
	p->requeue_max_delay = conf->sweeper_max_delay;
}

/* The policy and the buffers sized by email.batch. */
static void
mailer_init_batch(struct mailer *m)
{
	mailer_policy_from_conf(&m->policy);
	m->batch = (size_t)conf->email_batch;
	if ((m->msgs = calloc(m->batch, sizeof(*m->msgs))) == NULL ||
	    (m->used = calloc(m->batch, sizeof(*m->used))) == NULL)
		fatalx("out of memory");
}

static int
mailer_init(struct mailer *m, const struct proc_info *pi)
{
	char err[512], host[64];

	memset(m, 0, sizeof(*m));
	m->claim_stmt.base = "mailer_claim";
	m->claim_stmt.sql = mailer_sql_claim;
	m->claim_stmt.nparams = 3;
	m->outcome_stmt.base = "mailer_outcome";
	m->outcome_stmt.sql = mailer_sql_outcome;
	m->outcome_stmt.nparams = 10;
	m->write_backoff.first = 0.2;
	m->write_backoff.max = 5;
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(m->owner, sizeof(m->owner), "%s:%d:mailer/%d", host,
	    (int)getpid(), pi->index);
	mailer_init_batch(m);
	m->ch = channel_find("EMAIL");
	if ((m->chctx = m->ch->open(conf, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return EXIT_CONFIG;
	}
	if ((m->rk = mailer_consumer(err, sizeof(err))) == NULL) {
		log_error("email consumer: %s", err);
		return EXIT_CONFIG;
	}
	if (!mailer_db(m))
		return 1;	/* not ready: the master throttles our respawn */
	return 0;
}

int
mailer_main(const struct proc_info *pi)
{
	struct mailer m;
	size_t i;
	int rc;

	if ((rc = mailer_init(&m, pi)) != 0)
		goto out;
	/* proc_ready() comes with the first assignment (mailer_rebalance) */
	while (proc_running())
		mailer_turn(&m);
	(void)mailer_collect(&m);
	if (m.db != NULL) {
		m.write_at = 0;
		(void)mailer_write_outcomes(&m);
	}
	mailer_release(&m);
out:
	if (m.rk != NULL && proc_stop == STOP_FAST)	/* no waiting on Kafka */
		rd_kafka_destroy_flags(m.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	else if (m.rk != NULL) {
		rd_kafka_consumer_close(m.rk);	/* commits the stored offsets */
		rd_kafka_destroy(m.rk);
	}
	for (i = 0; i < m.njobs; i++)
		mailer_job_clear(&m.jobs[i]);
	free(m.jobs);
	free(m.msgs);
	free(m.used);
	if (m.ch != NULL)
		m.ch->close(m.chctx);
	db_link_close(&m.link);
	return rc;
}
