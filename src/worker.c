/*
 * worker.c - the set-up the worker roles (mailer, inbox, webhook,
 * events) share: a database link that reconnects with a capped backoff
 * and says so once, the owner name their leases carry, and the retry
 * policy from the configuration.
 *
 * No SQL and no decision of a role's: what a role does with its rows,
 * and when it gives up, stays in its file.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "mailpolicy.h"
#include "stats.h"
#include "worker.h"

/* (Re)connects with a capped backoff; NULL while the database is out. */
PGconn *
worker_db(struct db_link *l)
{
	const struct db_opts o = { conf->database_connect_timeout,
	    conf->database_worker_statement_timeout, 0 };
	char err[DB_ERRLEN];
	enum db_link_state st;

	l->conninfo = conf->database_conninfo;
	l->opts = o;
	l->backoff.first = 0.5;
	l->backoff.max = 10;
	st = db_link_check(l, err, sizeof(err));
	if (st == DB_LINK_RESTORED)
		log_info("database connection restored");
	if (st == DB_LINK_FAILED) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("database: %s; retrying in %.1f s", err, l->delay);
	}
	return l->conn;
}

/* The lease owner: host, pid and role/index, unique among live workers. */
void
worker_owner(char *buf, size_t len, const char *role, int index)
{
	char host[64];

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, len, "%s:%d:%s/%d", host, (int)getpid(), role, index);
}

/* The retry policy, from this process's configuration snapshot. */
void
worker_policy(struct mailpolicy *p)
{
	p->max_attempts = conf->email_retry_max_attempts;
	p->retry_initial = conf->email_retry_initial;
	p->retry_multiplier = conf->email_retry_multiplier;
	p->retry_max_delay = conf->email_retry_max_delay;
	p->retry_jitter = conf->email_retry_jitter;
	p->requeue_base = conf->sweeper_interval;
	p->requeue_max_delay = conf->sweeper_max_delay;
}
