/*
 * api_store.c - group commit of accepted notifications.
 *
 * Each POST must be committed before it is answered, and a commit costs
 * a WAL flush.  Requests in flight therefore hand their row to a
 * store thread that inserts everything waiting in a single statement
 * (one flush for the lot), wakes each request with its own outcome, and
 * only then produces the new rows to the email topic: the answer does
 * not wait for Kafka's ack (~0.9 ms, which kept POST under one-row
 * pgbench).  Nothing is lost that way: the row is durable at commit, the
 * ack still marks it queued (queue.c), and the sweeper requeues any row
 * left unmarked, Kafka down or the process killed before producing.  A
 * lone request pays one extra thread hand-off; concurrent ones share the
 * commit and the produce request.  One thread: with two, a batch could
 * be sent while the previous one waits for its flush, but the groups
 * halve and the POST benchmark measured fewer requests per second.
 * The thread has a connection of its own (api_ctx.store_pool): POSTs
 * never wait for one behind slow reads.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_store.h"
#include "channel.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "queue.h"
#include "stats.h"
#include "util.h"

#define STORE_MAX_BATCH	256
#define STORE_MAX_BYTES	(4 << 20)

struct api_store {
	struct db_pool		*pool;
	struct queue		*queue;
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 work;
	struct api_store_req	*head, **tail;
	bool			 stop;
};

/*
 * Ids come from the sequence first so that every input row can be
 * matched to its outcome: a row skipped by ON CONFLICT (an Idempotency-
 * Key seen before, or twice in this batch) comes back with a NULL id.
 */
static const char api_store_sql_insert[] =
    "WITH v AS ("
    " SELECT nextval('email_notifications_id_seq') AS id, t.*,"
    "  email_suppression_reason(CASE WHEN coalesce(t.typ, 'EMAIL') ="
    "  'EMAIL' THEN t.rcpt END, t.uid::jsonb, t.cat) AS sr"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    "  $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],"
    "  $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],"
    "  $15::text[])"
    "  WITH ORDINALITY"
    "  AS t(k, h, title, content, uid, rcpt, from_addr, meta, sa,"
    "  tname, tversion, locale, text_part, cat, typ, ord)),"
    " i AS (INSERT INTO email_notifications (id, idempotency_key,"
    "  request_hash, title, content, user_id, recipient, from_addr, metadata,"
    "  send_at, status, template_name, template_version, locale, text_part,"
    "  category, suppressed_reason, type)"
    " SELECT id, k, h, title, content, uid::jsonb, rcpt, from_addr,"
    "  meta::jsonb, sa::timestamptz,"
    "  CASE WHEN sr IS NOT NULL THEN 'SUPPRESSED' WHEN sa IS NULL"
    "  THEN 'PENDING' ELSE 'SCHEDULED' END,"
    "  tname, tversion::int, locale, text_part, cat, sr,"
    "  coalesce(typ, 'EMAIL')"
    " FROM v ORDER BY ord"
    " ON CONFLICT (idempotency_key) DO NOTHING"
    " RETURNING id, extract(epoch from created_at)::bigint AS at,"
    "  suppressed_reason) "
    "SELECT i.id, i.at, i.suppressed_reason FROM v LEFT JOIN i USING (id)"
    " ORDER BY v.ord";

#define STORE_NCOLS 15

static void
api_store_row_params(const struct api_store_req *q, const char *v[STORE_NCOLS])
{
	v[0] = q->key;
	v[1] = q->hash;
	v[2] = q->title;
	v[3] = q->content;
	v[4] = q->user_id;
	v[5] = q->recipient;
	v[6] = q->from;
	v[7] = q->metadata;
	v[8] = q->send_at;
	v[9] = q->template_name;
	v[10] = q->template_version;
	v[11] = q->locale;
	v[12] = q->text;
	v[13] = q->category;
	v[14] = q->type;
}

/* The INSERT for n requests; NULL with err and *cls when it failed. */
static PGresult *
api_store_insert_rows(PGconn *c, struct api_store_req *const *reqs, int n,
    enum db_class *cls, char *err, size_t len)
{
	struct db_arr a[STORE_NCOLS];
	const char *v[STORE_NCOLS], *p[STORE_NCOLS];
	PGresult *res = NULL;
	int i, k;

