/*
 * api_template_watch.c - the latest version of each template name, per
 * api process, without a query per POST.
 *
 * Resolving "the latest version" is one primary-key lookup, but a POST
 * that makes one on top of its own commit ran at 0.56 of a plain POST
 * (t/bench template_post).  So each process remembers what it looked up
 * and a thread of its own LISTENs on notifyd_templates, which a trigger
 * on email_template_names (sql/008_templates.sql) notifies at the commit
 * of every change to a name: a notified name is forgotten, and looked up
 * again at its next use.
 *
 * What keeps it exact: nothing is remembered while the listener is not
 * connected (every use looks up, as without this file), and everything
 * is forgotten when it (re)connects, since notifications sent meanwhile
 * are lost.  A lookup that raced a notification is not remembered (the
 * generation moved).  The process that saved a template forgets the name
 * at once; the others within a notification's delivery time (a
 * millisecond or so on one host).  As a last resort against a connection
 * that died silently, the listener pings every 5 s and an entry is kept
 * at most 10 s.
 */
#include "config.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "api_template_watch.h"
#include "db.h"
#include "log.h"
#include "notif.h"
#include "template.h"
#include "util.h"

#define WATCH_SLOTS	256
#define WATCH_TTL	10.0	/* s an entry is trusted at most */
#define WATCH_PING	5.0	/* s between liveness checks of the listener */

struct api_watch_ent {
	char				 name[TEMPLATE_NAME_MAX + 1];
	struct api_template_names_row	 row;
	double				 at;	/* util_now() when looked up */
};

struct api_template_watch {
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	bool			 stop;
	bool			 live;	/* listening: entries may be used */
	bool			 quiet;	/* the listener's failure was logged */
	uint64_t		 gen;	/* moves on every forgetting */
	struct api_watch_ent	 ent[WATCH_SLOTS];
	char			*conninfo;
	struct db_opts		 opts;
};

static struct api_watch_ent *
api_watch_slot(struct api_template_watch *w, const char *name)
{
	return &w->ent[notif_hash(name, strlen(name)) % WATCH_SLOTS];
}

/* Everything forgotten, and whether entries may be kept from now on. */
static void
api_watch_reset(struct api_template_watch *w, bool live)
{
	pthread_mutex_lock(&w->mu);
	memset(w->ent, 0, sizeof(w->ent));
	w->live = live;
	w->gen++;
	pthread_mutex_unlock(&w->mu);
}

void
api_template_watch_forget(struct api_template_watch *w, const char *name)
{
	struct api_watch_ent *e = api_watch_slot(w, name);

	pthread_mutex_lock(&w->mu);
	if (strcmp(e->name, name) == 0)
		e->name[0] = '\0';
	w->gen++;
	pthread_mutex_unlock(&w->mu);
}

/* A remembered row for name; else false and *gen to hand to _put. */
bool
api_template_watch_get(struct api_template_watch *w, const char *name,
    struct api_template_names_row *row, uint64_t *gen)
{
	struct api_watch_ent *e = api_watch_slot(w, name);
	bool hit;

	pthread_mutex_lock(&w->mu);
	hit = w->live && strcmp(e->name, name) == 0 &&
	    util_now() - e->at < WATCH_TTL;
	if (hit)
		*row = e->row;
	*gen = w->gen;
	pthread_mutex_unlock(&w->mu);
	return hit;
}

/* Remembers a lookup begun at generation gen, unless it may be stale. */
void
api_template_watch_put(struct api_template_watch *w, const char *name,
    const struct api_template_names_row *row, uint64_t gen)
{
	struct api_watch_ent *e = api_watch_slot(w, name);

	pthread_mutex_lock(&w->mu);
	if (w->live && w->gen == gen) {
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->row = *row;
		e->at = util_now();
	}
	pthread_mutex_unlock(&w->mu);
}

/*
 * A listening connection, or NULL (the caller retries a second later).
 * Logged once per outage, not every second while PostgreSQL is away.
 */
static PGconn *
api_watch_connect(struct api_template_watch *w)
{
	char err[DB_ERRLEN];
	PGconn *c;

	if ((c = db_connect_opts(w->conninfo, &w->opts, err, sizeof(err))) ==
	    NULL || db_exec(c, "LISTEN notifyd_templates", err,
	    sizeof(err)) == -1) {
		if (!w->quiet)
			log_warnx("template watch: %s (looking every template "
			    "up until it listens again)", err);
		w->quiet = true;
		if (c != NULL)
			PQfinish(c);
		return NULL;
	}
	if (w->quiet)
		log_info("template watch: listening again");
	w->quiet = false;
	api_watch_reset(w, true);
	return c;
}

/* Forgets each notified name; -1 when the connection is gone. */
static int
api_watch_drain(struct api_template_watch *w, PGconn *c, double *ping_at)
{
	char err[DB_ERRLEN];
	PGnotify *n;

	if (PQconsumeInput(c) == 0)
		return -1;
	while ((n = PQnotifies(c)) != NULL) {
		api_template_watch_forget(w, n->extra);
		PQfreemem(n);
	}
	if (util_now() < *ping_at)
		return 0;
	*ping_at = util_now() + WATCH_PING;
	return db_exec(c, "SELECT 'notifyd template watch'", err, sizeof(err));
}

static void *
api_watch_main(void *arg)
{
	struct api_template_watch *w = arg;
	double ping_at = 0;
	struct pollfd pfd;
	PGconn *c = NULL;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		if (c == NULL && (c = api_watch_connect(w)) == NULL) {
			util_sleep(1);
			continue;
		}
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 200);
		if (api_watch_drain(w, c, &ping_at) == -1) {
			log_warnx("template watch: connection lost (looking "
			    "every template up until it is back)");
			w->quiet = true;
			api_watch_reset(w, false);
			PQfinish(c);
			c = NULL;
		}
	}
	if (c != NULL)
		PQfinish(c);
	return NULL;
}

struct api_template_watch *
api_template_watch_new(const char *conninfo, const struct db_opts *o)
{
	struct api_template_watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->conninfo = strdup(conninfo)) == NULL) {
		free(w);
		return NULL;
	}
	w->opts = *o;
	pthread_mutex_init(&w->mu, NULL);
	if (pthread_create(&w->thread, NULL, api_watch_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		free(w->conninfo);
		free(w);
		return NULL;
	}
	return w;
}

void
api_template_watch_free(struct api_template_watch *w)
{
	if (w == NULL)
		return;
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	free(w->conninfo);
	free(w);
}
