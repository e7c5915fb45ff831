/*
 * db_pipe.h - statements sent ahead on a connection, their results read
 * later (db_pipe.c), used by the mailer.
 */
#ifndef NOTIFYD_DB_PIPE_H
#define NOTIFYD_DB_PIPE_H

#include <stddef.h>
#include <libpq-fe.h>

int	 db_pipe_send(PGconn *, const char *sql, int n,
	    const char *const *params, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
PGresult *db_pipe_result(PGconn *, char *err, size_t errlen)
	    __attribute__((warn_unused_result));
void	 db_pipe_end(PGconn *);

#endif
