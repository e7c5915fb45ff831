/*
 * sweeper.c - the sweeper role (one process): requeues what fell out.
 *
 * Every sweeper.interval it moves back to PENDING, and queues again:
 * FAILED rows that are not permanent whose next_attempt_at passed (at
 * most sweeper.max_requeues times), PENDING rows Kafka never
 * acknowledged after sweeper.pending_after, and rows whose worker lease
 * expired (the worker died mid-send).  FOR UPDATE SKIP LOCKED lets
 * several notifyd instances sweep one database.  Between sweeps it runs
 * the due scan of scheduled notifications (sweeper_due.c), on a tighter
 * clock of its own.  Never sends mail.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_store.h"
#include "channel.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "notif_mark.h"
#include "proc.h"
#include "roles.h"
#include "queue.h"
#include "stats.h"
#include "sweeper_due.h"
#include "util.h"

static const char sweeper_sql[] =
    "WITH f AS (SELECT id FROM email_notifications WHERE status = 'FAILED'"
    "   AND NOT permanent AND next_attempt_at <= now() AND requeues < $1"
    "   ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " p AS (SELECT id FROM email_notifications WHERE status = 'PENDING'"
    "   AND queued_at IS NULL AND lease_until IS NULL"
    "   AND updated_at < now() - $3::float8 * interval '1 second'"
    "   ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " l AS (SELECT id FROM email_notifications"
    "   WHERE status IN ('PENDING', 'PROCESSING') AND lease_until < now()"
    "   ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " s AS (SELECT id, 'failed' AS why FROM f UNION ALL"
    "   SELECT id, 'pending' FROM p UNION ALL SELECT id, 'lease' FROM l) "
    "UPDATE email_notifications n SET status = 'PENDING',"
    " requeues = n.requeues + CASE WHEN n.status = 'FAILED' THEN 1 ELSE 0 END,"
    " queued_at = NULL, lease_until = NULL, lease_owner = NULL,"
    " next_attempt_at = NULL, updated_at = now() "
    "FROM s WHERE n.id = s.id RETURNING n.id, s.why, n.type";

struct sweeper {
	PGconn		*db;		/* link.conn */
	struct db_link	 link;
	struct db_pool	*pool;		/* the queue's marks */
	struct queue	*queue;
};

/* Picks and resets the rows to requeue; NULL on a database error. */
static PGresult *
sweeper_pick(struct sweeper *s)
{
	char maxr[16], batch[16], after[32], err[DB_ERRLEN];
	const char *p[3] = { maxr, batch, after };
	PGresult *res;

	snprintf(maxr, sizeof(maxr), "%d", conf->sweeper_max_requeues);
	snprintf(batch, sizeof(batch), "%d", conf->sweeper_batch);
	snprintf(after, sizeof(after), "%.3f", conf->sweeper_pending_after);
	if ((res = db_query(s->db, sweeper_sql, 3, p, err, sizeof(err))) == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("sweep: %s", err);
	}
	return res;
}

/* One debug line per requeued notification, its id as log context. */
static void
sweeper_log_row(const PGresult *res, int i, int acked)
{
	const char *why = PQgetvalue(res, i, 1);

	log_ctx_int("notification_id", strtoll(PQgetvalue(res, i, 0), NULL, 10));
	log_debug("sweep: requeued (%s)%s", why[0] == 'f' ? "failed" :
	    why[0] == 'p' ? "unqueued pending" : "expired lease",
	    acked ? "" : "; Kafka did not acknowledge it in time");
	log_ctx_clear();
}

/* Queues the picked ids and waits (bounded) for Kafka to take them. */
static int
sweeper_queue(struct sweeper *s, const PGresult *res)
{
	struct queue_ticket **t;
	int i, n = PQntuples(res), acked = 0;
	double until = util_now() + 5;

	if ((t = calloc((size_t)n, sizeof(*t))) == NULL)
		fatalx("out of memory");
	for (i = 0; i < n; i++)
		t[i] = queue_push_to(s->queue, channel_topic(conf,
		    PQgetvalue(res, i, 2)), strtoll(PQgetvalue(res, i, 0), NULL, 10));
	for (i = 0; i < n; i++) {
		double left = until - util_now();
		int ok = t[i] != NULL &&
		    queue_ticket_wait(t[i], left > 0 ? left : 0) == QUEUE_ACKED;

		acked += ok;
		sweeper_log_row(res, i, ok);
		queue_ticket_free(t[i]);
	}
	free(t);
	(void)queue_flush_marks(s->queue);
	return acked;
}

