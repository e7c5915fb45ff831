/*
 * api_inbox_hub.c - the live inbox streams of one api process, fed by
 * PostgreSQL (LISTEN notifyd_inbox).
 *
 * sql/017's trigger notifies "SEQ USERID" in the transaction that
 * delivers an in-app item (marks it SENT), so every api process of every
 * instance on the database hears of every item, in commit order, which
 * sql/017 makes inbox_seq order.  A thread of its own holds the
 * listening connection (like api_template_watch.c), reads the items of
 * the users that have a stream here (one query for all that arrived
 * together, on the same connection) and writes each as an SSE event to
 * those streams.  It also writes the heartbeat comment of idle streams.
 *
 * What keeps a stream gap-free and without duplicates: a new stream is
 * registered before its first read of the database (the catch-up from
 * Last-Event-ID, api_inbox.c), and stays "syncing" while the request
 * reads; an item announced meanwhile only marks it missed, and the
 * request reads again before it goes live.  A live stream gets only
 * items past the last one it was given.  If the listening connection is
 * lost, announcements sent meanwhile are lost with it: every stream is
 * ended then (its client resumes with Last-Event-ID, from the database),
 * and new streams are refused (503) until it listens again.
 */
#include "config.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "api_inbox.h"
#include "buf.h"
#include "conf.h"
#include "db.h"
#include "http_stream.h"
#include "log.h"
#include "notif.h"
#include "sse.h"
#include "util.h"

#define HUB_BUCKETS	1024
#define HUB_PING	5.0	/* s between liveness checks of the listener */
#define HUB_POLL_MS	50

struct api_inbox_sub {
	struct api_inbox_sub	*prev, *next;	/* in its bucket */
	struct api_inbox_hub	*hub;
	struct http_stream	*s;
	char			 uid[INBOX_UID_MAX + 1];
	unsigned		 bucket;
	int64_t			 last;		/* last seq written */
	bool			 syncing;	/* the request still reads */
	bool			 missed;	/* an item came while syncing */
	bool			 linked;
};

struct api_inbox_hub {
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	bool			 stop;
	bool			 live;		/* listening: streams allowed */
	bool			 quiet;		/* the outage was logged */
	struct api_inbox_sub	*bucket[HUB_BUCKETS];
	char			*conninfo;
	struct db_opts		 opts;
	double			 heartbeat, beat_at, ping_at;
};

static unsigned
api_inbox_bucket(const char *uid)
{
	return (unsigned)(notif_hash(uid, strlen(uid)) % HUB_BUCKETS);
}

/*
 * One item as an SSE event: id is its seq, data its JSON on one line,
 * compact, as the list's item (both go through jansson).
 */
void
api_inbox_frame(struct buf *b, int64_t seq, const char *json)
{
	json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
	char *out = j != NULL ? json_dumps(j, JSON_COMPACT |
	    JSON_REAL_PRECISION(15)) : NULL;

	if (out != NULL)
		sse_event(b, seq, "notification", out, strlen(out));
	else
		b->oom = true;	/* the caller ends the stream: it resumes */
	free(out);
	json_decref(j);
}

struct api_inbox_sub *
api_inbox_sub_new(const char *uid, int64_t last)
{
	struct api_inbox_sub *sub;

	if ((sub = calloc(1, sizeof(*sub))) == NULL)
		return NULL;
	snprintf(sub->uid, sizeof(sub->uid), "%s", uid);
	sub->bucket = api_inbox_bucket(sub->uid);
	sub->last = last;
	sub->syncing = true;
	return sub;
}

/* Registers sub, syncing, on stream s; ended at once if not listening. */
void
api_inbox_sub_add(struct api_inbox_hub *h, struct api_inbox_sub *sub,
    struct http_stream *s)
{
	pthread_mutex_lock(&h->mu);
	sub->hub = h;
	sub->s = s;
	if ((sub->next = h->bucket[sub->bucket]) != NULL)
		sub->next->prev = sub;
	h->bucket[sub->bucket] = sub;
	sub->linked = true;
	if (!h->live)
		http_stream_end(s);
	pthread_mutex_unlock(&h->mu);
}

/* The stream is over (http_stream.c's gone callback): forget sub. */
void
api_inbox_sub_gone(void *arg)
{
	struct api_inbox_sub *sub = arg;
	struct api_inbox_hub *h = sub->hub;

	if (h != NULL && sub->linked) {
		pthread_mutex_lock(&h->mu);
		if (sub->prev != NULL)
			sub->prev->next = sub->next;
		else
			h->bucket[sub->bucket] = sub->next;
		if (sub->next != NULL)
			sub->next->prev = sub->prev;
		pthread_mutex_unlock(&h->mu);
	}
	free(sub);
}

int64_t
api_inbox_sub_last(struct api_inbox_sub *sub)
{
	return sub->last;	/* only its request writes it while syncing */
}

void
api_inbox_sub_wrote(struct api_inbox_sub *sub, int64_t seq)
{
	pthread_mutex_lock(&sub->hub->mu);
	sub->last = seq;
	pthread_mutex_unlock(&sub->hub->mu);
}

