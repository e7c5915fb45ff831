/*
 * db_pool.c - a bounded pool of PostgreSQL connections shared by the
 * request threads of one process (the API's pools).
 *
 * Threads that find every connection lent wait in line and are served
 * first come, first served: a connection given back is handed to the
 * longest waiter, never to a thread that asks later.  With one condition
 * variable and no line, a newcomer took the connection while the woken
 * waiter was still reacquiring the lock, so under load a few requests
 * waited round after round (the 1M-row audit query at concurrency 8: a
 * p99 of 9x the mean, with 4 connections for 8 clients).
 *
 * Plumbing like db.c: errors go to a caller-provided buffer, nothing is
 * logged here.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"

/* A thread in line, on its own stack while it waits. */
struct db_waiter {
	pthread_cond_t	 cv;
	bool		 served;
	PGconn		*conn;	/* handed over; NULL: a place to open one */
	struct db_waiter *next;
};

struct db_pool *
db_pool_new(const char *conninfo, int max)
{
	return db_pool_new_opts(conninfo, max, NULL);
}

/* A pool of at most max connections, each made with o's limits. */
struct db_pool *
db_pool_new_opts(const char *conninfo, int max, const struct db_opts *o)
{
	struct db_pool *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->idle = calloc((size_t)max, sizeof(*p->idle))) == NULL ||
	    (p->conninfo = strdup(conninfo)) == NULL) {
		free(p->idle);
		free(p);
		return NULL;
	}
	p->max = max;
	if (o != NULL)
		p->opts = *o;
	pthread_mutex_init(&p->mu, NULL);
	p->tail = &p->line;
	return p;
}

/* Called when no thread uses the pool any more: the line is empty. */
void
db_pool_free(struct db_pool *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nidle; i++)
		PQfinish(p->idle[i]);
	pthread_mutex_destroy(&p->mu);
	free(p->idle);
	free(p->conninfo);
	free(p);
}

/* With p->mu held: the first in line gets c (NULL: a place to open one). */
static void
db_pool_serve(struct db_pool *p, PGconn *c)
{
	struct db_waiter *w = p->line;

	if ((p->line = w->next) == NULL)
		p->tail = &p->line;
	w->conn = c;
	w->served = true;
	pthread_cond_signal(&w->cv);
}

/* With p->mu held: a waiter that gave up leaves the line. */
static void
db_pool_leave(struct db_pool *p, struct db_waiter *w)
{
	struct db_waiter **pp;

	for (pp = &p->line; *pp != w; pp = &(*pp)->next)
		;
	if ((*pp = w->next) == NULL)
		p->tail = pp;
}

/* With p->mu held: the absolute deadline of a wait that starts now. */
static struct timespec
db_pool_deadline(double t)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)t;
	until.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return until;
}

/*
 * With p->mu held: waits at the end of the line until served or until
 * the pool's deadline (none when pool_timeout is 0).  -1 on the deadline.
 */
static int
db_pool_wait(struct db_pool *p, struct db_waiter *w)
{
	double t = p->opts.pool_timeout;
	struct timespec until = db_pool_deadline(t > 0 ? t : 0);
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);	/* deadlines immune to clock steps */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->served = false;
	w->conn = NULL;
	w->next = NULL;
	*p->tail = w;
	p->tail = &w->next;
	while (!w->served) {
		if (t <= 0)
			pthread_cond_wait(&w->cv, &p->mu);
		else if (pthread_cond_timedwait(&w->cv, &p->mu, &until) ==
		    ETIMEDOUT && !w->served) {
			db_pool_leave(p, w);
			break;
		}
	}
	pthread_cond_destroy(&w->cv);
	return w->served ? 0 : -1;
}

/* Opens a connection in a place taken; gives the place back on failure. */
static PGconn *
db_pool_open(struct db_pool *p, char *err, size_t len)
{
	PGconn *c;

	if ((c = db_connect_opts(p->conninfo, &p->opts, err, len)) != NULL)
		return c;
	pthread_mutex_lock(&p->mu);
	if (p->line != NULL)	/* the next in line tries for itself */
		db_pool_serve(p, NULL);
	else
		p->total--;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/*
 * Lends an idle connection, opens one, or waits in line for one to come
 * back, at most opts.pool_timeout (then NULL, and db_errclass() is
 * DB_BUSY).
 */
PGconn *
db_pool_get(struct db_pool *p, char *err, size_t len)
{
	struct db_waiter w;
	PGconn *c = NULL;

	pthread_mutex_lock(&p->mu);
	if (p->line == NULL && p->nidle > 0)
		c = p->idle[--p->nidle];
	else if (p->line == NULL && p->total < p->max)
		p->total++;		/* a place: opened below, unlocked */
	else if (db_pool_wait(p, &w) == 0)
		c = w.conn;
	else {
		pthread_mutex_unlock(&p->mu);
		db_errclass_set(DB_BUSY);
		if (err != NULL)
			snprintf(err, len, "no pooled connection free within "
			    "%gs", p->opts.pool_timeout);
		return NULL;
	}
	pthread_mutex_unlock(&p->mu);
	return c != NULL ? c : db_pool_open(p, err, len);
}

/*
 * Takes a connection back, for the first in line if any; a broken one
 * is closed, and its place goes to the first in line.
 */
void
db_pool_put(struct db_pool *p, PGconn *c)
{
	bool bad = db_broken(c) || PQtransactionStatus(c) != PQTRANS_IDLE;

	pthread_mutex_lock(&p->mu);
	if (p->line != NULL)
		db_pool_serve(p, bad ? NULL : c);
	else if (bad)
		p->total--;
	else
		p->idle[p->nidle++] = c;
	pthread_mutex_unlock(&p->mu);
	if (bad)
		PQfinish(c);
}
