/*
 * http.h - the HTTP layer: a libmicrohttpd server that routes by a
 * table it is given, and what handlers use to read a request and fill
 * an answer.
 *
 * Knows no handler and no resource: the caller hands over the route
 * table, an authorization callback and an opaque pointer (http_opts);
 * handlers run on the request threads (http_jobs.c, http.threads of
 * them; they may block).
 */
#ifndef NOTIFYD_HTTP_H
#define NOTIFYD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#define HTTP_MAX_ARGS		2
#define HTTP_MAX_HEADERS	4	/* extra response headers: Location, Allow... */

struct http_route;
struct http_server;
struct http_stream;

struct http_req {
	struct MHD_Connection *conn;
	struct http_server *srv;
	void		*app;		/* http_opts.app */
	const struct http_route *routes;	/* http_opts.routes */
	const char	*method;
	const char	*url;
	const char	*arg[HTTP_MAX_ARGS];	/* {} path segments */
	char		*body;
	size_t		 body_len;
	bool		 body_too_big;
	int		 route;		/* index in routes; -1 before routing */
	int64_t		 started_us;
};

struct http_resp_header {
	const char	*name;		/* a literal */
	char		 value[256];	/* a template's Location: ~160 */
};

struct http_resp {
	int		 status;
	json_t		*json;		/* owned; serialised compactly */
	char		*text;		/* owned; used when json is NULL */
	const char	*content_type;
	struct http_resp_header header[HTTP_MAX_HEADERS];
	int		 nheader;
	/* A body streamed in chunks instead (json and text NULL): libmicro-
	 * httpd calls stream for each piece and stream_free once at the end,
	 * also when the client went away. */
	MHD_ContentReaderCallback stream;
	MHD_ContentReaderFreeCallback stream_free;
	void		*stream_cls;
	bool		 close;		/* "Connection: close" (a held stream) */
};

typedef void (*http_handler)(struct http_req *, struct http_resp *);

struct http_route {
	const char	*method;
	const char	*pattern;	/* "{}" matches one path segment */
	const char	*scope;		/* token scope needed, or NULL = public */
	http_handler	 fn;
	int		 pool;		/* the caller's: whose DB connections */
	const char	*arg_name[HTTP_MAX_ARGS];	/* each {}, in errors */
	const char	*name;		/* metrics label */
};

/* True when the request may use rt; otherwise rs holds the refusal. */
typedef bool (*http_authorize)(struct http_req *, const struct http_route *rt,
    struct http_resp *rs);

struct http_opts {
	const struct http_route *routes;	/* ends with a NULL pattern */
	http_authorize	 authorize;	/* NULL: every route is public */
	const char *const *inline_get;	/* GET paths run on the I/O threads */
	void		*app;		/* handed to handlers as req->app */
	int		 threads;	/* request threads */
	size_t		 max_body;
	unsigned	 max_connections;
	unsigned	 max_connections_per_ip;
	double		 header_timeout;
};

/* The server on a listening socket; NULL with err when it cannot start. */
struct http_server *http_start(int fd, const struct http_opts *,
	    char *err, size_t len) __attribute__((warn_unused_result));
/* Closes connections past their request-head deadline (call often). */
void	http_sweep(struct http_server *);
/* Drains for at most seconds, then stops and frees the server. */
void	http_stop(struct http_server *, double seconds);

/* Response helpers. */
void	http_json(struct http_resp *, int status, json_t *);
void	http_error(struct http_resp *, int status, const char *error,
	    const char *field);
void	http_resp_header(struct http_resp *, const char *name, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));

/*
 * Makes rs a held stream (200, content_type, "Connection: close"):
 * written to later from any thread with http_stream_write
 * (http_stream.h) until it ends.  gone(arg) comes once when it is over;
 * see http_stream_new.  NULL when out of memory.
 */
struct http_stream *http_hold(struct http_req *, struct http_resp *,
	    const char *content_type, size_t max_buffer, void (*gone)(void *),
	    void *arg) __attribute__((warn_unused_result));

/* Request helpers. */
bool	http_content_json(struct http_req *, struct http_resp *);
const char *http_query(struct http_req *, const char *key);
const char *http_header(struct http_req *, const char *name);
bool	http_params_known(struct http_req *, const char *const *allowed,
	    struct http_resp *);
int	http_param_int(struct http_req *, const char *key, long long def,
	    long long min, long long max, long long *out, struct http_resp *);

#endif
