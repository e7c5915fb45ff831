/*
 * queue.c - the email topic's producer and its acknowledgements.
 *
 * Owns one idempotent acks=all producer, a thread serving its delivery
 * reports, and a thread that turns acknowledged ids into one UPDATE per
 * few milliseconds.  The sweeper waits on a ticket for each ack with a
 * bound (POSTs use queue_send and wait for none); the ticket is reference
 * counted because the ack may come after the waiter gave up.  Losing a mark is harmless: the sweeper requeues
 * PENDING rows, and workers claim each row once.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "notif.h"
#include "queue.h"
#include "stats.h"
#include "util.h"

struct queue_ticket {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 refs;
	enum queue_state state;
	int64_t		 id;
};

struct queue {
	rd_kafka_t	*rk;
	struct queue_mark mark;
	pthread_t	 poller, marker;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int64_t		*acked;		/* ids waiting for their mark */
	size_t		 nacked, cap;
	volatile int	 stop;
};

static void
queue_ticket_unref(struct queue_ticket *t)
{
	int left;

	pthread_mutex_lock(&t->mu);
	left = --t->refs;
	pthread_mutex_unlock(&t->mu);
	if (left == 0) {
		pthread_mutex_destroy(&t->mu);
		pthread_cond_destroy(&t->cv);
		free(t);
	}
}

static void
queue_note_acked(struct queue *q, int64_t id)
{
	int64_t *n;

	pthread_mutex_lock(&q->mu);
	if (q->nacked == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 256;
		if ((n = realloc(q->acked, q->cap * sizeof(*n))) == NULL) {
			q->cap = q->nacked;
			pthread_mutex_unlock(&q->mu);
			return;	/* the sweeper will mark it */
		}
		q->acked = n;
	}
	q->acked[q->nacked++] = id;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Delivery report: runs on the poller thread. */
static void
queue_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct queue *q = opaque;
	struct queue_ticket *t = m->_private;

	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		stats_add(CTR_NOTIF_QUEUED, 1);
		queue_note_acked(q, t->id);
	} else {
		stats_add(CTR_KAFKA_ERRORS, 1);
		log_warnx("notification %lld: not queued on %s: %s",
		    (long long)t->id, conf->email_topic, rd_kafka_err2str(m->err));
	}
	pthread_mutex_lock(&t->mu);
	t->state = m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? QUEUE_ACKED :
	    QUEUE_FAILED;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	queue_ticket_unref(t);
}

static void *
queue_poller(void *arg)
{
	struct queue *q = arg;

	while (!q->stop)
		rd_kafka_poll(q->rk, 50);
	return NULL;
}

/* One mark for every id acknowledged since the last one. */
int
queue_flush_marks(struct queue *q)
{
	char err[512];
	int64_t *ids;
	size_t n;
	int rc;

	pthread_mutex_lock(&q->mu);
	ids = q->acked;
	n = q->nacked;
	q->acked = NULL;
	q->nacked = q->cap = 0;
	pthread_mutex_unlock(&q->mu);
	if (n == 0)
		return 0;
	if ((rc = q->mark.mark(q->mark.arg, ids, n, err, sizeof(err))) == -1)
		log_warnx("marking %zu notifications queued: %s (the sweeper "
		    "will requeue them)", n, err);
	free(ids);
	return rc;
}

/*
 * Flushes marks at most every QUEUE_MARK_MS: each flush is a commit, and
 * under load acks arrive far faster than commits are worth spending on
 * them.  A mark only tells the sweeper the row is queued, so a few
 * milliseconds of delay cost nothing.
 */
#define QUEUE_MARK_MS	20

static void
queue_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	ts->tv_sec += ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

static void *
queue_marker(void *arg)
{
	struct queue *q = arg;
	struct timespec ts;

	while (!q->stop) {
		pthread_mutex_lock(&q->mu);
		queue_deadline(&ts, 100);
		while (q->nacked == 0 && !q->stop)
			if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0)
				break;
		pthread_mutex_unlock(&q->mu);
		(void)queue_flush_marks(q);
		/* Let acks gather (stop wakes it early through the cv). */
		pthread_mutex_lock(&q->mu);
		queue_deadline(&ts, QUEUE_MARK_MS);
		while (!q->stop)
			if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0)
				break;
		pthread_mutex_unlock(&q->mu);
	}
	return NULL;
}

static rd_kafka_t *
queue_producer(struct queue *q, char *err, size_t len)
{
	static const char *const defaults[] = {
		"acks", "all",
		"enable.idempotence", "true",
		/* Nobody waits for the ack any more (POSTs answer at commit).
		 * 2 ms of linger, not 0: at 0 every group's produce woke the
		 * broker thread for a request of its own; measured at c=8
		 * (issue 14), the mock broker's CPU fell from ~20 to ~5 us
		 * per POST on the two shared cores.  Delivery waits <= 2 ms
		 * more. */
		"linger.ms", "2",
		"message.timeout.ms", "60000",
		"socket.nagle.disable", "true",
		NULL
	};
	const struct kafka_opts ko = { conf->kafka_brokers,
	    conf->kafka_properties.v, conf->kafka_properties.n };
	rd_kafka_conf_t *kc;

	if ((kc = kafka_conf_new(&ko, defaults, err, len)) == NULL)
		return NULL;
	rd_kafka_conf_set_dr_msg_cb(kc, queue_dr);
	rd_kafka_conf_set_opaque(kc, q);
	return kafka_new(RD_KAFKA_PRODUCER, kc, err, len);
}

