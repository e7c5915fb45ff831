/*
 * api_webhook.c - the configured webhook endpoints and their state
 * (admin scope): GET .../webhooks/endpoints lists them with whether a
 * 410 disabled them; POST .../webhooks/endpoints/{name}/enable turns a
 * disabled one back on.  The endpoints themselves are the configuration's
 * (webhook.endpoints): URLs and secrets are never shown, only names.
 * Owns this SQL only; the disabling is the webhook worker's (webhook.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_db.h"
#include "api_webhook.h"
#include "conf.h"
#include "db.h"
#include "log.h"

static const char api_webhook_sql_state[] =
    "SELECT name, disabled_at IS NOT NULL,"
    " to_char(disabled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " disabled_code, disabled_text, disabled_by,"
    " to_char(enabled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "FROM webhook_endpoints WHERE name = ANY($1::text[])";

/* One endpoint: its settings, and its state from row i of res (or -1). */
static json_t *
api_webhook_json(const struct conf_webhook_endpoint *e, const PGresult *res,
    int i)
{
	json_t *j = json_pack("{s:s,s:f,s:i,s:b}", "name", e->name, "timeout",
	    e->timeout, "secrets", e->nsecrets, "disabled", i >= 0 &&
	    PQgetvalue(res, i, 1)[0] == 't');

	if (i >= 0 && PQgetvalue(res, i, 1)[0] == 't') {
		json_object_set_new(j, "disabledAt", api_db_col_str(res, i, 2));
		json_object_set_new(j, "disabledCode", api_db_col_int(res, i, 3));
		json_object_set_new(j, "disabledText", api_db_col_str(res, i, 4));
		json_object_set_new(j, "disabledBy", api_db_col_int(res, i, 5));
	}
	if (i >= 0 && !PQgetisnull(res, i, 6))
		json_object_set_new(j, "enabledAt", api_db_col_str(res, i, 6));
	return j;
}

/* The row of res for name, or -1. */
static int
api_webhook_row(const PGresult *res, const char *name)
{
	int i;

	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), name) == 0)
			return i;
	return -1;
}

/* The state rows of the configured endpoints (names as a text[]). */
static PGresult *
api_webhook_state(struct http_req *r, struct http_resp *rs)
{
	struct db_arr names;
	const char *p[1];
	PGresult *res;
	int i;

	memset(&names, 0, sizeof(names));
	for (i = 0; i < conf->webhook_nendpoints; i++)
		db_arr_text(&names, conf->webhook_endpoints[i].name);
	if ((p[0] = db_arr_end(&names)) == NULL) {
		db_arr_free(&names);
		http_error(rs, 500, "out of memory", NULL);
		return NULL;
	}
	res = api_db_query(r, rs, api_webhook_sql_state, 1, p);
	db_arr_free(&names);
	return res;
}

void
api_webhook_list(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { NULL };
	const struct conf_webhook_endpoint *e;
	PGresult *res;
	json_t *arr;
	int i;

	if (!http_params_known(r, known, rs) ||
	    (res = api_webhook_state(r, rs)) == NULL)
		return;
	arr = json_array();
	for (i = 0; i < conf->webhook_nendpoints; i++) {
		e = &conf->webhook_endpoints[i];
		json_array_append_new(arr, api_webhook_json(e, res,
		    api_webhook_row(res, e->name)));
	}
	PQclear(res);
	http_json(rs, 200, json_pack("{s:o}", "endpoints", arr));
}

static const char api_webhook_sql_enable[] =
    "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_code = NULL,"
    " disabled_text = NULL, disabled_by = NULL, enabled_at = now(),"
    " updated_at = now() WHERE name = $1 AND disabled_at IS NOT NULL "
    "RETURNING name";

/* Re-enables an endpoint a 410 disabled; answers with its state. */
void
api_webhook_enable(struct http_req *r, struct http_resp *rs)
{
	const struct conf_webhook_endpoint *e;
	const char *p[1];
	PGresult *res;
	int n;

	if ((e = conf_webhook_find(conf, r->arg[0] ? r->arg[0] : "")) == NULL) {
		http_error(rs, 404, "no such endpoint in webhook.endpoints",
		    "name");
		return;
	}
	p[0] = e->name;
	if ((res = api_db_write(r, rs, api_webhook_sql_enable, 1, p)) == NULL)
		return;
	n = PQntuples(res);
	PQclear(res);
	if (n > 0)
		log_info("webhook endpoint %s re-enabled by request", e->name);
	if ((res = api_webhook_state(r, rs)) == NULL)
		return;
	http_json(rs, 200, api_webhook_json(e, res, api_webhook_row(res,
	    e->name)));
	PQclear(res);
}
