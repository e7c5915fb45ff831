/*
 * mailer_write.c - the outcomes of attempts: one statement for a batch
 * (status, attempt history, and a bounce's suppression entry), sent
 * ahead while the next batch goes out; a refused batch written one by
 * one; a failed write retried with a backoff, results kept in hand.
 * Never sends and never claims.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "db.h"
#include "db_pipe.h"
#include "log.h"
#include "mailer.h"
#include "stats.h"
#include "suppress.h"
#include "util.h"

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

/* The outcome statement, prepared once; the backoff of a failed write. */
void
mailer_write_prepare(struct mailer *m)
{
	m->outcome_stmt.base = "mailer_outcome";
	m->outcome_stmt.sql = mailer_sql_outcome;
	m->outcome_stmt.nparams = 10;
	m->write_backoff.first = 0.2;
	m->write_backoff.max = 5;
}

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
void
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
int
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
int
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
void
mailer_write_ahead(struct mailer *m)
{
	char err[DB_ERRLEN];

	if (util_now() < m->write_at ||
	    mailer_write_some(m, -1, true, err, sizeof(err)) == 0)
		return;
	db_pipe_end(m->db);	/* nothing else is in flight yet */
	(void)mailer_write_finish(m, -1, err);
}
