/*
 * db_pipe.c - statements sent ahead on a connection (libpq's pipeline
 * mode), their results read later, in the order they were sent.
 *
 * A worker that waits for each statement leaves its other work idle for
 * a round trip and, at commit, a WAL flush.  Sent ahead, the statement
 * runs on the server while the worker goes on (the mailer: its SMTP
 * sends).  Each statement is followed by a sync, so it is a transaction
 * of its own and one that fails does not abort the next.  Plumbing
 * only: the SQL and what a result means are the caller's.  Between
 * db_pipe_send and db_pipe_end the connection takes no other statement
 * (db_query would fail in pipeline mode).
 */
#include "config.h"

#include <stdio.h>

#include "db.h"
#include "db_pipe.h"

/* Queues one parameterised statement and its sync; 0 or -1 with err. */
int
db_pipe_send(PGconn *c, const char *sql, int n, const char *const *params,
    char *err, size_t len)
{
	if ((PQpipelineStatus(c) == PQ_PIPELINE_OFF &&
	    PQenterPipelineMode(c) != 1) ||
	    PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0) != 1 ||
	    PQpipelineSync(c) != 1) {
		snprintf(err, len, "%s", db_errmsg(NULL, c));
		return -1;
	}
	return 0;
}

/* Reads up to the sync that follows a statement (libpq's own order). */
static void
db_pipe_sync(PGconn *c)
{
	PGresult *r;

	if (db_broken(c))
		return;
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		PQclear(r);
		if (st == PGRES_PIPELINE_SYNC || db_broken(c))
			return;
	}
}

/*
 * The next statement's result, waiting for it; NULL with err when it
 * failed (or the connection did).  The caller clears the result.
 */
PGresult *
db_pipe_result(PGconn *c, char *err, size_t len)
{
	PGresult *r, *res = NULL;

	while (!db_broken(c) && (r = PQgetResult(c)) != NULL) {
		if (res == NULL)
			res = r;
		else
			PQclear(r);	/* one statement, one result */
	}
	db_pipe_sync(c);
	if (res != NULL && (PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK))
		return res;
	snprintf(err, len, "%s", db_errmsg(res, c));
	PQclear(res);
	return NULL;
}

/* Back to one statement at a time, once every result was read. */
void
db_pipe_end(PGconn *c)
{
	if (c != NULL && PQpipelineStatus(c) != PQ_PIPELINE_OFF)
		(void)PQexitPipelineMode(c);
}