	memset(a, 0, sizeof(a));
	*cls = DB_INTERNAL;
	for (i = 0; i < n; i++) {
		api_store_row_params(reqs[i], v);
		for (k = 0; k < STORE_NCOLS; k++)
			db_arr_text(&a[k], v[k]);
	}
	for (k = 0; k < STORE_NCOLS; k++)
		if ((p[k] = db_arr_end(&a[k])) == NULL)
			break;
	if (k < STORE_NCOLS)
		snprintf(err, len, "out of memory");
	else if ((res = db_query_named(c, "store_insert", api_store_sql_insert,
	    STORE_NCOLS, p, err, len)) == NULL)
		*cls = db_errclass();
	else if (PQntuples(res) != n) {
		snprintf(err, len, "insert returned %d rows for %d",
		    PQntuples(res), n);
		PQclear(res);
		res = NULL;
	}
	for (k = 0; k < STORE_NCOLS; k++)
		db_arr_free(&a[k]);
	return res;
}

static void
api_store_outcome(struct api_store_req *q, const PGresult *res, int row)
{
	if (q->state == API_STORE_LIMITED)
		return;		/* its row was deleted again */
	if (PQgetisnull(res, row, 0))
		q->state = API_STORE_SEEN;
	else {
		q->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
		q->at = strtoll(PQgetvalue(res, row, 1), NULL, 10);
		q->state = API_STORE_NEW;
		/* A SUPPRESSED row is stored but never produced. */
		if (!PQgetisnull(res, row, 2))
			snprintf(q->suppressed, sizeof(q->suppressed), "%s",
			    PQgetvalue(res, row, 2));
	}

}

/*
 * The INSERT; with email.user_rate in one transaction with the take of
 * the users' units (api_store_rate.c), which may refuse some rows.
 */
static PGresult *
api_store_insert_counted(PGconn *c, struct api_store_req *const *reqs, int n,
    enum db_class *cls, char *err, size_t len)
{
	PGresult *res = NULL;
	int tx;

	if ((tx = api_store_rate_begin(c, cls, err, len)) <= 0)
		return tx == 0 ? api_store_insert_rows(c, reqs, n, cls, err,
		    len) : NULL;
	if ((res = api_store_insert_rows(c, reqs, n, cls, err, len)) != NULL &&
	    api_store_rate_take(c, reqs, n, res, cls, err, len) == 0 &&
	    api_store_rate_commit(c, cls, err, len) == 0)
		return res;
	PQclear(res);
	api_store_rate_rollback(c);
	return NULL;
}

static void
api_store_fail(struct api_store_req *q, const char *err, enum db_class cls)
{
	q->state = API_STORE_ERROR;
	q->dbclass = cls;
	snprintf(q->err, sizeof(q->err), "%s", err);
}

static void
api_store_fail_all(struct api_store_req **reqs, int n, const char *err,
    enum db_class cls)
{
	int i;

	for (i = 0; i < n; i++)
		api_store_fail(reqs[i], err, cls);
}

/* Each row alone, so that one the server refuses fails by itself. */
static void
api_store_each(PGconn *c, struct api_store_req **reqs, int n)
{
	char err[DB_ERRLEN] = "";
	enum db_class cls;
	PGresult *res;
	int i;

	for (i = 0; i < n; i++) {
		if ((res = api_store_insert_counted(c, reqs + i, 1, &cls, err,
		    sizeof(err))) == NULL) {
			api_store_fail(reqs[i], err, cls);
			continue;
		}
		api_store_outcome(reqs[i], res, 0);
		PQclear(res);
	}
}

/*
 * One statement for the batch.  When the server refused it for its data
 * (or some other reason of its own), each row is tried alone so that one
 * bad row does not fail the others.  When the connection broke (whether
 * the batch committed is unknown) or the statement timed out (each row
 * would time out again), all fail: the client retries, with its
 * Idempotency-Key if it has one.
 */
static void
api_store_batch(struct api_store *s, struct api_store_req **reqs, int n)
{
	char err[DB_ERRLEN] = "";
	enum db_class cls;
	PGresult *res;
	PGconn *c;
	int i;

	if ((c = db_pool_get(s->pool, err, sizeof(err))) == NULL) {
		api_store_fail_all(reqs, n, err, db_errclass());
		return;
	}
	if ((res = api_store_insert_counted(c, reqs, n, &cls, err,
	    sizeof(err))) != NULL) {
		for (i = 0; i < n; i++)
			api_store_outcome(reqs[i], res, i);
		PQclear(res);
	} else if (cls == DB_UNAVAILABLE || cls == DB_BUSY || n == 1)
		api_store_fail_all(reqs, n, err, cls);
	else
		api_store_each(c, reqs, n);
	db_pool_put(s->pool, c);
}

