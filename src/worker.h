/*
 * worker.h - what the worker roles (mailer, inbox, webhook, events)
 * set up alike: their database link, their lease owner name, their
 * retry policy.  Their Kafka side is kafka_worker.h.
 */
#ifndef NOTIFYD_WORKER_H
#define NOTIFYD_WORKER_H

#include <stddef.h>

#include <libpq-fe.h>

#include "db.h"
#include "mailpolicy.h"

/*
 * (Re)connects link with the database.* worker settings and a capped
 * backoff, logging a failure (counted) and a restored connection; the
 * connection, or NULL while the database is out.
 */
PGconn	*worker_db(struct db_link *);
/* "host:pid:role/index": whose lease a row is under. */
void	 worker_owner(char *buf, size_t len, const char *role, int index);
/* email.retry.* and sweeper.*: one backoff for every channel's retries. */
void	 worker_policy(struct mailpolicy *);

#endif
