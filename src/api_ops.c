/*
 * api_ops.c - /health, /ready, /metrics and /openapi.json.
 *
 * /health says the process serves; /ready says its dependencies answer;
 * /metrics sums the shared stats page over every process (any api
 * process can answer for all of them); /openapi.json is the API's
 * description, built into the binary so it always matches it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_priv.h"
#include "conf.h"
#include "db.h"
#include "metrics.h"
#include "stats.h"

void
api_ops_health(struct api_req *r, struct api_resp *rs)
{
	api_json(rs, 200, json_pack("{s:s}", "status", "ok"));
}

/*
 * One round trip to PostgreSQL on a pooled connection, and once more if
 * that connection had broken since it was pooled (a database restart
 * should not make the first probe after it fail).
 */
static int
api_ops_db_check(struct api_req *r, char *why, size_t len)
{
	int tries, rc = -1;
	PGconn *c;

	for (tries = 0; tries < 2 && rc == -1; tries++) {
		if ((c = db_pool_get(api_pool(r), why, len)) == NULL)
			return -1;
		rc = db_exec(c, "SELECT 1", why, len);
		if (rc == -1 && !db_broken(c))
			tries = 2;	/* a live server refused: no retry */
		db_pool_put(api_pool(r), c);
	}
	return rc;
}

void
api_ops_ready(struct api_req *r, struct api_resp *rs)
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
	if (r->ctx->notify != NULL) {
		if (api_notify_ready(r->ctx, why, sizeof(why)) == -1) {
			ok = false;
			json_object_set_new(checks, "kafka",
			    json_sprintf("down: %s", why));
		} else
			json_object_set_new(checks, "kafka", json_string("ok"));
	}
	api_json(rs, ok ? 200 : 503, json_pack("{s:s,s:o}", "status",
	    ok ? "ready" : "unavailable", "checks", checks));
}

void
api_ops_metrics(struct api_req *r, struct api_resp *rs)
{
	const char *names[STATS_ROUTES];
	char *text;
	int n;

	for (n = 0; n < STATS_ROUTES && api_routes[n].pattern != NULL; n++)
		names[n] = api_routes[n].name;
	if ((text = metrics_render(names, n)) == NULL) {
		api_error(rs, 500, "out of memory", NULL);
		return;
	}
	rs->status = 200;
	rs->text = text;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void
api_ops_openapi(struct api_req *r, struct api_resp *rs)
{
	if ((rs->text = strndup((const char *)api_openapi_json,
	    api_openapi_json_len)) == NULL) {
		api_error(rs, 500, "out of memory", NULL);
		return;
	}
	rs->status = 200;
	rs->content_type = "application/json";
}
