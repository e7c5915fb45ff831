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
 * Each row goes out through its type's channel (channel.h: build, send,
 * classify); this file is the loop, the attempt and its verdict.  The
 * rest, by noun: mailer_kafka.c (the topic), mailer_claim.c (claims and
 * leases), mailer_write.c (outcomes and bounces).
 * Never decides anything about HTTP or the sweeper's schedule.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "channel.h"
#include "conf.h"
#include "db.h"
#include "kafka_worker.h"
#include "log.h"
#include "mailer.h"
#include "mailpolicy.h"
#include "proc.h"
#include "roles.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

/*
 * The context of one job's log lines: JSON logs carry it as members
 * (notification_id; topic, partition, offset), text logs as a suffix.
 * The caller clears it after its lines.
 */
void
mailer_log_ctx(int64_t id, int32_t partition, int64_t offset)
{
	if (id >= 0)
		log_ctx_int("notification_id", id);
	log_ctx_str("topic", conf->email_topic);
	log_ctx_int("partition", partition);
	log_ctx_int("offset", offset);
}

void
mailer_job_clear(struct mailer_job *j)
{
	json_decref(j->row);
	memset(j, 0, sizeof(*j));
}

/* (Re)connects to PostgreSQL with a capped backoff; false while down. */
bool
mailer_db(struct mailer *m)
{
	return (m->db = worker_db(&m->link)) != NULL;
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
	    v == CHANNEL_PERMANENT ? SMTP_PERM : SMTP_TEMP, j->att.code, "",
	    false };
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
 * The per-process state of a row's channel, opened at its first row (a
 * channel that cannot open now may next time: its rows are retried).
 */
static int
mailer_channel_ctx(struct mailer *m, const struct channel *ch, void **ctx,
    char *err, size_t len)
{
	size_t i;

	if (ch == NULL) {
		snprintf(err, len, "no channel for this type in this build");
		return -1;
	}
	for (i = 0; i < m->nchans; i++)
		if (m->chans[i].ch == ch) {
			*ctx = m->chans[i].ctx;
			return 0;
		}
	if (m->nchans == sizeof(m->chans) / sizeof(m->chans[0])) {
		snprintf(err, len, "too many channels");
		return -1;
	}
	*ctx = NULL;
	if (ch->open != NULL && (*ctx = ch->open(conf, err, len)) == NULL)
		return -1;
	m->chans[m->nchans].ch = ch;
	m->chans[m->nchans++].ctx = *ctx;
	return 0;
}

/*
 * One attempt through the row's channel: build, wait for the rate limit's
 * turn, send.  A row that can never be built (an address these settings
 * cannot send) fails permanently, unsent.  Returns the verdict.
 */
static enum channel_verdict
mailer_attempt(struct mailer *m, struct mailer_job *j,
    const struct mailer_job *next)
{
	const struct channel_job cj = { j->id, j->created_us, j->attempts + 1,
	    j->row };
	char err[256], *msg;
	size_t len;
	void *ctx;
	int rc;

	j->round++;
	j->attempts++;
	memset(&j->att, 0, sizeof(j->att));
	if (mailer_channel_ctx(m, j->ch, &ctx, err, sizeof(err)) == -1) {
		snprintf(j->att.text, sizeof(j->att.text), "%s", err);
		return j->ch == NULL ? CHANNEL_PERMANENT : CHANNEL_TEMPORARY;
	}
	if ((rc = j->ch->build(ctx, &cj, &msg, &len, err, sizeof(err))) == -2)
		fatalx("out of memory");
	if (rc == -1) {
		snprintf(j->att.text, sizeof(j->att.text), "%s", err);
		return CHANNEL_PERMANENT;
	}
	if (err[0] != '\0')
		log_warnx("notification %lld: %s", (long long)j->id, err);
	mailer_rate_wait();
	if (j->ch->ahead != NULL) {
		const struct channel_job nj = next == NULL ? cj : (struct
		    channel_job){ next->id, next->created_us, next->attempts + 1,
		    next->row };

		j->ch->ahead(ctx, next != NULL && next->ch == j->ch ? &nj :
		    NULL);
	}
	(void)j->ch->send(ctx, &cj, msg, len, &j->att);
	free(msg);
	return j->ch->classify(&j->att);
}

