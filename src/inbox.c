/*
 * inbox.c - the inbox worker role (inbox.workers processes): delivers
 * IN_APP notifications.
 *
 * Consumes inbox.topic (where the api, the sweeper and the due scan put
 * IN_APP rows: channel_inapp.c's topic) in a consumer group and, for
 * each batch of ids, runs one statement that marks the rows SENT and
 * adds their attempt to the history.  That commit is the delivery: sql/
 * 017's trigger gives each row its inbox_seq and notifies every api
 * process (their live streams) inside it.  The statement is guarded by
 * type and status, so a duplicate message, a cancelled or an already
 * delivered row changes nothing: no claim or lease is needed, as nothing
 * happens between "claim" and "sent".  Offsets are stored only after the
 * commit: at-least-once, and idempotent.  Its own role and topic rather
 * than the mailers': an IN_APP row needs neither SMTP nor the mailer's
 * retries, and its latency is not tied to the mail queue's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "db.h"
#include "kafka_worker.h"
#include "log.h"
#include "proc.h"
#include "roles.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

#define INBOX_BATCH	256

struct inbox_msg {
	int64_t		 id;
	int32_t		 partition;
	int64_t		 offset;
};

struct inbox {
	rd_kafka_t	*rk;
	struct db_link	 link;
	struct inbox_msg msgs[INBOX_BATCH];
	size_t		 n;		/* read, not yet delivered */
	double		 retry_at;	/* after a failed delivery */
};

/* inbox.topic's consumer; its first assignment makes us ready. */
static rd_kafka_t *
inbox_consumer(char *err, size_t len)
{
	const char *const extra[] = {
		"socket.nagle.disable", "true",
		/* the topic may not exist before the first IN_APP POST: the
		 * subscription creates it (where the broker allows) instead of
		 * waiting for a metadata refresh to find it (5 minutes) */
		"allow.auto.create.topics", "true",
		NULL
	};

	return kafka_worker_new(conf->inbox_group_id, conf->inbox_topic, extra,
	    err, len);
}

/* Marks messages done for Kafka: committed with the next auto-commit. */
static void
inbox_store_offsets(struct inbox *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		kafka_worker_store(w->rk, conf->inbox_topic,
		    w->msgs[i].partition, w->msgs[i].offset);
	w->n = 0;
}

/* Reads up to a batch: waits 100 ms for the first, not for the rest. */
static void
inbox_poll(struct inbox *w)
{
	rd_kafka_message_t *km;

	while (w->n < INBOX_BATCH && (km = rd_kafka_consumer_poll(w->rk,
	    w->n == 0 ? 100 : 0)) != NULL) {
		if (km->err) {
			if (km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warnx("consume %s: %s", conf->inbox_topic,
				    rd_kafka_message_errstr(km));
		} else {
			if ((w->msgs[w->n].id = kafka_worker_msg_id(km)) < 0)
				log_warnx("%s [%d] offset %lld: not a "
				    "notification id; skipped",
				    conf->inbox_topic, (int)km->partition,
				    (long long)km->offset);
			w->msgs[w->n].partition = km->partition;
			w->msgs[w->n++].offset = km->offset;
		}
		rd_kafka_message_destroy(km);
	}
}

/*
 * The delivery of a batch: SENT, one attempt in the history.  A row
 * whose user opted out of its category since it was accepted becomes
 * SUPPRESSED instead, as in the mailer's claim.  The address list
 * (bounces) is about email addresses: no recipient is passed.
 */
static const char inbox_sql_deliver[] =
    "WITH d AS (UPDATE email_notifications n SET"
    "  suppressed_reason = email_suppression_reason(NULL, n.user_id,"
    "   n.category),"
    "  status = CASE WHEN email_suppression_reason(NULL, n.user_id,"
    "   n.category) IS NULL THEN 'SENT' ELSE 'SUPPRESSED' END,"
    "  attempts = n.attempts + 1, sent_at = now(), lease_until = NULL,"
    "  updated_at = now()"
    " FROM (SELECT DISTINCT id FROM unnest($1::bigint[]) AS u(id)) AS a"
    " WHERE n.id = a.id AND n.type = 'IN_APP'"
    "  AND n.status IN ('PENDING', 'PROCESSING')"
    " RETURNING n.id, n.attempts, n.status)"
    "INSERT INTO email_attempts (notification_id, attempt, smtp_text,"
    " outcome) SELECT id, attempts, CASE WHEN status = 'SENT' THEN"
    " 'delivered to the inbox' ELSE 'suppressed' END,"
    " CASE WHEN status = 'SENT' THEN 'sent' ELSE 'suppressed' END FROM d"
    " ON CONFLICT DO NOTHING RETURNING outcome";

/* Delivers what was read; on failure keeps it for a later try. */
static void
inbox_deliver(struct inbox *w)
{
	struct db_arr ids = { 0 };
	char err[DB_ERRLEN] = "out of memory";
	const char *p[1];
	PGconn *c;
	PGresult *res = NULL;
	size_t i;
	int sent = 0;

	if (w->n == 0 || util_now() < w->retry_at ||
	    (c = worker_db(&w->link)) == NULL)
		return;
	for (i = 0; i < w->n; i++)
		if (w->msgs[i].id > 0)
			db_arr_int(&ids, w->msgs[i].id);
	if ((p[0] = db_arr_end(&ids)) == NULL ||
	    (res = db_query(c, inbox_sql_deliver, 1, p, err,
	    sizeof(err))) == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("delivering %zu inbox notifications: %s (retrying)",
		    w->n, err);
		w->retry_at = util_now() + 0.5;
		db_arr_free(&ids);
		return;
	}
	for (i = 0; i < (size_t)PQntuples(res); i++)
		sent += strcmp(PQgetvalue(res, (int)i, 0), "sent") == 0;
	stats_add(CTR_NOTIF_SENT, (uint64_t)sent);
	PQclear(res);
	db_arr_free(&ids);
	inbox_store_offsets(w);
}

int
inbox_main(const struct proc_info *pi)
{
	struct inbox w;
	char err[512];
	int rc = 0;

	(void)pi;
	memset(&w, 0, sizeof(w));
	if ((w.rk = inbox_consumer(err, sizeof(err))) == NULL) {
		log_error("inbox consumer: %s", err);
		return EXIT_CONFIG;
	}
	if (worker_db(&w.link) == NULL)
		rc = 1;	/* not ready: the master throttles our respawn */
	/* proc_ready() comes with the first assignment (kafka_worker.c) */
	while (rc == 0 && proc_running()) {
		if (w.n < INBOX_BATCH && util_now() >= w.retry_at)
			inbox_poll(&w);
		else
			util_sleep(0.05);
		inbox_deliver(&w);
	}
	kafka_worker_close(w.rk);
	db_link_close(&w.link);
	return rc;
}
