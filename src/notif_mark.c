/*
 * notif_mark.c - the email-status SQL of the producers: a PENDING row
 * Kafka acknowledged is marked queued, so the sweeper leaves it alone
 * and the API shows it as PROCESSING.  The queue (core) only collects
 * the ids and calls this.
 */
#include "config.h"

#include <stdio.h>

#include "db.h"
#include "notif_mark.h"
#include "stats.h"

/*
 * Sets only queued_at: no indexed column changes, so the mark is a HOT
 * update when the page has room (sql/003_queued_mark.sql); the API shows
 * such a PENDING row as PROCESSING.  A join on the primary key, since
 * "id = ANY($1) AND status = ..." lets the planner AND in the status
 * index, whose dead entries grow with traffic until a vacuum.
 * Its commit does not wait for the WAL flush (set_config(..., true)
 * lasts until the statement's own commit): a mark lost in a server
 * crash only lets the sweeper queue the row again, which the mailers'
 * claim deduplicates, while ~50 flushes a second queued behind the
 * POSTs' group commits for the one WAL device (issue 14).
 */
static const char notif_mark_sql[] =
    "WITH s AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "UPDATE email_notifications n SET queued_at = now(), updated_at = now() "
    "FROM unnest($1::bigint[]) AS a(id), s "
    "WHERE n.id = a.id AND n.status = 'PENDING' AND n.queued_at IS NULL";

/* One UPDATE for the ids, through a connection of the pool arg. */
int
notif_mark_queued(void *arg, const int64_t *ids, size_t n, char *err,
    size_t len)
{
	struct db_pool *pool = arg;
	struct db_arr a = { 0 };
	const char *arr;
	PGresult *r = NULL;
	PGconn *c = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		db_arr_int(&a, ids[i]);
	if ((arr = db_arr_end(&a)) == NULL)
		snprintf(err, len, "out of memory");
	else if ((c = db_pool_get(pool, err, len)) != NULL)
		r = db_query(c, notif_mark_sql, 1, &arr, err, len);
	if (arr != NULL && r == NULL)
		stats_add(CTR_DB_ERRORS, 1);
	if (c != NULL)
		db_pool_put(pool, c);
	PQclear(r);
	db_arr_free(&a);
	return r != NULL ? 0 : -1;
}