/* Live from now on, unless an item came while syncing (read again). */
bool
api_inbox_sub_go_live(struct api_inbox_hub *h, struct api_inbox_sub *sub)
{
	bool live;

	pthread_mutex_lock(&h->mu);
	live = !sub->missed;
	sub->missed = false;
	if (live)
		sub->syncing = false;
	pthread_mutex_unlock(&h->mu);
	return live;
}

bool
api_inbox_hub_live(struct api_inbox_hub *h)
{
	bool live;

	pthread_mutex_lock(&h->mu);
	live = h->live;
	pthread_mutex_unlock(&h->mu);
	return live;
}

/* Caller holds h->mu: whether uid has a stream here. */
static bool
api_inbox_watched(struct api_inbox_hub *h, const char *uid)
{
	struct api_inbox_sub *sub;

	for (sub = h->bucket[api_inbox_bucket(uid)]; sub; sub = sub->next)
		if (strcmp(sub->uid, uid) == 0)
			return true;
	return false;
}

/*
 * Caller holds h->mu: the item (seq, frame) to uid's streams here.  A
 * frame that could not be made (out of memory) ends those streams
 * instead: their clients resume, and nothing is skipped.
 */
static void
api_inbox_deliver(struct api_inbox_hub *h, const char *uid, int64_t seq,
    const struct buf *frame)
{
	struct api_inbox_sub *sub;

	for (sub = h->bucket[api_inbox_bucket(uid)]; sub; sub = sub->next) {
		if (strcmp(sub->uid, uid) != 0)
			continue;
		if (sub->syncing)
			sub->missed = true;
		else if (frame->oom)
			http_stream_end(sub->s);
		else if (seq > sub->last) {
			sub->last = seq;
			(void)!http_stream_write(sub->s, frame->p, frame->len);
		}
	}
}

/* Caller holds h->mu: every stream ends (its client resumes elsewhere). */
static void
api_inbox_end_all(struct api_inbox_hub *h)
{
	struct api_inbox_sub *sub;
	int i;

	for (i = 0; i < HUB_BUCKETS; i++)
		for (sub = h->bucket[i]; sub != NULL; sub = sub->next)
			http_stream_end(sub->s);
}

/* The heartbeat comment on every live stream idle for inbox.heartbeat. */
static void
api_inbox_beat(struct api_inbox_hub *h)
{
	static const char beat[] = ": keep-alive\n\n";
	struct api_inbox_sub *sub;
	double now = util_now();
	int i;

	if (now < h->beat_at)
		return;
	h->beat_at = now + h->heartbeat / 4;
	pthread_mutex_lock(&h->mu);
	for (i = 0; i < HUB_BUCKETS; i++)
		for (sub = h->bucket[i]; sub != NULL; sub = sub->next)
			if (!sub->syncing &&
			    http_stream_idle(sub->s) >= h->heartbeat)
				(void)!http_stream_write(sub->s, beat,
				    sizeof(beat) - 1);
	pthread_mutex_unlock(&h->mu);
}

static const char api_inbox_sql_items[] =
    "SELECT n.inbox_seq, n.user_id #>> '{}', " INBOX_ITEM_JSON
    " FROM unnest($1::bigint[], $2::text[]) AS a(seq, uid)"
    " JOIN email_notifications n ON (n.user_id #>> '{}') = a.uid"
    "  AND n.inbox_seq = a.seq AND n.inbox_seq IS NOT NULL"
    " ORDER BY n.inbox_seq";

/* Reads the announced items and writes them out; -1: connection lost. */
static int
api_inbox_fetch(struct api_inbox_hub *h, PGconn *c, struct db_arr *seqs,
    struct db_arr *uids)
{
	const char *p[2] = { db_arr_end(seqs), db_arr_end(uids) };
	struct buf frame = { 0 };
	char err[DB_ERRLEN];
	PGresult *res;
	int64_t seq;
	int i;

	if (p[0] == NULL || p[1] == NULL) {
		log_warnx("inbox streams: out of memory reading items");
		return -1;	/* every stream ends: its client resumes */
	}
	if ((res = db_query(c, api_inbox_sql_items, 2, p, err,
	    sizeof(err))) == NULL) {
		log_warnx("inbox streams: reading delivered items: %s", err);
		return -1;
	}
	pthread_mutex_lock(&h->mu);
	for (i = 0; i < PQntuples(res); i++) {
		seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		buf_reset(&frame);
		api_inbox_frame(&frame, seq, PQgetvalue(res, i, 2));
		api_inbox_deliver(h, PQgetvalue(res, i, 1), seq, &frame);
	}
	pthread_mutex_unlock(&h->mu);
	buf_free(&frame);
	PQclear(res);
	return 0;
}

/* "SEQ USERID" of the users with a stream here into seqs and uids. */
static size_t
api_inbox_collect(struct api_inbox_hub *h, PGconn *c, struct db_arr *seqs,
    struct db_arr *uids)
{
	PGnotify *n;
	char *sp, *end;
	long long seq;
	size_t k = 0;

