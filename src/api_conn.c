/*
 * api_conn.c - the request-head deadline of every HTTP connection.
 *
 * libmicrohttpd's own timeout is an idle timeout that each received
 * byte resets, so a client trickling one byte a second holds a
 * connection forever.  Here each connection gets a deadline when it is
 * accepted, and again when a keep-alive request ends: if the next
 * request head is not complete by then, the api process's main loop
 * shuts the socket down and libmicrohttpd closes the connection on its
 * next read.  Every deadline is "now + one fixed timeout", so a FIFO
 * list is already sorted and a sweep only looks at the expired ones.
 *
 * Never closes a descriptor itself: libmicrohttpd owns them.  The
 * "closed" notification, which unlinks the entry under our mutex,
 * comes before libmicrohttpd closes the descriptor, so the sweep can
 * never shut down a number that was reused by a newer connection.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "api_priv.h"
#include "util.h"

struct api_conn {
	struct api_conn	*prev, *next;
	int		 fd;
	double		 deadline;
	bool		 listed;	/* waiting for a request head */
};

struct api_heads {
	pthread_mutex_t	 mu;
	struct api_conn	*head, *tail;
	double		 timeout;
};

struct api_heads *
api_heads_new(double timeout)
{
	struct api_heads *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	h->timeout = timeout;
	return h;
}

/* Only after the HTTP server stopped: the connections are gone. */
void
api_heads_free(struct api_heads *h)
{
	if (h == NULL)
		return;
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* Caller holds the mutex. */
static void
api_heads_unlink(struct api_heads *h, struct api_conn *c)
{
	if (!c->listed)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		h->tail = c->prev;
	c->prev = c->next = NULL;
	c->listed = false;
}

/* Caller holds the mutex. */
static void
api_heads_append(struct api_heads *h, struct api_conn *c)
{
	api_heads_unlink(h, c);
	c->deadline = util_now() + h->timeout;
	c->prev = h->tail;
	c->next = NULL;
	if (h->tail != NULL)
		h->tail->next = c;
	else
		h->head = c;
	h->tail = c;
	c->listed = true;
}

/* libmicrohttpd's connection start/close callback (any pool thread). */
void
api_heads_notify(void *cls, struct MHD_Connection *conn, void **sctx,
    enum MHD_ConnectionNotificationCode what)
{
	struct api_heads *h = cls;
	struct api_conn *c = *sctx;
	const union MHD_ConnectionInfo *ci;

	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (c = calloc(1, sizeof(*c))) == NULL)
			return;	/* no deadline: the idle timeout still holds */
		c->fd = ci->connect_fd;
		*sctx = c;
		pthread_mutex_lock(&h->mu);
		api_heads_append(h, c);
		pthread_mutex_unlock(&h->mu);
		return;
	}
	if (c == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	api_heads_unlink(h, c);
	pthread_mutex_unlock(&h->mu);
	free(c);
	*sctx = NULL;
}

static struct api_conn *
api_heads_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* A complete request head arrived: no deadline while it is served. */
void
api_heads_done(struct api_heads *h, struct MHD_Connection *conn)
{
	struct api_conn *c = api_heads_of(conn);

	if (c == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	api_heads_unlink(h, c);
	pthread_mutex_unlock(&h->mu);
}

/* A request ended: a keep-alive client has one timeout for the next. */
void
api_heads_wait(struct api_heads *h, struct MHD_Connection *conn)
{
	struct api_conn *c = api_heads_of(conn);

	if (c == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	api_heads_append(h, c);
	pthread_mutex_unlock(&h->mu);
}

/*
 * Shuts down every connection past its deadline; returns how many.
 * shutdown(2) wakes the owning pool thread, which reads end-of-file
 * and closes the connection as if the client had left.
 */
int
api_heads_sweep(struct api_heads *h)
{
	double now = util_now();
	struct api_conn *c;
	int n = 0;

	pthread_mutex_lock(&h->mu);
	while ((c = h->head) != NULL && c->deadline <= now) {
		api_heads_unlink(h, c);
		(void)shutdown(c->fd, SHUT_RDWR);
		n++;
	}
	pthread_mutex_unlock(&h->mu);
	return n;
}
