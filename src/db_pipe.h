/*
 * db_pipe.h - statements sent ahead on a connection, their results read
 * later (db_pipe.c), used by the mailer.
 */
#ifndef NOTIFYD_DB_PIPE_H
#define NOTIFYD_DB_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

/*
 * A statement prepared once per connection (db_pipe_send_named); the
 * caller keeps it, e.g. static, zeroed but for base, sql and nparams.
 */
struct db_pipe_stmt {
	const char	*base;		/* name prefix, a string constant */
	const char	*sql;
	int		 nparams;
	/* private */
	char		 name[48];	/* base_N: a fresh N after any doubt */
	unsigned	 gen;
	int		 pid;		/* backend that has name prepared */
	int		 sent_pid;	/* prepared with the statement in flight */
};

int	 db_pipe_send_named(PGconn *, struct db_pipe_stmt *,
	    const char *const *params, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
PGresult *db_pipe_result(PGconn *, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
PGresult *db_pipe_result_named(PGconn *, struct db_pipe_stmt *, char *err,
	    size_t errlen) __attribute__((warn_unused_result));
void	 db_pipe_end(PGconn *);

#endif
