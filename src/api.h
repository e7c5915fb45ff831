/*
 * api.h - what HTTP handlers see.
 *
 * api.c owns libmicrohttpd, routing, auth, bodies and error shapes; the
 * handlers (api_ops.c, api_notify.c, api_audit.c) get a parsed request
 * and fill a response.  Handlers run on connection threads and borrow
 * database connections from the process's pool.
 */
#ifndef NOTIFYD_API_H
#define NOTIFYD_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>

#define API_MAX_ARGS	2

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

struct api_resp {
	int		 status;
	json_t		*json;		/* owned; serialised compactly */
	char		*text;		/* owned; used when json is NULL */
	const char	*content_type;
	const char	*location;
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
};

extern const struct api_route api_routes[];

/* Response helpers. */
void	api_json(struct api_resp *, int status, json_t *);
void	api_error(struct api_resp *, int status, const char *error,
	    const char *field);
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
json_t	*api_col_str(const PGresult *, int row, int col);
json_t	*api_col_int(const PGresult *, int row, int col);
json_t	*api_col_jsonb(const PGresult *, int row, int col);
struct kafka_producer *api_producer(struct api_req *);

/* Handlers. */
void	api_ops_health(struct api_req *, struct api_resp *);
void	api_ops_ready(struct api_req *, struct api_resp *);
void	api_ops_metrics(struct api_req *, struct api_resp *);

#endif
