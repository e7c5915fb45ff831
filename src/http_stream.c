/*
 * http_stream.c - held answers: a response whose body is written later,
 * from any thread, for as long as the client stays (Server-Sent Events).
 *
 * libmicrohttpd pulls a body from a reader callback on the connection's
 * epoll thread.  When nothing is queued the reader suspends the
 * connection and returns 0 (libmicrohttpd's way to wait without a busy
 * loop); a write resumes it.  Both happen under the stream's mutex, so a
 * write never misses a reader that is about to suspend, and a
 * connection is never resumed twice.  A suspended connection is not
 * timed out and does not notice a client that left, so the writer is
 * expected to write something now and then (a heartbeat): that write
 * resumes it and a gone client is then seen.
 *
 * The server keeps the set of its streams for the drain (reload, stop):
 * each is ended, so its client gets the end of a complete chunked body
 * and reconnects elsewhere, and none is suspended when libmicrohttpd is
 * stopped (which it does not allow).  A held stream is a connection
 * like any other, counted by http_conn.c against http.max_connections
 * and the per-address limit.  Knows no event format.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "http_stream.h"
#include "util.h"

struct http_stream {
	pthread_mutex_t		 mu;
	struct http_streams	*set;
	struct http_stream	*prev, *next;	/* in set, under set->mu */
	struct MHD_Connection	*conn;
	char			*buf;
	size_t			 len, off, cap, max;
	bool			 suspended;	/* by the reader, not resumed */
	bool			 ended;
	double			 last;		/* util_now() of the last write */
	void			(*gone)(void *);
	void			*arg;
};

struct http_streams {
	pthread_mutex_t		 mu;
	struct http_stream	*head;
	unsigned		 n;
	bool			 closed;	/* draining: new ones end at once */
};

struct http_streams *
http_streams_new(void)
{
	struct http_streams *set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	pthread_mutex_init(&set->mu, NULL);
	return set;
}

/* Only after the server stopped: every stream is gone by then. */
void
http_streams_free(struct http_streams *set)
{
	if (set == NULL)
		return;
	pthread_mutex_destroy(&set->mu);
	free(set);
}

/* Caller holds s->mu: lets the reader run again if it waits. */
static void
http_stream_wake(struct http_stream *s)
{
	if (!s->suspended)
		return;
	s->suspended = false;
	MHD_resume_connection(s->conn);
}

void
http_streams_end_all(struct http_streams *set)
{
	struct http_stream *s;

	pthread_mutex_lock(&set->mu);
	set->closed = true;
	for (s = set->head; s != NULL; s = s->next) {
		pthread_mutex_lock(&s->mu);
		s->ended = true;
		http_stream_wake(s);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&set->mu);
}

unsigned
http_streams_count(struct http_streams *set)
{
	unsigned n;

	pthread_mutex_lock(&set->mu);
	n = set->n;
	pthread_mutex_unlock(&set->mu);
	return n;
}

/* libmicrohttpd's reader: what is queued, the end, or a wait. */
ssize_t
http_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct http_stream *s = cls;
	size_t k;

	(void)pos;
	pthread_mutex_lock(&s->mu);
	if (s->off < s->len) {
		k = s->len - s->off < max ? s->len - s->off : max;
		memcpy(out, s->buf + s->off, k);
		s->off += k;
		if (s->off == s->len)
			s->off = s->len = 0;
		pthread_mutex_unlock(&s->mu);
		return (ssize_t)k;
	}
	if (s->ended) {
		pthread_mutex_unlock(&s->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* libmicrohttpd is done with the answer (or it was never sent). */
void
http_stream_free(void *cls)
{
	struct http_stream *s = cls;
	struct http_streams *set = s->set;

	pthread_mutex_lock(&set->mu);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		set->head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	set->n--;
	pthread_mutex_unlock(&set->mu);
	s->gone(s->arg);	/* the writer lets go of s */
	pthread_mutex_destroy(&s->mu);
	free(s->buf);
	free(s);
}

struct http_stream *
http_stream_new(struct http_streams *set, struct MHD_Connection *conn,
    size_t max_buffer, void (*gone)(void *), void *arg)
{
	struct http_stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	s->set = set;
	s->conn = conn;
	s->max = max_buffer;
	s->last = util_now();
	s->gone = gone;
	s->arg = arg;
	pthread_mutex_lock(&set->mu);
	s->ended = set->closed;
	if ((s->next = set->head) != NULL)
		set->head->prev = s;
	set->head = s;
	set->n++;
	pthread_mutex_unlock(&set->mu);
	return s;
}

/*
 * Caller holds s->mu: room for n more bytes; -1 once s->max bytes wait
 * (the client fell behind).  One write may go past s->max: a frame larger
 * than s->max would otherwise end the stream at it, and every resume.
 */
static int
http_stream_room(struct http_stream *s, size_t n)
{
	size_t cap;
	char *p;

	if (s->len - s->off >= s->max)
		return -1;
	if (s->off > 0 && n > s->cap - s->len) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (n <= s->cap - s->len)
		return 0;
	for (cap = s->cap ? s->cap : 4096; cap < s->len + n; cap *= 2)
		;
	if (cap > s->max)
		cap = s->max > s->len + n ? s->max : s->len + n;
	if ((p = realloc(s->buf, cap)) == NULL)
		return -1;
	s->buf = p;
	s->cap = cap;
	return 0;
}

int
http_stream_write(struct http_stream *s, const void *p, size_t n)
{
	int rc = -1;

	pthread_mutex_lock(&s->mu);
	if (!s->ended && http_stream_room(s, n) == 0) {
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		s->last = util_now();
		rc = 0;
	} else
		s->ended = true;	/* a client this slow catches up later */
	http_stream_wake(s);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void
http_stream_end(struct http_stream *s)
{
	pthread_mutex_lock(&s->mu);
	s->ended = true;
	http_stream_wake(s);
	pthread_mutex_unlock(&s->mu);
}

double
http_stream_idle(struct http_stream *s)
{
	double d;

	pthread_mutex_lock(&s->mu);
	d = util_now() - s->last;
	pthread_mutex_unlock(&s->mu);
	return d;
}
