/*
 * api_ops.c - /health, /ready, /metrics and /openapi.json.
 *
 * /health says the process serves; /ready says its dependencies answer
 * and, with email on, that every mailer holds its partitions;
 * /metrics sums the shared stats page over every process (any api
 * process can answer for all of them); /openapi.json is the API's
 * description, built into the binary so it always matches it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_db.h"
#include "api_notify.h"
#include "api_ops.h"
#include "conf.h"
#include "db.h"
#include "metrics.h"
#include "role.h"
#include "stats.h"

void
api_ops_health(struct http_req *r, struct http_resp *rs)
{
	http_json(rs, 200, json_pack("{s:s}", "status", "ok"));
}

/*
 * One round trip to PostgreSQL on a pooled connection, and once more if
 * that connection had broken since it was pooled (a database restart
 * should not make the first probe after it fail).
 */
static int
api_ops_db_check(struct http_req *r, char *why, size_t len)
{
	int tries, rc = -1;
	PGconn *c;

	for (tries = 0; tries < 2 && rc == -1; tries++) {
		if ((c = db_pool_get(api_db_pool(r), why, len)) == NULL)
			return -1;
		rc = db_exec(c, "SELECT 1", why, len);
		if (rc == -1 && !db_broken(c))
			tries = 2;	/* a live server refused: no retry */
		db_pool_put(api_db_pool(r), c);
	}
	return rc;
}

/*
 * The workers that consume a topic, as /ready names them.  Each tells
 * the master it is ready only once its partitions arrive (an empty
 * share counts), so "ready" means a notification posted now is picked
 * up at once, whatever its channel.  During a reload the old generation
 * stays READY until the new one is, so /ready carries on through it.
 */
static const struct {
	enum role	 role;
	const char	*check;		/* the member of "checks" */
	const char	*what;		/* in "waiting: ..." */
} api_ops_workers[] = {
	{ ROLE_MAILER,	"mailers",	"mailers" },
	{ ROLE_INBOX,	"inbox",	"inbox workers" },
	{ ROLE_WEBHOOK,	"webhook",	"webhook workers" },
};

static const char *
api_ops_topic(enum role role)
{
	switch (role) {
	case ROLE_INBOX:
		return conf->inbox_topic;
	case ROLE_WEBHOOK:
		return conf->webhook_topic;
	default:
		return conf->email_topic;
	}
}

/* Workers of role (of any generation) that hold their assignment. */
static int
api_ops_holding(enum role role)
{
	int i, held = 0;

	for (i = 0; i < STATS_SLOTS; i++)
		if (stats->slot[i].role == (int)role &&
		    __atomic_load_n(&stats->slot[i].state, __ATOMIC_ACQUIRE) ==
		    SLOT_READY)
			held++;
	return held;
}

/* Ready when every consuming role runs as many as its key says. */
static bool
api_ops_workers_check(json_t *checks)
{
	bool ok = true;
	size_t i;
	int held, want;

	for (i = 0; i < sizeof(api_ops_workers) / sizeof(api_ops_workers[0]);
	    i++) {
		if ((want = role_count(api_ops_workers[i].role, conf)) == 0)
			continue;
		if ((held = api_ops_holding(api_ops_workers[i].role)) >=
		    want) {
			json_object_set_new(checks, api_ops_workers[i].check,
			    json_string("ok"));
			continue;
		}
		ok = false;
		json_object_set_new(checks, api_ops_workers[i].check,
		    json_sprintf("waiting: %d of %d %s do not hold their %s "
		    "partitions yet", want - held, want,
		    api_ops_workers[i].what,
		    api_ops_topic(api_ops_workers[i].role)));
	}
	return ok;
}

void
api_ops_ready(struct http_req *r, struct http_resp *rs)
{
	char why[DB_ERRLEN];
	json_t *checks = json_object();
	bool ok = true;

	if (api_ops_db_check(r, why, sizeof(why)) == -1) {
		ok = false;
		json_object_set_new(checks, "database", json_sprintf("down: %s",
		    why));
	} else
		json_object_set_new(checks, "database", json_string("ok"));
	if (api_ctx_of(r)->notify != NULL) {
		if (api_notify_ready(api_ctx_of(r), why, sizeof(why)) == -1) {
			ok = false;
			json_object_set_new(checks, "kafka",
			    json_sprintf("down: %s", why));
		} else
			json_object_set_new(checks, "kafka", json_string("ok"));
	}
	if (!api_ops_workers_check(checks))
		ok = false;
	http_json(rs, ok ? 200 : 503, json_pack("{s:s,s:b,s:o}", "status",
	    ok ? "ready" : "unavailable", "ready", ok, "checks", checks));
}

void
api_ops_metrics(struct http_req *r, struct http_resp *rs)
{
	const char *names[STATS_ROUTES];
	char *text;
	int n;

	for (n = 0; n < STATS_ROUTES && r->routes[n].pattern != NULL; n++)
		names[n] = r->routes[n].name;
	if ((text = metrics_render(names, n)) == NULL) {
		http_error(rs, 500, "out of memory", NULL);
		return;
	}
	rs->status = 200;
	rs->text = text;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void
api_ops_openapi(struct http_req *r, struct http_resp *rs)
{
	if ((rs->text = strndup((const char *)api_openapi_json,
	    api_openapi_json_len)) == NULL) {
		http_error(rs, 500, "out of memory", NULL);
		return;
	}
	rs->status = 200;
	rs->content_type = "application/json";
}