static void
mailer_send(struct mailer *m, struct mailer_job *j,
    const struct mailer_job *next)
{
	const char *to;

	mailer_judge(m, j, mailer_attempt(m, j, next));
	if (!log_enabled(LOG_LVL_INFO))
		return;		/* one line per message: not even its context */
	if ((to = json_string_value(json_object_get(j->row, "recipient"))) ==
	    NULL)
		to = "-";
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

/*
 * Reads what was sent ahead, in the order sent: the outcome write (its
 * jobs are then stored, or written again one by one) and the claim (its
 * rows become jobs).  Finished jobs are dropped by the caller
 * (mailer_outcome_applied), not here: a send loop may be walking them.
 * -1 when the claim failed: its messages are kept for the next turn.
 */
int
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

/* The index of the first job from i on that is due now; njobs: none. */
static size_t
mailer_due(const struct mailer *m, size_t i, double now)
{
	for (; i < m->njobs; i++)
		if (m->jobs[i].state == MAILER_JOB_WAITING &&
		    m->jobs[i].due <= now)
			break;
	return i;
}

/*
 * Sends every job that is due; the turn records the results at once
 * afterwards.  Each send is told the job after it (none under
 * email.rate_limit, whose turns space the sends anyway).  On a stop
 * request it finishes the message in hand and no more.
 */
static void
mailer_send_due(struct mailer *m)
{
	double now = util_now();
	size_t i = mailer_due(m, 0, now), n;

	/*
	 * Indices, never pointers kept across mailer_renew: it may collect
	 * a claim, whose new jobs can move m->jobs (realloc).
	 */
	while (i < m->njobs && proc_running()) {
		mailer_renew(m);
		n = mailer_due(m, i + 1, now);
		mailer_send(m, &m->jobs[i], n < m->njobs &&
		    conf->email_rate_limit <= 0 ? &m->jobs[n] : NULL);
		i = n;
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

/* The policy and the buffers sized by email.batch. */
static void
mailer_init_batch(struct mailer *m)
{
	worker_policy(&m->policy);
	m->batch = (size_t)conf->email_batch;
	if ((m->msgs = calloc(m->batch, sizeof(*m->msgs))) == NULL ||
	    (m->used = calloc(m->batch, sizeof(*m->used))) == NULL)
		fatalx("out of memory");
}

static int
mailer_init(struct mailer *m, const struct proc_info *pi)
{
	char err[512];
	void *ctx;

	memset(m, 0, sizeof(*m));
	mailer_claim_prepare(m);
	mailer_write_prepare(m);
	worker_owner(m->owner, sizeof(m->owner), "mailer", pi->index);
	mailer_init_batch(m);
	/* email.* is this role's: a setting that cannot work stops it. */
	if (mailer_channel_ctx(m, channel_find("EMAIL"), &ctx, err,
	    sizeof(err)) == -1) {
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
	/* proc_ready() comes with the first assignment (kafka_worker.c) */
	while (proc_running())
		mailer_turn(&m);
	(void)mailer_collect(&m);
	if (m.db != NULL) {
		m.write_at = 0;
		(void)mailer_write_outcomes(&m);
	}
	mailer_release(&m);
out:
	kafka_worker_close(m.rk);
	for (i = 0; i < m.njobs; i++)
		mailer_job_clear(&m.jobs[i]);
	free(m.jobs);
	free(m.msgs);
	free(m.used);
	for (i = 0; i < m.nchans; i++)
		if (m.chans[i].ch->close != NULL)
			m.chans[i].ch->close(m.chans[i].ctx);
	db_link_close(&m.link);
	return rc;
}
