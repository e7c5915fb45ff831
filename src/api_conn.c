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
 * It also accepts the connections (api_accept_*), so that it can count
 * them exactly for http.max_connections and the drain (libmicrohttpd's
 * own count lags), and so that they spread over the epoll threads:
 * handed over with MHD_add_connection, each lands on the thread its
 * descriptor number picks, where libmicrohttpd's own accept lets one
 * thread take a whole burst.
 *
 * Never closes a served descriptor itself: libmicrohttpd owns them.  The
 * "closed" notification, which unlinks the entry under our mutex,
 * comes before libmicrohttpd closes the descriptor, so the sweep can
 * never shut down a number that was reused by a newer connection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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
	unsigned	 open;		/* handed to MHD, not closed yet */
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
	__atomic_sub_fetch(&h->open, 1, __ATOMIC_RELAXED);
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

/* Connections handed to libmicrohttpd and not closed yet. */
unsigned
api_heads_open(struct api_heads *h)
{
	return __atomic_load_n(&h->open, __ATOMIC_RELAXED);
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

struct api_accept {
	int			 fd;
	unsigned		 max;
	struct MHD_Daemon	*d;
	struct api_heads	*h;
	pthread_t		 thread;
	volatile sig_atomic_t	 stop;
};

/*
 * At http.max_connections new clients wait in the listen backlog.
 * Counted here, not by libmicrohttpd: its count lags the connections
 * handed over and let a burst overshoot the limit.  Its per-thread
 * limit is set to the whole limit so that it never refuses one after
 * MHD_add_connection took it (that would leak a slot here: no "closed"
 * notification follows); only a failed allocation still can.
 */
static bool
api_accept_full(struct api_accept *a)
{
	return __atomic_load_n(&a->h->open, __ATOMIC_RELAXED) >= a->max;
}

static void *
api_accept_run(void *arg)
{
	struct api_accept *a = arg;
	struct pollfd p = { a->fd, POLLIN, 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	int c;

	while (!a->stop) {
		if (api_accept_full(a)) {
			util_sleep(0.01);
			continue;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		len = sizeof(ss);
		c = accept4(a->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c == -1) {
			/* EAGAIN: a sibling api process took it */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				util_sleep(0.01);
			continue;
		}
		/* Refused (per-address limit, memory): closed by MHD. */
		__atomic_add_fetch(&a->h->open, 1, __ATOMIC_RELAXED);
		if (MHD_add_connection(a->d, c, (struct sockaddr *)&ss, len) !=
		    MHD_YES)
			__atomic_sub_fetch(&a->h->open, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Starts accepting from fd into d.  The listen socket is shared with
 * sibling api processes, so it is made non-blocking: one of them may
 * take the connection poll(2) announced.
 */
struct api_accept *
api_accept_start(int fd, struct MHD_Daemon *d, struct api_heads *h,
    unsigned max)
{
	struct api_accept *a;
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->fd = fd;
	a->d = d;
	a->h = h;
	a->max = max;
	if ((errno = pthread_create(&a->thread, NULL, api_accept_run, a)) != 0) {
		free(a);
		return NULL;
	}
	return a;
}

/* Stops accepting (within 0.1 s); the served connections stay. */
void
api_accept_stop(struct api_accept *a)
{
	if (a == NULL)
		return;
	a->stop = 1;
	pthread_join(a->thread, NULL);
	free(a);
}
