/*
 * api_suppress.c - the suppression list (admin scope) and a POST's
 * category (issue 16).
 *
 * Owns their SQL and answers.  The decision that a new notification is
 * SUPPRESSED is not here: the POST's group INSERT makes it in one
 * expression (email_suppression_reason, sql/014), and the mailer writes
 * bounces with its outcomes.  The rules (token, category, what a bounce
 * is) live in suppress.c; preferences and unsubscribe in api_prefs.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_db.h"
#include "api_suppress.h"
#include "conf.h"
#include "log.h"
#include "notif.h"
#include "suppress.h"
#include "util.h"

/* The columns every suppression read returns, in api_suppress_row's order. */
#define SUPPRESS_COLS \
    "address, reason, code, text, notification_id, " \
    "extract(epoch from created_at)::bigint, address_key"

static json_t *
api_suppress_row(const PGresult *res, int i)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}",
	    "address", api_db_col_str(res, i, 0),
	    "reason", api_db_col_str(res, i, 1),
	    "code", api_db_col_int(res, i, 2),
	    "text", api_db_col_str(res, i, 3),
	    "notificationId", api_db_col_int(res, i, 4),
	    "createdAt", api_db_col_int(res, i, 5));
}

/* The {address} segment, checked like a recipient; NULL after a 400. */
static const char *
api_suppress_address(struct http_req *r, struct http_resp *rs)
{
	const char *a = r->arg[0];

	if (a == NULL || util_has_ctl(a) || !notif_addr_valid(a)) {
		http_error(rs, 400, "address is not a valid email address",
		    "address");
		return NULL;
	}
	return a;
}

static const char api_suppress_sql_list[] =
    "SELECT " SUPPRESS_COLS " FROM email_suppressions "
    "WHERE ($1::text IS NULL OR address_key > $1) "
    "ORDER BY address_key LIMIT $2";

/* By address key; "next" is the cursor for ?after= when more may follow. */
void
api_suppress_list(struct http_req *r, struct http_resp *rs)
{
	json_t *arr, *next = json_null();
	struct api_db_page pg;
	PGresult *res;
	int i;

	if (api_db_page(r, rs, &pg) == -1 || (res = api_db_query(r, rs,
	    api_suppress_sql_list, 2, pg.p)) == NULL)
		return;
	arr = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(arr, api_suppress_row(res, i));
	if (PQntuples(res) == pg.limit)
		next = api_db_col_str(res, PQntuples(res) - 1, 6);
	PQclear(res);
	http_json(rs, 200, json_pack("{s:o,s:o}", "suppressions", arr, "next",
	    next));
}

/* One row of res (or a 404) as the answer with status. */
static void
api_suppress_one(struct http_resp *rs, PGresult *res, int status)
{
	if (PQntuples(res) == 0)
		http_error(rs, 404, "address is not suppressed", "address");
	else
		http_json(rs, status, api_suppress_row(res, 0));
	PQclear(res);
}

static const char api_suppress_sql_get[] =
    "SELECT " SUPPRESS_COLS " FROM email_suppressions "
    "WHERE address_key = email_suppression_key($1)";

void
api_suppress_get(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	PGresult *res;

	if ((p[0] = api_suppress_address(r, rs)) != NULL &&
	    (res = api_db_query(r, rs, api_suppress_sql_get, 1, p)) != NULL)
		api_suppress_one(rs, res, 200);
}

/* A manual entry replaces whatever was there (a bounce, say). */
static const char api_suppress_sql_put[] =
    "INSERT INTO email_suppressions (address_key, address, reason, text) "
    "VALUES (email_suppression_key($1), $1, 'manual', 'added by hand') "
    "ON CONFLICT (address_key) DO UPDATE SET reason = 'manual',"
    " code = NULL, text = 'added by hand', notification_id = NULL,"
    " created_at = now() "
    "RETURNING " SUPPRESS_COLS;

void
api_suppress_put(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	PGresult *res;

	if ((p[0] = api_suppress_address(r, rs)) == NULL ||
	    (res = api_db_write(r, rs, api_suppress_sql_put, 1, p)) == NULL)
		return;
	log_info("suppression of %s added by request", p[0]);
	api_suppress_one(rs, res, 200);
}

static const char api_suppress_sql_delete[] =
    "DELETE FROM email_suppressions "
    "WHERE address_key = email_suppression_key($1) RETURNING " SUPPRESS_COLS;

/* Lifts a suppression: answers with the entry removed. */
void
api_suppress_delete(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	PGresult *res;

	if ((p[0] = api_suppress_address(r, rs)) == NULL ||
	    (res = api_db_write(r, rs, api_suppress_sql_delete, 1, p)) == NULL)
		return;
	if (PQntuples(res) > 0)
		log_info("suppression of %s lifted by request", p[0]);
	api_suppress_one(rs, res, 200);
}

/* The optional "category" of a POST body; -1 after a 400 naming it. */
int
api_suppress_category(json_t *body, const char **category,
    struct http_resp *rs)
{
	json_t *c = json_object_get(body, "category");

	*category = NULL;
	if (c == NULL || json_is_null(c))
		return 0;
	if (!json_is_string(c) || !suppress_category_valid(json_string_value(c))) {
		http_error(rs, 400, "category must be 1 to 64 of a-z 0-9 _ . -",
		    "category");
		return -1;
	}
	*category = json_string_value(c);
	return 0;
}

/* Adds category and, for a SUPPRESSED row, its reason to the 202's body. */
void
api_suppress_accepted(json_t *j, const char *category, const char *reason)
{
	if (category != NULL)
		json_object_set_new(j, "category", json_string(category));
	if (reason != NULL && *reason != '\0') {
		json_object_set_new(j, "status", json_string("SUPPRESSED"));
		json_object_set_new(j, "suppressedReason", json_string(reason));
	}
}

/* A notification row's category and suppressedReason (columns col and
 * col + 1), each only when set. */
void
api_suppress_notif_cols(json_t *j, const PGresult *res, int i, int col)
{
	if (!PQgetisnull(res, i, col))
		json_object_set_new(j, "category", api_db_col_str(res, i, col));
	if (!PQgetisnull(res, i, col + 1))
		json_object_set_new(j, "suppressedReason", api_db_col_str(res, i,
		    col + 1));
}
