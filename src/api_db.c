/*
 * api_db.c - what every resource does with the database: the pool of
 * the request's route, statements whose failure becomes the answer,
 * column readers that turn a row into JSON.
 *
 * Sits between the resources (api_notify.c, api_audit.c, api_ops.c) and
 * the layers below (http.c, db.c); knows no route and no handler.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api_db.h"
#include "db.h"
#include "log.h"
#include "stats.h"

/* Column readers for result rows: SQL NULL becomes JSON null. */
json_t *
api_db_col_str(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_string(PQgetvalue(res, row, col));
}

json_t *
api_db_col_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_integer(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

json_t *
api_db_col_jsonb(const PGresult *res, int row, int col)
{
	json_t *j;

	if (PQgetisnull(res, row, col))
		return json_null();
	j = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY, NULL);
	return j != NULL ? j : json_null();
}

/* Seconds a client should wait before trying a 503 again. */
#define API_RETRY_UNAVAILABLE	5
#define API_RETRY_BUSY		2

/*
 * Answers a failed statement by what the failure means (db_classify):
 * 503 + Retry-After when the database is out (counted as a database
 * error) or busy (a pool wait or statement timeout: counted apart, as
 * overload is not an outage); 422 when the server refused the data the
 * client sent; 500 for anything else.  Only the first two are worth a
 * client's retry.
 */
void
api_db_fail(struct http_req *r, struct http_resp *rs, int cls, const char *err)
{
	switch (cls) {
	case DB_UNAVAILABLE:
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("%s %s: database: %s", r->method, r->url, err);
		http_error(rs, 503, "database unavailable", NULL);
		http_resp_header(rs, "Retry-After", "%d", API_RETRY_UNAVAILABLE);
		break;
	case DB_BUSY:
		stats_add(CTR_DB_TIMEOUTS, 1);
		log_warnx("%s %s: database busy: %s", r->method, r->url, err);
		http_error(rs, 503, "database busy", NULL);
		http_resp_header(rs, "Retry-After", "%d", API_RETRY_BUSY);
		break;
	case DB_DATA:
		log_info("%s %s: database refused the data: %s", r->method,
		    r->url, err);
		http_error(rs, 422, "the database refused the data", NULL);
		break;
	default:
		log_warnx("%s %s: database: %s", r->method, r->url, err);
		http_error(rs, 500, "the database refused the statement", NULL);
		break;
	}
}

/*
 * Runs one statement on a connection of the route's pool; answers the
 * failure (api_db_fail) when it fails.  With retry, a connection found
 * broken (PostgreSQL restarted since it was pooled) is replaced once:
 * only for statements that are harmless to run twice, since a write may
 * have committed before the connection dropped.
 */
static PGresult *
api_db_run(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params, bool retry, bool binary)
{
	char err[DB_ERRLEN] = "";
	enum db_class cls = DB_UNAVAILABLE;
	PGresult *res = NULL;
	PGconn *c;

	while ((c = db_pool_get(api_db_pool(r), err, sizeof(err))) != NULL) {
		res = binary ? db_query_binary(c, sql, n, params, err,
		    sizeof(err)) : db_query(c, sql, n, params, err, sizeof(err));
		cls = db_errclass();
		retry = retry && res == NULL && db_broken(c);
		db_pool_put(api_db_pool(r), c);
		if (!retry)
			break;
		retry = false;
	}
	if (c == NULL)
		cls = db_errclass();
	if (res == NULL)
		api_db_fail(r, rs, cls, err);
	return res;
}

/* Reads and idempotent writes. */
PGresult *
api_db_query(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_run(r, rs, sql, n, params, true, false);
}

/* Reads whose columns the caller decodes from binary. */
PGresult *
api_db_query_binary(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_run(r, rs, sql, n, params, true, true);
}

/* Counts the rows on their way to the caller's fn. */
struct api_db_rows {
	db_row_fn	 fn;
	void		*arg;
	long long	 seen;
};

static int
api_db_rows_one(void *arg, const PGresult *res, int row)
{
	struct api_db_rows *x = arg;

	x->seen++;
	return x->fn(x->arg, res, row);
}

/* As api_db_run, the rows streamed; a broken connection is replaced
 * only when no row reached fn yet. */
int
api_db_query_rows(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params, db_row_fn fn, void *arg)
{
	struct api_db_rows x = { fn, arg, 0 };
	char err[DB_ERRLEN] = "";
	enum db_class cls = DB_UNAVAILABLE;
	bool retry = true;
	int ret = -1;
	PGconn *c;

	while ((c = db_pool_get(api_db_pool(r), err, sizeof(err))) != NULL) {
		ret = db_query_rows(c, sql, n, params, true, api_db_rows_one,
		    &x, err, sizeof(err));
		cls = db_errclass();
		retry = retry && ret == -1 && x.seen == 0 && db_broken(c);
		db_pool_put(api_db_pool(r), c);
		if (!retry)
			break;
		retry = false;
	}
	if (c == NULL)
		cls = db_errclass();
	if (ret == -1)
		api_db_fail(r, rs, cls, err);
	return ret;
}

/* Writes that must not run twice. */
PGresult *
api_db_write(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_run(r, rs, sql, n, params, false, false);
}

/* The pool of the request's route (API_POOL_MAIN before routing). */
struct db_pool *
api_db_pool(struct http_req *r)
{
	const struct api_ctx *ctx = r->app;

	if (r->route >= 0 && r->routes[r->route].pool == API_POOL_AUDIT)
		return ctx->audit_pool;
	return ctx->pool;
}

/*
 * The route's {id} argument as a row id: digits only and at most 18 of
 * them (below 2^63), or 404 naming what (an id that cannot exist).
 */
const char *
api_db_path_id(struct http_req *r, struct http_resp *rs, const char *what)
{
	const char *s = r->arg[0];

	if (s == NULL || *s == '\0' || strspn(s, "0123456789") != strlen(s) ||
	    strlen(s) > 18) {
		http_error(rs, 404, what, "id");
		return NULL;
	}
	return s;
}
