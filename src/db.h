/*
 * db.h - libpq plumbing: connections, a small pool, migrations.
 */
#ifndef NOTIFYD_DB_H
#define NOTIFYD_DB_H

#include <pthread.h>
#include <stdbool.h>
#include <libpq-fe.h>

#include "backoff.h"
#include "buf.h"

#define DB_ERRLEN 512

/*
 * What a failure means for whoever answers for it (db_classify): only
 * DB_UNAVAILABLE is the database being out.
 */
enum db_class {
	DB_OK = 0,
	DB_UNAVAILABLE,	/* cannot connect, or the connection was lost */
	DB_BUSY,	/* a timeout or contention: the same request may pass later */
	DB_DATA,	/* the statement's data was refused (classes 22, 23, 54) */
	DB_INTERNAL,	/* anything else: our SQL, a server-side rule, a bug */
};

/* Limits of connections; 0 leaves each unset. */
struct db_opts {
	double	 connect_timeout;	/* s; libpq's connect_timeout unless set */
	double	 statement_timeout;	/* s; statement_timeout of the session */
	double	 pool_timeout;		/* s db_pool_get waits for a connection */
};

struct db_waiter;

struct db_pool {
	pthread_mutex_t	 mu;
	struct db_waiter *line;		/* threads waiting, first first */
	struct db_waiter **tail;
	PGconn		**idle;
	int		 nidle;
	int		 total;		/* open, idle, lent or being opened */
	int		 max;
	char		*conninfo;
	struct db_opts	 opts;
};

PGconn	*db_connect(const char *conninfo, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
PGconn	*db_connect_opts(const char *conninfo, const struct db_opts *,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
enum db_class db_classify(const char *sqlstate);
enum db_class db_errclass(void);	/* of this thread's last failure */
void	 db_errclass_set(enum db_class);
int	 db_exec(PGconn *, const char *sql, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
PGresult *db_query(PGconn *, const char *sql, int n, const char *const *params,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
/* The same with every column in binary (the types' send functions). */
PGresult *db_query_binary(PGconn *, const char *sql, int n,
	    const char *const *params, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
/* Called with each row of db_query_rows: row `row` of res; -1 stops
 * the calls (the rest is read and dropped). */
typedef int (*db_row_fn)(void *arg, const PGresult *res, int row);
/* Runs one statement in single-row mode (binary columns when asked):
 * fn sees each row as it arrives, while the server produces the next.
 * 0 when the statement succeeded (whatever fn said); -1 with err set. */
int	 db_query_rows(PGconn *, const char *sql, int n,
	    const char *const *params, bool binary, db_row_fn fn, void *arg,
	    char *err, size_t errlen) __attribute__((warn_unused_result));
PGresult *db_query_named(PGconn *, const char *name, const char *sql, int n,
	    const char *const *params, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
bool	 db_broken(PGconn *);
const char *db_errmsg(const PGresult *, const PGconn *);
int	 db_migrate(PGconn *, const char *dir, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/* A PostgreSQL array literal built element by element ("{1,NULL,\"x\"}"). */
struct db_arr {
	struct buf b;
	int	 n;		/* elements so far */
};

void	 db_arr_text(struct db_arr *, const char *);	/* NULL -> NULL */
void	 db_arr_int(struct db_arr *, long long);
void	 db_arr_float(struct db_arr *, double);
const char *db_arr_end(struct db_arr *);	/* NULL when out of memory */
void	 db_arr_free(struct db_arr *);

/*
 * A role's own connection, reopened when it breaks.  Failed attempts
 * back off (first = 0: every call may try); the caller logs.
 */
struct db_link {
	PGconn		*conn;
	const char	*conninfo;
	struct db_opts	 opts;
	struct backoff	 backoff;
	double		 retry_at;	/* util_now() before which no attempt */
	double		 delay;		/* s, the wait after the last failure */
	bool		 down;		/* the last attempt failed */
};

enum db_link_state {
	DB_LINK_UP,		/* the connection is usable */
	DB_LINK_OPENED,		/* a new connection: set up the session */
	DB_LINK_RESTORED,	/* a new one after failed attempts */
	DB_LINK_FAILED,		/* this attempt failed; err says why */
	DB_LINK_WAITING,	/* down; the backoff allows no attempt yet */
};

enum db_link_state db_link_check(struct db_link *, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	 db_link_close(struct db_link *);

struct db_pool *db_pool_new(const char *conninfo, int max);
struct db_pool *db_pool_new_opts(const char *conninfo, int max,
	    const struct db_opts *);
void	 db_pool_free(struct db_pool *);
PGconn	*db_pool_get(struct db_pool *, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	 db_pool_put(struct db_pool *, PGconn *);

#endif
