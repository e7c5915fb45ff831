/*
 * sweeper_due.c - the sweeper's due scan: scheduled notifications whose
 * send_at passed become PENDING and go on the email topic.
 *
 * Runs every email.schedule_scan_interval, and at the next send_at it
 * knows of, so delivery starts well within a second of sendAt.  The
 * claim is one UPDATE over the head of the partial index on send_at
 * (sql/009): rows scheduled far ahead are never read, however many.
 * FOR UPDATE SKIP LOCKED and the status guard let several instances
 * scan one database without both claiming a row.  A claimed row is
 * PENDING with queued_at NULL exactly like a fresh POST, so the sweep's
 * never-queued recovery (sweeper.pending_after) covers a produce that
 * fails or a process that dies before it.  Never sends mail.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "channel.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "queue.h"
#include "stats.h"
#include "sweeper_due.h"

/* Claimed per statement; a full batch is followed by another at once. */
#define SWEEPER_DUE_BATCH	"1000"

static const char sweeper_due_sql_claim[] =
    "UPDATE email_notifications n SET status = 'PENDING', queued_at = NULL,"
    " updated_at = now() "
    "WHERE n.id IN (SELECT id FROM email_notifications"
    "   WHERE status = 'SCHEDULED' AND send_at <= now()"
    "   ORDER BY send_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
    " AND n.status = 'SCHEDULED' "
    "RETURNING n.id, n.type";

/* Seconds until the earliest row still scheduled is due (NULL: none). */
static const char sweeper_due_sql_next[] =
    "SELECT extract(epoch from min(send_at) - now())::float8"
    " FROM email_notifications WHERE status = 'SCHEDULED'";

/* Produces the claimed ids; Kafka's ack marks them queued (queue.c). */
static void
sweeper_due_produce(struct queue *q, const PGresult *res)
{
	int i, n = PQntuples(res), refused = 0;
	int64_t id;

	for (i = 0; i < n; i++) {
		id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		log_ctx_int("notification_id", id);
		log_debug("due: scheduled notification queued");
		log_ctx_clear();
		refused += queue_send_to(q, channel_topic(conf,
		    PQgetvalue(res, i, 1)), id) == -1;
	}
	if (refused > 0)
		log_warnx("due: Kafka refused %d of %d scheduled notifications; "
		    "the sweep requeues them after sweeper.pending_after",
		    refused, n);
	else
		log_info("due: %d scheduled notifications queued", n);
}

/* Seconds to the next send_at, at most the scan interval; -1: error. */
static double
sweeper_due_next(PGconn *db)
{
	double wait = conf->email_schedule_scan_interval, d;
	char err[DB_ERRLEN];
	PGresult *res;

	if ((res = db_query(db, sweeper_due_sql_next, 0, NULL, err,
	    sizeof(err))) == NULL) {
		log_warnx("due scan: %s", err);
		return -1;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		d = strtod(PQgetvalue(res, 0, 0), NULL);
		if (d < wait)
			wait = d > 0.01 ? d : 0.01;	/* a claim in flight: soon */
	}
	PQclear(res);
	return wait;
}

/*
 * Claims and produces what is due; returns the seconds until the next
 * scan is worth running (0 when a full batch suggests more are due).
 */
double
sweeper_due_scan(PGconn *db, struct queue *q)
{
	const char *p[1] = { SWEEPER_DUE_BATCH };
	char err[DB_ERRLEN];
	PGresult *res;
	double wait;
	int n;

	if ((res = db_query(db, sweeper_due_sql_claim, 1, p, err,
	    sizeof(err))) == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("due scan: %s", err);
		return conf->email_schedule_scan_interval;
	}
	n = PQntuples(res);
	if (n > 0)
		sweeper_due_produce(q, res);
	PQclear(res);
	if (n >= atoi(SWEEPER_DUE_BATCH))
		return 0;
	wait = sweeper_due_next(db);
	return wait < 0 ? conf->email_schedule_scan_interval : wait;
}
