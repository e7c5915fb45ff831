/*
 * test_db_pool.c - the connection pool's order and accounting, with
 * libpq and db.c replaced by stubs: a "connection" is a counter's value.
 *
 * The pool is built from src/db_pool.c alone (see Makefile.am), so no
 * PostgreSQL is needed; threads play the request threads.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../../src/db.h"

/* ---- stubs of what db_pool.c calls ---- */

static int	 opened;	/* connections "opened" so far */
static int	 finished;	/* connections closed */
static int	 connect_fails;	/* the next n connects fail */
static PGconn	*broken;	/* db_broken() is true for this one */
static __thread enum db_class last;
static int	 served;		/* takers that got an answer */
static pthread_mutex_t served_mu = PTHREAD_MUTEX_INITIALIZER;

PGconn *
db_connect_opts(const char *conninfo, const struct db_opts *o, char *err,
    size_t len)
{
	(void)conninfo;
	(void)o;
	if (connect_fails > 0) {
		connect_fails--;
		snprintf(err, len, "connection refused");
		last = DB_UNAVAILABLE;
		return NULL;
	}
	return (PGconn *)(uintptr_t)(0x1000 + 16 * ++opened);
}

bool
db_broken(PGconn *c)
{
	return c == broken;
}

PGTransactionStatusType
PQtransactionStatus(const PGconn *c)
{
	(void)c;
	return PQTRANS_IDLE;
}

void
PQfinish(PGconn *c)
{
	(void)c;
	finished++;
}

void
db_errclass_set(enum db_class c)
{
	last = c;
}

enum db_class
db_errclass(void)
{
	return last;
}

/* ---- helpers ---- */

