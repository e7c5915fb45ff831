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

/*
 * Runs a statement prepared on this connection, preparing it first (in
 * the same round trip) when it is not: the hot statements of a worker
 * are then parsed and planned once, not per batch.  Any doubt (a
 * failure, a new backend) makes the next send prepare it again under a
 * fresh name, so a name is never prepared twice.
 */
int
db_pipe_send_named(PGconn *c, struct db_pipe_stmt *st,
    const char *const *params, char *err, size_t len)
{
	int pid = PQbackendPID(c);

	st->sent_pid = 0;
	if (PQpipelineStatus(c) == PQ_PIPELINE_OFF &&
	    PQenterPipelineMode(c) != 1) {
		snprintf(err, len, "%s", db_errmsg(NULL, c));
		return -1;
	}
	if (st->pid != pid || pid == 0) {
		snprintf(st->name, sizeof(st->name), "%s_%u", st->base,
		    ++st->gen);
		if (PQsendPrepare(c, st->name, st->sql, st->nparams,
		    NULL) != 1) {
			snprintf(err, len, "%s", db_errmsg(NULL, c));
			return -1;
		}
		st->pid = 0;
		st->sent_pid = pid;
	}
	if (PQsendQueryPrepared(c, st->name, st->nparams, params, NULL, NULL,
	    0) != 1 || PQpipelineSync(c) != 1) {
		snprintf(err, len, "%s", db_errmsg(NULL, c));
		return -1;
	}
	return 0;
}

static bool
db_pipe_ok(const PGresult *r)
{
	return PQresultStatus(r) == PGRES_TUPLES_OK ||
	    PQresultStatus(r) == PGRES_COMMAND_OK;
}

/*
 * The result of what was queued before the next sync (a statement, or
 * a prepare and its statement), waiting for it: the first failure, or
 * else the last result.  NULL with err when it failed (or the
 * connection did).  The caller clears the result.
 */
PGresult *
db_pipe_result(PGconn *c, char *err, size_t len)
{
	PGresult *r, *res = NULL;
	int nulls = 0;

	while (!db_broken(c)) {
		if ((r = PQgetResult(c)) == NULL) {
			if (++nulls == 2)
				break;	/* nothing queued: no sync to wait for */
			continue;
		}
		nulls = 0;
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (res == NULL || db_pipe_ok(res)) {
			PQclear(res);
			res = r;
		} else
			PQclear(r);	/* after a failure: aborted */
	}
	if (res != NULL && db_pipe_ok(res))
		return res;
	snprintf(err, len, "%s", db_errmsg(res, c));
	PQclear(res);
	return NULL;
}

/* db_pipe_result for a db_pipe_send_named: records whether it is prepared. */
PGresult *
db_pipe_result_named(PGconn *c, struct db_pipe_stmt *st, char *err,
    size_t len)
{
	PGresult *res = db_pipe_result(c, err, len);

	if (res == NULL)
		st->pid = 0;
	else if (st->sent_pid != 0)
		st->pid = st->sent_pid;
	st->sent_pid = 0;
	return res;
}

/* Back to one statement at a time, once every result was read. */
void
db_pipe_end(PGconn *c)
{
	if (c != NULL && PQpipelineStatus(c) != PQ_PIPELINE_OFF)
		(void)PQexitPipelineMode(c);
}
