/*
 * api_db.c - what every resource does with the database: the pool of
 * the request's route, statements whose failure becomes the answer,
 * column readers that turn a row into JSON.
 *
 * Sits between the resources (api_notify.c, api_audit.c, api_ops.c) and
 * the layers below (http.c, db.c); knows no route and no handler.
 */
#include "config.h"

#include <stdio.h>
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
 * One statement and where its answer goes: a result (res), or, with
 * fn, each row as it arrives, counted (seen) so that a failure after
 * some rows reached fn is never run again.
 */
struct api_db_stmt {
	const char		*sql;
	int			 n;
	const char *const	*params;
	bool			 binary;
	db_row_fn		 fn;
	void			*arg;
	PGresult		*res;
	long long		 seen;
};

/* Counts the rows on their way to the caller's fn. */
static int
api_db_stmt_row(void *arg, const PGresult *res, int row)
{
	struct api_db_stmt *s = arg;

	s->seen++;
	return s->fn(s->arg, res, row);
}

/* Runs s once on c: 0, or -1 with err set. */
static int
api_db_stmt_once(struct api_db_stmt *s, PGconn *c, char *err, size_t len)
{
	if (s->fn != NULL)
		return db_query_rows(c, s->sql, s->n, s->params, s->binary,
		    api_db_stmt_row, s, err, len);
	s->res = s->binary ? db_query_binary(c, s->sql, s->n, s->params, err,
	    len) : db_query(c, s->sql, s->n, s->params, err, len);
	return s->res != NULL ? 0 : -1;
}

/*
 * Runs s on a connection of the route's pool; answers the failure
 * (api_db_fail) when it fails.  With retry, a connection found broken
 * (PostgreSQL restarted since it was pooled) is replaced once: only for
 * statements that are harmless to run twice, since a write may have
 * committed before the connection dropped, and only while no row has
 * reached the caller.
 */
static int
api_db_run(struct http_req *r, struct http_resp *rs, struct api_db_stmt *s,
    bool retry)
{
	char err[DB_ERRLEN] = "";
	enum db_class cls = DB_UNAVAILABLE;
	int ret = -1;
	PGconn *c;

	while ((c = db_pool_get(api_db_pool(r), err, sizeof(err))) != NULL) {
		ret = api_db_stmt_once(s, c, err, sizeof(err));
		cls = db_errclass();
		retry = retry && ret == -1 && s->seen == 0 && db_broken(c);
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

/* api_db_run for a result. */
static PGresult *
api_db_result(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params, bool retry, bool binary)
{
	struct api_db_stmt s = { sql, n, params, binary, NULL, NULL, NULL, 0 };

	return api_db_run(r, rs, &s, retry) == 0 ? s.res : NULL;
}

/* Reads and idempotent writes. */
PGresult *
api_db_query(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_result(r, rs, sql, n, params, true, false);
}

/* Reads whose columns the caller decodes from binary. */
PGresult *
api_db_query_binary(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_result(r, rs, sql, n, params, true, true);
}

/* Binary reads, the rows streamed to fn. */
int
api_db_query_rows(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params, db_row_fn fn, void *arg)
{
	struct api_db_stmt s = { sql, n, params, true, fn, arg, NULL, 0 };

	return api_db_run(r, rs, &s, true);
}

/* Writes that must not run twice. */
PGresult *
api_db_write(struct http_req *r, struct http_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_result(r, rs, sql, n, params, false, false);
}

/*
 * A page keyed by text, ?after= (the last key of the page before) and
 * ?limit= (1 to 1000, 50), as the parameters of its statement: $1 after
 * (NULL for the first page), $2 the limit, written into pg.  -1 after
 * answering a bad or unknown parameter.
 */
int
api_db_page(struct http_req *r, struct http_resp *rs, struct api_db_page *pg)
{
	static const char *const known[] = { "limit", "after", NULL };

	if (!http_params_known(r, known, rs) ||
	    http_param_int(r, "limit", 50, 1, 1000, &pg->limit, rs) == -1)
		return -1;
	snprintf(pg->lim, sizeof(pg->lim), "%lld", pg->limit);
	pg->p[0] = http_query(r, "after");
	pg->p[1] = pg->lim;
	return 0;
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
