/*
 * api_store_rate.c - email.user_rate: notifications accepted per userId.
 *
 * Part of the api_store module (declared in api_store.h).  With a limit
 * set, the group commit runs in one transaction: BEGIN, the INSERT of
 * the batch, the take below, COMMIT.  The take counts only the rows the
 * INSERT stored (a replayed Idempotency-Key stores nothing, so it takes
 * nothing), adds them to the user's counter row for the current window
 * (sql/010_user_rate.sql) up to the limit, and deletes the rows beyond
 * the units granted, later rows of the batch first.  So a unit is spent
 * exactly when a row commits, and the counter's row lock, held to the
 * commit, makes every api process of every instance on the database
 * count in turn.  Counter rows are locked in user order: no deadlock
 * between batches of several users.  Without a limit nothing here runs
 * and the INSERT stays one autocommit statement.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_store.h"
#include "conf.h"
#include "db.h"
#include "http.h"

/*
 * $1 the ids the INSERT returned (NULL: not stored), $2 their userIds
 * (JSON), $3 the limit, $4 the window in seconds.  A user is counted by
 * the text of its id, as preferences are: 42 and "42" share one limit.  Returns the 1-based
 * position of each refused row and the seconds to its window's end.
 */
static const char api_store_rate_sql[] =
    "WITH r AS (SELECT t.id, to_jsonb(t.uid::jsonb #>> '{}') AS uid, t.ord,"
    "  row_number() OVER (PARTITION BY t.uid::jsonb #>> '{}' ORDER BY t.ord)"
    "  AS nth"
    " FROM unnest($1::int8[], $2::text[]) WITH ORDINALITY AS t(id, uid, ord)"
    " WHERE t.id IS NOT NULL),"
    " w AS (SELECT to_timestamp((floor(extract(epoch FROM now()) / $4::int)"
    "  + 1) * $4::int) AS wend),"
    " u AS (INSERT INTO user_rate AS c (user_id, window_end, used, granted)"
    "  SELECT r.uid, w.wend, least(count(*), $3::int),"
    "   least(count(*), $3::int) FROM r, w GROUP BY r.uid, w.wend"
    "  ORDER BY r.uid"
    "  ON CONFLICT (user_id, window_end) DO UPDATE"
    "  SET used = greatest(c.used, least($3::int, c.used + excluded.used)),"
    "   granted = greatest(0, least($3::int, c.used + excluded.used) - c.used)"
    "  RETURNING c.user_id, c.granted),"
    " x AS (SELECT r.id, r.ord FROM r JOIN u ON u.user_id = r.uid"
    "  WHERE r.nth > u.granted),"
    " d AS (DELETE FROM email_notifications n USING x WHERE n.id = x.id) "
    "SELECT x.ord, greatest(1, ceil(extract(epoch FROM w.wend - now())))::int"
    " FROM x, w ORDER BY x.ord";

static const char api_store_rate_sql_sweep[] =
    "DELETE FROM user_rate WHERE window_end < now()";

/* BEGIN, when a limit is set: 1; 0 when none is (nothing to do). */
int
api_store_rate_begin(PGconn *c, enum db_class *cls, char *err, size_t len)
{
	if (conf->user_rate_limit == 0)
		return 0;
	if (db_exec(c, "BEGIN", err, len) == -1) {
		*cls = db_errclass();
		return -1;
	}
	return 1;
}

/* Marks the refused rows the statement returned. */
static void
api_store_rate_mark(struct api_store_req *const *reqs, int n,
    const PGresult *res)
{
	int i, row;

	/* left to api_store_outcome: a retry alone must not see LIMITED */
	for (i = 0; i < n; i++)
		reqs[i]->state = API_STORE_ERROR;
	for (i = 0; i < PQntuples(res); i++) {
		row = atoi(PQgetvalue(res, i, 0)) - 1;
		if (row < 0 || row >= n)
			continue;
		reqs[row]->state = API_STORE_LIMITED;
		reqs[row]->retry_after = atoi(PQgetvalue(res, i, 1));
	}
}

/*
 * Takes a unit for each row the INSERT (ins, one row per request)
 * stored, inside the transaction api_store_rate_begin opened; rows
 * without one are deleted and their requests marked LIMITED.
 */
int
api_store_rate_take(PGconn *c, struct api_store_req *const *reqs, int n,
    const PGresult *ins, enum db_class *cls, char *err, size_t len)
{
	char lim[16], win[16];
	const char *p[4] = { NULL, NULL, lim, win };
	struct db_arr a[2];
	PGresult *res = NULL;
	int i;

	memset(a, 0, sizeof(a));
	*cls = DB_INTERNAL;
	for (i = 0; i < n; i++) {
		db_arr_text(&a[0], PQgetisnull(ins, i, 0) ? NULL :
		    PQgetvalue(ins, i, 0));
		db_arr_text(&a[1], reqs[i]->user_id);
	}
	snprintf(lim, sizeof(lim), "%d", conf->user_rate_limit);
	snprintf(win, sizeof(win), "%d", conf->user_rate_window);
	if ((p[0] = db_arr_end(&a[0])) == NULL ||
	    (p[1] = db_arr_end(&a[1])) == NULL)
		snprintf(err, len, "out of memory");
	else if ((res = db_query_named(c, "store_rate", api_store_rate_sql, 4,
	    p, err, len)) == NULL)
		*cls = db_errclass();
	else
		api_store_rate_mark(reqs, n, res);
	PQclear(res);
	db_arr_free(&a[0]);
	db_arr_free(&a[1]);
	return res != NULL ? 0 : -1;
}

int
api_store_rate_commit(PGconn *c, enum db_class *cls, char *err, size_t len)
{
	if (db_exec(c, "COMMIT", err, len) == 0)
		return 0;
	*cls = db_errclass();
	return -1;
}

/* Ends a failed transaction; a broken connection leaves the pool. */
void
api_store_rate_rollback(PGconn *c)
{
	char err[DB_ERRLEN];

	if (db_exec(c, "ROLLBACK", err, sizeof(err)) == -1)
		return;		/* db_pool_put sees it is not idle */
}

/* 429: the userId named, and when its window ends (Retry-After). */
void
api_store_rate_refuse(struct http_resp *rs, const struct api_store_req *q)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "userId has reached its limit of %d "
	    "notifications per %d seconds (email.user_rate); retry in %d s",
	    conf->user_rate_limit, conf->user_rate_window, q->retry_after);
	http_error(rs, 429, msg, "userId");
	http_resp_header(rs, "Retry-After", "%d", q->retry_after);
}

/* Deletes the counters of ended windows (the sweeper, each interval). */
int
api_store_rate_sweep(PGconn *c, char *err, size_t len)
{
	if (conf->user_rate_limit == 0)
		return 0;
	return db_exec(c, api_store_rate_sql_sweep, err, len);
}