static void
nap(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

static struct db_pool *
pool(int max, double timeout)
{
	struct db_opts o = { 0, 0, timeout };

	opened = finished = connect_fails = served = 0;
	broken = NULL;
	return db_pool_new_opts("dbname=stub", max, &o);
}

/* A request thread: waits for a connection, notes when it got it. */
struct taker {
	struct db_pool	*p;
	pthread_t	 t;
	PGconn		*c;
	int		 order;		/* 1 = first to get one */
	enum db_class	 cls;
};

static void *
taker_run(void *arg)
{
	struct taker *k = arg;
	char err[128];

	k->c = db_pool_get(k->p, err, sizeof(err));
	k->cls = k->c == NULL ? db_errclass() : DB_OK;
	pthread_mutex_lock(&served_mu);
	k->order = ++served;
	pthread_mutex_unlock(&served_mu);
	return NULL;
}

/* Starts a taker and gives it time to queue behind the ones before. */
static void
taker_start(struct taker *k, struct db_pool *p)
{
	memset(k, 0, sizeof(*k));
	k->p = p;
	assert_int_equal(pthread_create(&k->t, NULL, taker_run, k), 0);
	nap(50);
}

/* ---- tests ---- */

/*
 * A connection given back goes to the thread that has waited longest,
 * not to a thread that asks later: with one condition variable and no
 * line, the newcomer took it while the woken waiter reacquired the lock,
 * and under load some requests waited round after round.
 */
static void
test_returned_connection_goes_to_the_waiter(void **state)
{
	struct db_pool *p = pool(1, 0.3);
	struct taker a;
	PGconn *c, *late;
	char err[128];

	(void)state;
	c = db_pool_get(p, err, sizeof(err));
	assert_non_null(c);
	taker_start(&a, p);
	assert_int_equal(served, 0);	/* a waits: the only one is lent */
	db_pool_put(p, c);
	/* This thread asks at once, before a has run: it must queue. */
	late = db_pool_get(p, err, sizeof(err));
	assert_int_equal(pthread_join(a.t, NULL), 0);
	assert_ptr_equal(a.c, c);
	assert_int_equal(a.order, 1);
	assert_null(late);
	assert_int_equal(db_errclass(), DB_BUSY);
	assert_non_null(strstr(err, "no pooled connection free within 0.3s"));
	db_pool_put(p, a.c);
	assert_int_equal(opened, 1);
	db_pool_free(p);
}

/* Waiters are served in the order they came. */
static void
test_waiters_are_served_in_order(void **state)
{
	struct db_pool *p = pool(1, 2);
	struct taker k[4];
	PGconn *c;
	char err[128];
	int i;

	(void)state;
	c = db_pool_get(p, err, sizeof(err));
	for (i = 0; i < 4; i++)
		taker_start(&k[i], p);
	for (i = 0; i < 4; i++) {
		db_pool_put(p, c);
		assert_int_equal(pthread_join(k[i].t, NULL), 0);
		assert_int_equal(k[i].order, i + 1);
		c = k[i].c;
		assert_non_null(c);
	}
	db_pool_put(p, c);
	assert_int_equal(opened, 1);
	db_pool_free(p);
}

/* A waiter that gives up leaves the line; the one behind it is served. */
static void
test_timed_out_waiter_leaves_the_line(void **state)
{
	struct db_pool *p = pool(1, 0.2);
	struct taker a, b;
	PGconn *c;
	char err[128];

	(void)state;
	c = db_pool_get(p, err, sizeof(err));
	taker_start(&a, p);
	nap(250);			/* a gives up */
	assert_int_equal(pthread_join(a.t, NULL), 0);
	assert_null(a.c);
	assert_int_equal(a.cls, DB_BUSY);
	taker_start(&b, p);
	db_pool_put(p, c);
	assert_int_equal(pthread_join(b.t, NULL), 0);
	assert_ptr_equal(b.c, c);
	db_pool_put(p, b.c);
	db_pool_free(p);
}

/*
 * A broken connection given back is closed, and its place goes to the
 * waiter, which opens a new one; so does the place of a failed connect.
 */
static void
test_broken_and_failed_connections_free_their_place(void **state)
{
	struct db_pool *p = pool(1, 2);
	struct taker a, b;
	PGconn *c;
	char err[128];

	(void)state;
	c = db_pool_get(p, err, sizeof(err));
	taker_start(&a, p);
	broken = c;
	db_pool_put(p, c);
	assert_int_equal(pthread_join(a.t, NULL), 0);
	assert_int_equal(finished, 1);
	assert_non_null(a.c);
	assert_ptr_not_equal(a.c, c);	/* a new one */
	assert_int_equal(opened, 2);
	/* Now a connect fails while b waits: b gets the place, and its own
	 * connect is the one that answers (no wait for the timeout). */
	taker_start(&b, p);
	connect_fails = 1;
	broken = a.c;
	db_pool_put(p, a.c);
	assert_int_equal(pthread_join(b.t, NULL), 0);
	assert_null(b.c);
	assert_int_equal(b.cls, DB_UNAVAILABLE);
	c = db_pool_get(p, err, sizeof(err));	/* the place is free again */
	assert_non_null(c);
	db_pool_put(p, c);
	db_pool_free(p);
}

/* Idle connections are lent before new ones are opened, up to max. */
static void
test_reuse_before_opening(void **state)
{
	struct db_pool *p = pool(3, 0.1);
	PGconn *c[3];
	char err[128];
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_non_null(c[i] = db_pool_get(p, err, sizeof(err)));
	assert_null(db_pool_get(p, err, sizeof(err)));
	assert_int_equal(db_errclass(), DB_BUSY);
	for (i = 0; i < 3; i++)
		db_pool_put(p, c[i]);
	for (i = 0; i < 3; i++)
		assert_non_null(c[i] = db_pool_get(p, err, sizeof(err)));
	assert_int_equal(opened, 3);
	for (i = 0; i < 3; i++)
		db_pool_put(p, c[i]);
	db_pool_free(p);
	assert_int_equal(finished, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_returned_connection_goes_to_the_waiter),
		cmocka_unit_test(test_waiters_are_served_in_order),
		cmocka_unit_test(test_timed_out_waiter_leaves_the_line),
		cmocka_unit_test(test_broken_and_failed_connections_free_their_place),
		cmocka_unit_test(test_reuse_before_opening),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
