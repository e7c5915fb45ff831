/*
 * api.h - what HTTP handlers see.
 *
 * api.c owns libmicrohttpd, routing, auth, bodies and error shapes; the
 * handlers (api_ops.c, api_notify.c, api_audit.c) get a parsed request
 * and fill a response.  Handlers run on the request threads (api_jobs.c,
 * http.threads of them; they may block) and borrow database connections
 * from the process's pool.
 */
#ifndef NOTIFYD_API_H
#define NOTIFYD_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>

#define API_MAX_ARGS	2
#define API_MAX_HEADERS	4	/* extra response headers: Location, Allow... */

struct api_ctx;

struct api_req {
	struct MHD_Connection *conn;
	struct api_ctx	*ctx;
	const char	*method;
	const char	*url;
	const char	*arg[API_MAX_ARGS];	/* {} path segments */
	char		*body;
	size_t		 body_len;
	bool		 body_too_big;
	int		 route;
	int64_t		 started_us;
};

struct api_resp_header {
	const char	*name;		/* a literal */
	char		 value[128];
};

struct api_resp {
	int		 status;
	json_t		*json;		/* owned; serialised compactly */
	char		*text;		/* owned; used when json is NULL */
	const char	*content_type;
	struct api_resp_header header[API_MAX_HEADERS];
	int		 nheader;
	/* A body streamed in chunks instead (json and text NULL): libmicro-
	 * httpd calls stream for each piece and stream_free once at the end,
	 * also when the client went away. */
	MHD_ContentReaderCallback stream;
	MHD_ContentReaderFreeCallback stream_free;
	void		*stream_cls;
};

typedef void (*api_handler)(struct api_req *, struct api_resp *);

struct api_route {
	const char	*method;
	const char	*pattern;	/* "{}" matches one path segment */
	api_handler	 fn;
	const char	*scope;		/* token scope needed, or NULL = public */
	const char	*name;		/* metrics label */
	const char	*arg_name[API_MAX_ARGS];	/* each {}, in errors */
	int		 pool;		/* API_POOL_*: whose connections */
};

/* Budgets of connections: slow audit queries cannot take the others'. */
enum api_pool_id {
	API_POOL_MAIN = 0,
	API_POOL_AUDIT,
	API_POOLS
};

extern const struct api_route api_routes[];

/* Response helpers. */
void	api_json(struct api_resp *, int status, json_t *);
void	api_error(struct api_resp *, int status, const char *error,
	    const char *field);
void	api_resp_header(struct api_resp *, const char *name, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
bool	api_content_json(struct api_req *, struct api_resp *);
const char *api_query(struct api_req *, const char *key);
const char *api_header(struct api_req *, const char *name);
bool	api_params_known(struct api_req *, const char *const *allowed,
	    struct api_resp *);
int	api_param_int(struct api_req *, const char *key, long long def,
	    long long min, long long max, long long *out, struct api_resp *);
struct db_pool *api_pool(struct api_req *);
PGresult *api_db_query(struct api_req *, struct api_resp *, const char *sql,
	    int n, const char *const *params);
PGresult *api_db_write(struct api_req *, struct api_resp *, const char *sql,
	    int n, const char *const *params);
void	api_db_fail(struct api_req *, struct api_resp *, int dbclass,
	    const char *err);
json_t	*api_col_str(const PGresult *, int row, int col);
json_t	*api_col_int(const PGresult *, int row, int col);
json_t	*api_col_jsonb(const PGresult *, int row, int col);

/* Handlers. */
void	api_ops_health(struct api_req *, struct api_resp *);
void	api_ops_ready(struct api_req *, struct api_resp *);
void	api_ops_metrics(struct api_req *, struct api_resp *);
void	api_ops_openapi(struct api_req *, struct api_resp *);

/* doc/openapi.json, embedded at build time (api_openapi.c, generated). */
extern const unsigned char api_openapi_json[];
extern const size_t api_openapi_json_len;

#endif
