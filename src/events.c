/*
 * events.c - the delivery events role (one process while events.endpoint
 * is set): sends the outbox delivery_events (sql/018, filled by triggers
 * in the transactions that change notifications) to events.endpoint,
 * signed like any webhook (webhook_deliver.c).
 *
 * Each event is taken with a lease, POSTed, and marked delivered only
 * after the endpoint's 2xx: at-least-once, even across kill -9 (an
 * event sent but not yet marked is sent again; the receiver dedupes on
 * webhook-id "evt_<id>", also the body's id).  Any other answer is
 * retried with email.retry.*'s backoff (capped by sweeper.max_delay),
 * never sooner than Retry-After, and never given up: an event is never
 * lost.  Events are taken in id order; one that fails does not hold the
 * others back.  Never changes a notification.
 *
 * The body: {"type", "id", "notificationId", "at", ...the type's data}.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "notif.h"
#include "proc.h"
#include "roles.h"
#include "stats.h"
#include "util.h"
#include "webhook_deliver.h"
#include "webhook_http.h"
#include "webhook_reply.h"
#include "worker.h"

struct events {
	PGconn		*db;		/* link.conn */
	struct db_link	 link;
	struct webhook_http *http;
	char		 owner[96];
	bool		 synced;	/* delivery_event_settings written */
	double		 gauge_at;	/* next count of the backlog */
};

#define EVENTS_GAUGE_EVERY	5.0	/* s between counts of the backlog */

/* (Re)connects with a capped backoff; false while the database is out. */
static bool
events_db(struct events *ev)
{
	return (ev->db = worker_db(&ev->link)) != NULL;
}

/*
 * Recording on, with events.attempts; and the leases of an earlier
 * sender of this host (this instance's, killed) let go at once rather
 * than after email.lease: what it had in flight is sent again now.
 */
static const char events_sql_settings[] =
    "WITH r AS (UPDATE delivery_events SET lease_until = NULL"
    "  WHERE delivered_at IS NULL AND lease_until IS NOT NULL"
    "  AND lease_owner LIKE $2 AND lease_owner <> $3 RETURNING 1) "
    "UPDATE delivery_event_settings SET enabled = true, attempts = $1,"
    " updated_at = now() RETURNING (SELECT count(*) FROM r)";

/* Turns recording on (and events.attempts) once per process. */
static void
events_sync(struct events *ev)
{
	char like[120], err[DB_ERRLEN];
	const char *p[3] = { conf->events_attempts ? "true" : "false", like,
	    ev->owner };
	PGresult *res;

	if (ev->synced)
		return;
	/* owner is host:pid:events/i; a host name holds no LIKE pattern
	 * character but '_', which matches itself too. */
	snprintf(like, sizeof(like), "%.*s:%%:events/%%",
	    (int)strcspn(ev->owner, ":"), ev->owner);
	if ((res = db_query(ev->db, events_sql_settings, 3, p, err,
	    sizeof(err))) == NULL) {
		log_warnx("delivery_event_settings: %s", err);
		return;
	}
	if (PQntuples(res) > 0 && atoi(PQgetvalue(res, 0, 0)) > 0)
		log_info("%s delivery events held by an earlier sender of this "
		    "host: sent again", PQgetvalue(res, 0, 0));
	PQclear(res);
	ev->synced = true;
	proc_ready();
}

/* The next events due, in id order, leased to us for email.lease. */
static const char events_sql_take[] =
    "WITH t AS (UPDATE delivery_events e SET attempts = e.attempts + 1,"
    "  lease_until = now() + $3::float8 * interval '1 second',"
    "  lease_owner = $1"
    " FROM (SELECT id FROM delivery_events WHERE delivered_at IS NULL"
    "  AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
    "  AND (lease_until IS NULL OR lease_until < now())"
    "  ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) s"
    " WHERE e.id = s.id RETURNING e.id, e.type, e.notification_id,"
    "  to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    "  e.data::text, e.attempts) "
    "SELECT * FROM t ORDER BY id";

static const char events_sql_done[] =
    "UPDATE delivery_events SET delivered_at = now(), lease_until = NULL,"
    " last_error = NULL WHERE id = $1 AND lease_owner = $2";

static const char events_sql_later[] =
    "UPDATE delivery_events SET lease_until = NULL, last_error = $3,"
    " next_attempt_at = now() + $4::float8 * interval '1 second' "
    "WHERE id = $1 AND lease_owner = $2";

/* The body of row i of the take: its data with the common members. */
static char *
events_body(const PGresult *res, int i)
{
	json_error_t je;
	json_t *doc;
	char *out;

	if ((doc = json_loads(PQgetvalue(res, i, 4), 0, &je)) == NULL ||
	    !json_is_object(doc))
		doc = json_object();
	json_object_set_new(doc, "type", json_string(PQgetvalue(res, i, 1)));
	json_object_set_new(doc, "id", json_sprintf("evt_%s",
	    PQgetvalue(res, i, 0)));
	json_object_set_new(doc, "notificationId", json_integer(strtoll(
	    PQgetvalue(res, i, 2), NULL, 10)));
	json_object_set_new(doc, "at", json_string(PQgetvalue(res, i, 3)));
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (out == NULL)
		fatalx("out of memory");
	return out;
}

