/*
 * mailer_claim.c - claiming the rows the topic names (one UPDATE with a
 * lease, sent ahead), turning them into jobs, and the leases held while
 * jobs wait: renewed at half a lease, released at a stop.
 * Never sends and never writes an outcome.
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
#include "util.h"

/*
 * A join on the primary key rather than "id = ANY($1) AND status IN ...",
 * which lets the planner AND in the status index and scan its dead
 * entries (see queue.c).  A duplicate id joins twice but updates once.
 * A row whose address was suppressed, or whose user opted out of its
 * category, since it was accepted becomes SUPPRESSED here, unsent (a
 * retry by hand of a bounced row is not held by its own bounce):
 * email_suppression_check is inlined into this plan and evaluated once
 * per row (m: a LATERAL function cannot read the UPDATE's own target).
 * A claimable row keeps its status: the lease (lease_owner, lease_until,
 * not indexed) is the claim, so the update is HOT, with no new index
 * entries (sql/019_claim_hot.sql).
 */
static const char mailer_sql_claim[] =
    "UPDATE email_notifications n SET status = CASE WHEN r.reason IS NULL"
    " THEN n.status ELSE 'SUPPRESSED' END, suppressed_reason = r.reason,"
    " lease_until = now() + $2::float8 * interval '1 second',"
    " lease_owner = $3, updated_at = now() "
    "FROM unnest($1::bigint[]) AS a(id)"
    " JOIN email_notifications m ON m.id = a.id,"
    " LATERAL email_suppression_check(m.recipient, m.user_id, m.category,"
    "  m.id) AS r "
    "WHERE n.id = a.id AND n.status IN ('PENDING', 'PROCESSING')"
    " AND (n.lease_until IS NULL OR n.lease_until < now()) "
    "RETURNING n.id, n.title, n.content, n.recipient, n.from_addr,"
    " n.attempts, n.message_id, n.requeues,"
    " (extract(epoch from n.created_at) * 1000000)::bigint AS created_us,"
    " n.text_part, n.category, n.user_id #>> '{}' AS user_id,"
    " n.suppressed_reason, n.type";

/* The claim, a statement prepared once per connection (db_pipe). */
void
mailer_claim_prepare(struct mailer *m)
{
	m->claim_stmt.base = "mailer_claim";
	m->claim_stmt.sql = mailer_sql_claim;
	m->claim_stmt.nparams = 3;
}

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
	j->ch = channel_find(PQgetvalue(res, i, 13));
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
void
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

/* Sends the claim of the messages read ahead, if any. */
void
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

static const char mailer_sql_renew[] =
    "UPDATE email_notifications SET lease_until = greatest(lease_until,"
    " now() + $3::float8 * interval '1 second') "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2"
    " AND status IN ('PENDING', 'PROCESSING')";

/*
 * Extends the leases of everything held once half a lease has gone by,
 * so a slow relay or email.rate_limit never lets the sweeper hand a row
 * we still hold to someone else.
 */
void
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

static const char mailer_sql_release[] =
    "UPDATE email_notifications SET lease_until = now(), updated_at = now() "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2"
    " AND status IN ('PENDING', 'PROCESSING')";

/*
 * At a stop, rows still held (waiting for a retry) are let go with an
 * expired lease: the next worker to see their message, or the sweeper,
 * takes them over.
 */
void
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