struct queue *
queue_new(const struct queue_mark *mark, char *err, size_t len)
{
	struct queue *q;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	q->mark = *mark;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if ((q->rk = queue_producer(q, err, len)) == NULL)
		goto fail;
	if (pthread_create(&q->poller, NULL, queue_poller, q) != 0)
		goto fail;
	if (pthread_create(&q->marker, NULL, queue_marker, q) != 0) {
		q->stop = 1;
		pthread_join(q->poller, NULL);
		goto fail;
	}
	return q;
fail:
	if (q->rk != NULL) {
		snprintf(err, len, "cannot start the producer's threads");
		rd_kafka_destroy(q->rk);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
	return NULL;
}

/* Waits briefly for what is in flight, then stops the threads. */
void
queue_free(struct queue *q)
{
	if (q == NULL)
		return;
	if (rd_kafka_flush(q->rk, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warnx("%d messages still unacknowledged at exit (the sweeper "
		    "requeues them)", rd_kafka_outq_len(q->rk));
	q->stop = 1;
	pthread_join(q->poller, NULL);
	pthread_mutex_lock(&q->mu);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->marker, NULL);
	(void)queue_flush_marks(q);
	rd_kafka_destroy(q->rk);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->acked);
	free(q);
}

/* Produces the id on the email topic (queue_push_to). */
struct queue_ticket *
queue_push(struct queue *q, int64_t id)
{
	return queue_push_to(q, conf->email_topic, id);
}

/* Produces the id on topic (a channel's: channel_topic; NULL: the email
 * topic); the ticket reports the ack (NULL when refused now). */
struct queue_ticket *
queue_push_to(struct queue *q, const char *topic, int64_t id)
{
	struct queue_ticket *t;
	char key[24];

	if (topic == NULL)
		topic = conf->email_topic;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->refs = 2;	/* the caller's and the delivery report's */
	t->id = id;
	notif_queue_key(id, key, sizeof(key));
	if (kafka_produce(q->rk, topic, key, key, strlen(key),
	    t) == -1) {
		stats_add(CTR_KAFKA_ERRORS, 1);
		t->refs = 1;
		t->state = QUEUE_FAILED;
	}
	return t;
}

/*
 * Produces the id without anyone waiting for its ack (the mark still
 * follows it): -1 when Kafka refused it at once, for the sweeper then.
 */
int
queue_send(struct queue *q, int64_t id)
{
	return queue_send_to(q, conf->email_topic, id);
}

/* queue_send on a channel's topic. */
int
queue_send_to(struct queue *q, const char *topic, int64_t id)
{
	struct queue_ticket *t;
	int rc;

	if ((t = queue_push_to(q, topic, id)) == NULL)
		return -1;
	rc = queue_ticket_wait(t, 0) == QUEUE_FAILED ? -1 : 0;
	queue_ticket_free(t);
	return rc;
}

/* Acked, failed, or still waiting after timeout seconds. */
enum queue_state
queue_ticket_wait(struct queue_ticket *t, double timeout)
{
	struct timespec ts;
	enum queue_state state;

	queue_deadline(&ts, (long)(timeout * 1000));
	pthread_mutex_lock(&t->mu);
	while (t->state == QUEUE_WAITING)
		if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
			break;
	state = t->state;
	pthread_mutex_unlock(&t->mu);
	return state;
}

void
queue_ticket_free(struct queue_ticket *t)
{
	if (t != NULL)
		queue_ticket_unref(t);
}

/*
 * Fetches a topic's metadata now, so that the first id produced to it
 * later does not wait for it (the sweeper's first due send was ~0.7 s
 * late against the mock without this, the api's first POST ~0.9 s).
 */
int
queue_warm(struct queue *q, const char *topic, char *why, size_t len)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	rd_kafka_topic_t *t;

	if ((t = rd_kafka_topic_new(q->rk, topic, NULL)) == NULL) {
		snprintf(why, len, "%s", rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	err = rd_kafka_metadata(q->rk, 0, t, &md, 1000);
	rd_kafka_topic_destroy(t);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(why, len, "%s", rd_kafka_err2str(err));
		return -1;
	}
	rd_kafka_metadata_destroy(md);
	return 0;
}

/* Asks a broker for metadata: the /ready check. */
int
queue_ping(struct queue *q, char *why, size_t len)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;

	err = rd_kafka_metadata(q->rk, 0, NULL, &md, 1000);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(why, len, "%s", rd_kafka_err2str(err));
		return -1;
	}
	rd_kafka_metadata_destroy(md);
	return 0;
}