static void
sweeper_sweep(struct sweeper *s)
{
	int i, n, failed = 0, pending = 0, lease = 0, acked;
	PGresult *res;

	if ((res = sweeper_pick(s)) == NULL)
		return;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		const char *why = PQgetvalue(res, i, 1);
		failed += why[0] == 'f';
		pending += why[0] == 'p';
		lease += why[0] == 'l';
	}
	acked = n > 0 ? sweeper_queue(s, res) : 0;
	PQclear(res);
	stats_add(CTR_NOTIF_REQUEUED, (uint64_t)n);
	if (n > 0)
		log_info("sweep: requeued %d (failed %d, unqueued pending %d, "
		    "expired lease %d); Kafka acknowledged %d", n, failed,
		    pending, lease, acked);
	else
		log_debug("sweep: nothing to requeue");
}

static const char sweeper_sql_events_off[] =
    "UPDATE delivery_event_settings SET enabled = false, updated_at = now()"
    " WHERE enabled";

/*
 * Without events.endpoint nobody reads the delivery events outbox
 * (sql/018_events.sql): stop recording it, or it grows without end.
 * The events role turns recording on; this runs at every sweep (one
 * row, usually no change) because the sweeper runs whatever channels
 * are configured, the webhook workers not without endpoints.
 */
static void
sweeper_events_off(struct sweeper *s)
{
	char err[DB_ERRLEN];
	PGresult *res;

	if (*conf->events_endpoint != '\0')
		return;
	if ((res = db_query(s->db, sweeper_sql_events_off, 0, NULL, err,
	    sizeof(err))) == NULL) {
		log_warnx("delivery_event_settings: %s", err);
		return;
	}
	if (atoi(PQcmdTuples(res)) > 0)
		log_info("events.endpoint is empty: delivery events no longer "
		    "recorded");
	PQclear(res);
}

/* Reconnects when the connection broke; false while the database is out. */
static bool
sweeper_db(struct sweeper *s)
{
	const struct db_opts o = { conf->database_connect_timeout,
	    conf->database_worker_statement_timeout, 0 };
	char err[DB_ERRLEN];

	s->link.conninfo = conf->database_conninfo;
	s->link.opts = o;	/* no backoff: the sweep interval paces */
	if (db_link_check(&s->link, err, sizeof(err)) == DB_LINK_FAILED)
		log_warnx("sweep skipped: database: %s", err);
	s->db = s->link.conn;
	return s->db != NULL;
}

/*
 * The due scan, on the connection the sweeps keep open (a broken one
 * waits for the next sweep to reconnect, so an outage logs once per
 * sweep, not per scan); seconds until the next one.
 */
static double
sweeper_due(struct sweeper *s)
{
	if (s->db == NULL || PQstatus(s->db) != CONNECTION_OK)
		return conf->email_schedule_scan_interval;
	return sweeper_due_scan(s->db, s->queue);
}

/* Sleeps until the sooner deadline, at most 0.1 s: flags are checked. */
static double
sweeper_nap(double next, double due)
{
	double d = (next < due ? next : due) - util_now();

	return d > 0.1 ? 0.1 : d > 0 ? d : 0;
}

int
sweeper_main(const struct proc_info *pi)
{
	const struct db_opts o = { conf->database_connect_timeout,
	    conf->database_worker_statement_timeout, 0 };
	struct sweeper s;
	struct queue_mark mark = { notif_mark_queued, NULL };
	char err[512];
	double next, due;

	memset(&s, 0, sizeof(s));
	s.link.conninfo = conf->database_conninfo;
	s.link.opts = o;
	if (db_link_check(&s.link, err, sizeof(err)) != DB_LINK_OPENED) {
		log_error("database: %s", err);
		return 1;	/* not ready: the master throttles our respawn */
	}
	s.db = s.link.conn;
	if ((s.pool = db_pool_new_opts(conf->database_conninfo, 1, &o)) == NULL)
		fatalx("out of memory");
	mark.arg = s.pool;
	if ((s.queue = queue_new(&mark, err, sizeof(err))) == NULL) {
		log_error("email producer: %s", err);
		db_link_close(&s.link);
		db_pool_free(s.pool);
		return EXIT_CONFIG;
	}
	proc_ready();
	/* Not fatal: the first produce fetches the metadata itself. */
	if (queue_warm(s.queue, conf->email_topic, err, sizeof(err)) == -1)
		log_warnx("email topic metadata: %s", err);
	for (next = due = util_now(); proc_running();
	    util_sleep(sweeper_nap(next, due))) {
		if (util_now() >= due)
			due = util_now() + sweeper_due(&s);
		if (util_now() < next)
			continue;
		if (sweeper_db(&s)) {
			sweeper_sweep(&s);
			sweeper_events_off(&s);
			if (api_store_rate_sweep(s.db, err, sizeof(err)) == -1)
				log_warnx("sweep of user_rate: %s", err);
		}
		next = util_now() + conf->sweeper_interval;
	}
	queue_free(s.queue);
	db_pool_free(s.pool);
	db_link_close(&s.link);
	return 0;
}
