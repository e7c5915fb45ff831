/*
 * api_db.h - the api process's context and what every resource does
 * with the database (api_db.c).
 *
 * The context travels to each handler as http_req.app.  Database
 * connections come from per-process pools, so a handler never opens
 * one per request.
 */
#ifndef NOTIFYD_API_DB_H
#define NOTIFYD_API_DB_H

#include <jansson.h>
#include <libpq-fe.h>

#include "db.h"
#include "http.h"

struct api_inbox_hub;
struct api_notify;
struct api_template_cache;

/* Budgets of connections: slow audit queries cannot take the others'. */
enum api_pool_id {
	API_POOL_MAIN = 0,
	API_POOL_AUDIT,
	API_POOLS
};

struct api_ctx {
	struct db_pool		*pool;		/* API_POOL_MAIN */
	struct db_pool		*audit_pool;	/* API_POOL_AUDIT */
	struct db_pool		*store_pool;	/* api_store's own connection */
	struct api_notify	*notify;	/* producer and ack tracking */
	struct api_template_cache *templates;	/* parsed, by name+version */
	struct api_inbox_hub	*inbox;		/* live inbox streams */
};

/* The context of the process serving r. */
static inline struct api_ctx *
api_ctx_of(const struct http_req *r)
{
	return r->app;
}

struct db_pool *api_db_pool(struct http_req *);
PGresult *api_db_query(struct http_req *, struct http_resp *, const char *sql,
	    int n, const char *const *params);
/* api_db_query with the result in binary (db_query_binary). */
PGresult *api_db_query_binary(struct http_req *, struct http_resp *,
	    const char *sql, int n, const char *const *params);
/* api_db_query_binary with each row handed to fn as it arrives
 * (db_query_rows); -1 after answering the failure. */
int	 api_db_query_rows(struct http_req *, struct http_resp *,
	    const char *sql, int n, const char *const *params, db_row_fn fn,
	    void *arg) __attribute__((warn_unused_result));
PGresult *api_db_write(struct http_req *, struct http_resp *, const char *sql,
	    int n, const char *const *params);
/* A keyset page's parameters (api_db_page): p goes to the statement. */
struct api_db_page {
	const char	*p[2];		/* $1 after, $2 limit */
	char		 lim[24];
	long long	 limit;
};
int	 api_db_page(struct http_req *, struct http_resp *,
	    struct api_db_page *) __attribute__((warn_unused_result));
void	api_db_fail(struct http_req *, struct http_resp *, int dbclass,
	    const char *err);
json_t	*api_db_col_str(const PGresult *, int row, int col);
json_t	*api_db_col_int(const PGresult *, int row, int col);
json_t	*api_db_col_jsonb(const PGresult *, int row, int col);
const char *api_db_path_id(struct http_req *, struct http_resp *,
	    const char *what);

#endif