	pthread_mutex_lock(&h->mu);
	while ((n = PQnotifies(c)) != NULL) {
		seq = strtoll(n->extra, &end, 10);
		if ((sp = strchr(n->extra, ' ')) != NULL && end == sp &&
		    api_inbox_watched(h, sp + 1)) {
			db_arr_int(seqs, seq);
			db_arr_text(uids, sp + 1);
			k++;
		}
		PQfreemem(n);
	}
	pthread_mutex_unlock(&h->mu);
	return k;
}

/* Handles what arrived; -1 when the connection is gone. */
static int
api_inbox_drain(struct api_inbox_hub *h, PGconn *c)
{
	struct db_arr seqs = { 0 }, uids = { 0 };
	char err[DB_ERRLEN];
	int rc = 0;

	if (PQconsumeInput(c) == 0)
		return -1;
	/* A fetch may read more announcements into libpq: poll(2) would not
	 * see those, so collect again until none is left. */
	while (rc == 0 && api_inbox_collect(h, c, &seqs, &uids) > 0) {
		rc = api_inbox_fetch(h, c, &seqs, &uids);
		db_arr_free(&seqs);
		db_arr_free(&uids);
		memset(&seqs, 0, sizeof(seqs));
		memset(&uids, 0, sizeof(uids));
	}
	db_arr_free(&seqs);
	db_arr_free(&uids);
	if (rc == 0 && util_now() >= h->ping_at) {
		h->ping_at = util_now() + HUB_PING;
		rc = db_exec(c, "SELECT 'notifyd inbox hub'", err, sizeof(err));
	}
	return rc;
}

/* A listening connection, or NULL (logged once per outage). */
static PGconn *
api_inbox_connect(struct api_inbox_hub *h)
{
	char err[DB_ERRLEN];
	PGconn *c;

	if ((c = db_connect_opts(h->conninfo, &h->opts, err, sizeof(err))) ==
	    NULL || db_exec(c, "LISTEN notifyd_inbox", err, sizeof(err)) == -1) {
		if (!h->quiet)
			log_warnx("inbox streams: %s (refusing streams until "
			    "it listens again)", err);
		h->quiet = true;
		if (c != NULL)
			PQfinish(c);
		return NULL;
	}
	if (h->quiet)
		log_info("inbox streams: listening again");
	h->quiet = false;
	h->ping_at = util_now() + HUB_PING;
	pthread_mutex_lock(&h->mu);
	h->live = true;
	pthread_mutex_unlock(&h->mu);
	return c;
}

/* Announcements are lost with the connection: every stream resumes. */
static void
api_inbox_lost(struct api_inbox_hub *h, PGconn *c)
{
	log_warnx("inbox streams: listening connection lost (ending every "
	    "stream; their clients resume from Last-Event-ID)");
	h->quiet = true;
	pthread_mutex_lock(&h->mu);
	h->live = false;
	api_inbox_end_all(h);
	pthread_mutex_unlock(&h->mu);
	PQfinish(c);
}

static void *
api_inbox_main(void *arg)
{
	struct api_inbox_hub *h = arg;
	PGconn *c = NULL;
	struct pollfd pfd;

	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		if (c == NULL && (c = api_inbox_connect(h)) == NULL) {
			util_sleep(1);
			continue;
		}
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, HUB_POLL_MS);
		if (api_inbox_drain(h, c) == -1) {
			api_inbox_lost(h, c);
			c = NULL;
			continue;
		}
		api_inbox_beat(h);
	}
	if (c != NULL)
		PQfinish(c);
	return NULL;
}

/* The hub, listening before the process reports ready when it can. */
int
api_inbox_init(struct api_ctx *ctx)
{
	struct api_inbox_hub *h;
	int i;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->conninfo = strdup(conf->database_conninfo)) == NULL) {
		free(h);
		return -1;
	}
	h->opts.connect_timeout = conf->database_connect_timeout;
	h->opts.statement_timeout = conf->database_statement_timeout;
	h->heartbeat = conf->inbox_heartbeat;
	pthread_mutex_init(&h->mu, NULL);
	if (pthread_create(&h->thread, NULL, api_inbox_main, h) != 0) {
		pthread_mutex_destroy(&h->mu);
		free(h->conninfo);
		free(h);
		return -1;
	}
	ctx->inbox = h;
	/* Streams are refused until it listens: give it a moment, so a
	 * process that reports ready takes streams (the database may be
	 * away: then it goes on without). */
	for (i = 0; i < 100 && !api_inbox_hub_live(h); i++)
		util_sleep(0.01);
	return 0;
}

/* After the HTTP server stopped: no stream is left. */
void
api_inbox_fini(struct api_ctx *ctx)
{
	struct api_inbox_hub *h = ctx->inbox;

	if (h == NULL)
		return;
	__atomic_store_n(&h->stop, true, __ATOMIC_RELEASE);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->mu);
	free(h->conninfo);
	free(h);
	ctx->inbox = NULL;
}