/* Records what became of one event: delivered, or to try again later. */
static void
events_record(struct events *ev, const char *id, int tries,
    const struct channel_attempt *a)
{
	char delay[32], err[DB_ERRLEN];
	const char *p[4] = { id, ev->owner, a->text, delay };
	double d;
	PGresult *res;
	bool ok = webhook_reply_classify(a) == CHANNEL_SENT;

	d = notif_backoff(tries, conf->email_retry_initial,
	    conf->email_retry_multiplier, conf->sweeper_max_delay);
	if (a->retry_after > d)
		d = a->retry_after;
	snprintf(delay, sizeof(delay), "%.3f", d);
	stats_add(ok ? CTR_EVENTS_DELIVERED : CTR_EVENTS_RETRIED, 1);
	if (!ok)
		log_warnx("event evt_%s: attempt %d to %s: %d %s; again in "
		    "%.1f s", id, tries, conf->events_endpoint, a->code, a->text,
		    d);
	if ((res = db_query(ev->db, ok ? events_sql_done : events_sql_later,
	    ok ? 2 : 4, p, err, sizeof(err))) == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("event evt_%s: recording it: %s (its lease expires; "
		    "it is sent again)", id, err);
	}
	PQclear(res);
}

/*
 * The backlog for /metrics (stats page): how many are left and how old
 * the oldest is.  The partial index holds only what is left, so the
 * count costs what the backlog is, every EVENTS_GAUGE_EVERY seconds.
 */
static const char events_sql_backlog[] =
    "SELECT count(*), coalesce(floor(extract(epoch from now() - min(at))),"
    " 0)::bigint FROM delivery_events WHERE delivered_at IS NULL";

static void
events_gauge(struct events *ev)
{
	char err[DB_ERRLEN];
	PGresult *res;

	if (util_now() < ev->gauge_at)
		return;
	ev->gauge_at = util_now() + EVENTS_GAUGE_EVERY;
	if ((res = db_query(ev->db, events_sql_backlog, 0, NULL, err,
	    sizeof(err))) == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("counting delivery events left to send: %s", err);
		return;
	}
	__atomic_store_n(&stats->events_pending, strtoll(PQgetvalue(res, 0, 0),
	    NULL, 10), __ATOMIC_RELAXED);
	__atomic_store_n(&stats->events_oldest_s, strtoll(PQgetvalue(res, 0,
	    1), NULL, 10), __ATOMIC_RELAXED);
	PQclear(res);
}

/* Sends one taken event and records the answer. */
static void
events_send(struct events *ev, const PGresult *res, int i)
{
	struct channel_attempt a;
	char wid[40], *body = events_body(res, i);

	snprintf(wid, sizeof(wid), "evt_%s", PQgetvalue(res, i, 0));
	if (webhook_deliver(ev->http, conf, conf->events_endpoint, wid, body,
	    strlen(body), &a) == -1)
		a.code = 0;
	free(body);
	events_record(ev, PQgetvalue(res, i, 0), atoi(PQgetvalue(res, i, 5)),
	    &a);
}

/* Takes a batch and sends it; false when there was nothing to take. */
static bool
events_turn(struct events *ev)
{
	char batch[16], lease[32], err[DB_ERRLEN];
	const char *p[3] = { ev->owner, batch, lease };
	PGresult *res;
	int i, n;

	snprintf(batch, sizeof(batch), "%d", conf->events_batch);
	snprintf(lease, sizeof(lease), "%.3f", conf->email_lease);
	if ((res = db_query(ev->db, events_sql_take, 3, p, err,
	    sizeof(err))) == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("taking delivery events: %s", err);
		return false;
	}
	n = PQntuples(res);
	for (i = 0; i < n && proc_running(); i++)
		events_send(ev, res, i);
	PQclear(res);
	if (n > 0)
		log_debug("delivery events: %d sent to %s", i,
		    conf->events_endpoint);
	return n > 0;
}

int
events_main(const struct proc_info *pi)
{
	struct events ev;
	char err[256];

	memset(&ev, 0, sizeof(ev));
	worker_owner(ev.owner, sizeof(ev.owner), "events", pi->index);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (ev.http = webhook_http_new(err, sizeof(err))) == NULL) {
		log_error("events: cannot set up libcurl");
		return 1;
	}
	while (proc_running()) {
		if (!events_db(&ev)) {
			util_sleep(0.2);
			continue;
		}
		events_sync(&ev);
		events_gauge(&ev);
		if (!ev.synced || !events_turn(&ev))
			util_sleep(conf->events_poll_interval);
	}
	webhook_http_free(ev.http);
	db_link_close(&ev.link);
	curl_global_cleanup();
	return 0;
}