/*
 * Queues the batch's new rows on the email topic right after the
 * requests were answered, back to back, so that they share produce
 * requests.  A refusal now is the sweeper's to repair.
 */
static void
api_store_produce(struct api_store *s, const int64_t *ids,
    const char *const *types, int n)
{
	int i;

	for (i = 0; i < n; i++)
		(void)queue_send_to(s->queue, channel_topic(conf, types[i]), ids[i]);
}

/* The bytes a request adds to the statement's arrays (before escaping). */
static size_t
api_store_req_size(const struct api_store_req *q)
{
	const char *v[STORE_NCOLS];
	size_t n = 0;
	int k;

	api_store_row_params(q, v);
	for (k = 0; k < STORE_NCOLS; k++)
		n += v[k] != NULL ? strlen(v[k]) : 0;
	return n;
}

/*
 * Takes waiting requests off the list: up to STORE_MAX_BATCH of them and
 * STORE_MAX_BYTES of text, so that large bodies (http.max_body may be
 * tens of MB) do not build one huge statement; always at least one.
 */
static int
api_store_take(struct api_store *s, struct api_store_req **reqs)
{
	size_t bytes = 0, size;
	int n = 0;

	while (s->head != NULL && n < STORE_MAX_BATCH) {
		size = api_store_req_size(s->head);
		if (n > 0 && bytes + size > STORE_MAX_BYTES)
			break;
		bytes += size;
		reqs[n++] = s->head;
		s->head = s->head->next;
	}
	if (s->head == NULL)
		s->tail = &s->head;
	return n;
}

static void *
api_store_main(void *arg)
{
	struct api_store *s = arg;
	struct api_store_req *reqs[STORE_MAX_BATCH];
	int64_t ids[STORE_MAX_BATCH];
	const char *types[STORE_MAX_BATCH];	/* static channel names */
	int i, n, nids;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->head == NULL && !s->stop)
			pthread_cond_wait(&s->work, &s->mu);
		if (s->head == NULL)
			break;
		n = api_store_take(s, reqs);
		pthread_mutex_unlock(&s->mu);
		api_store_batch(s, reqs, n);
		stats_add(CTR_NOTIF_INSERTS, 1);
		/* The ids are copied: a woken request's row is gone.  A
		 * scheduled row is the due scan's to produce (sweeper_due.c). */
		for (i = nids = 0; i < n; i++)
			if (reqs[i]->state == API_STORE_NEW &&
			    reqs[i]->send_at == NULL &&
			    reqs[i]->suppressed[0] == '\0') {
				types[nids] = reqs[i]->type;
				ids[nids++] = reqs[i]->id;
			}
		/*
		 * Each request is woken by its own semaphore, without the
		 * mutex: a broadcast woke every waiter, those of the next
		 * group too, and all of them then queued for the mutex
		 * (perf at c=8: a third of the api's cycles in futex and
		 * mutex waits).  reqs[i] may be gone once posted.
		 */
		for (i = 0; i < n; i++)
			sem_post(&reqs[i]->done);
		api_store_produce(s, ids, types, nids);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct api_store *
api_store_new(struct db_pool *pool, struct queue *queue)
{
	struct api_store *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->pool = pool;
	s->queue = queue;
	s->tail = &s->head;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	if (pthread_create(&s->thread, NULL, api_store_main, s) != 0)
		fatalx("pthread_create");
	return s;
}

/* Inserts what is queued, then stops the thread. */
void
api_store_free(struct api_store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	free(s);
}

/*
 * Queues q for the next batch and waits until it is committed or failed
 * (not for Kafka: the store thread produces it after waking us).
 */
void
api_store_insert(struct api_store *s, struct api_store_req *q)
{
	q->next = NULL;
	q->state = API_STORE_ERROR;
	if (sem_init(&q->done, 0, 0) == -1)
		fatal("sem_init");
	pthread_mutex_lock(&s->mu);
	*s->tail = q;
	s->tail = &q->next;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	while (sem_wait(&q->done) == -1 && errno == EINTR)
		continue;
	sem_destroy(&q->done);
}
