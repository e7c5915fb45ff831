/*
 * api.c - the api role: libmicrohttpd on the master's listen socket.
 *
 * Owns routing, bodies, bearer tokens, error shapes, per-request
 * metrics and the graceful drain.  Handlers live in api_*.c.  One
 * thread per connection (keep-alive clients keep theirs); database
 * connections come from a per-process pool so a handler never opens
 * one per request.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "api_priv.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "proc.h"
#include "route.h"
#include "stats.h"
#include "utf8.h"
#include "util.h"

const struct api_route api_routes[] = {
	{ "GET", "/health", api_ops_health, NULL, "health", { NULL } },
	{ "GET", "/ready", api_ops_ready, NULL, "ready", { NULL } },
	{ "GET", "/metrics", api_ops_metrics, NULL, "metrics", { NULL } },
	API_NOTIFY_ROUTES
	API_AUDIT_ROUTES
	{ NULL, NULL, NULL, NULL, NULL, { NULL } }
};

void
api_json(struct api_resp *rs, int status, json_t *j)
{
	json_decref(rs->json);
	rs->status = status;
	rs->json = j;
}

/* A JSON string of s, whose bytes that are not UTF-8 come out as \xNN. */
static json_t *
api_text(const char *s)
{
	char buf[512];
	json_t *j;

	if ((j = json_string(s)) != NULL)
		return j;
	return json_string(utf8_escape(s, strlen(s), buf, sizeof(buf)));
}

void
api_error(struct api_resp *rs, int status, const char *error,
    const char *field)
{
	json_t *j = json_object();

	json_object_set_new(j, "error", api_text(error));
	if (field != NULL)
		json_object_set_new(j, "field", api_text(field));
	json_object_set_new(j, "status", json_integer(status));
	api_json(rs, status, j);
}

const char *
api_query(struct api_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *
api_header(struct api_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct api_params_check {
	const char *const *allowed;
	const char	*unknown;
};

static enum MHD_Result
api_param_visit(void *arg, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct api_params_check *pc = arg;
	int i;

	for (i = 0; pc->allowed[i] != NULL; i++)
		if (strcmp(pc->allowed[i], key) == 0)
			return MHD_YES;
	pc->unknown = key;
	return MHD_NO;
}

/* 400 naming the first query parameter the route does not know. */
bool
api_params_known(struct api_req *r, const char *const *allowed,
    struct api_resp *rs)
{
	struct api_params_check pc = { allowed, NULL };

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
	    api_param_visit, &pc);
	if (pc.unknown == NULL)
		return true;
	api_error(rs, 400, "unknown query parameter", pc.unknown);
	return false;
}

/* An optional integer parameter within bounds; 400 when it is not. */
int
api_param_int(struct api_req *r, const char *key, long long def,
    long long min, long long max, long long *out, struct api_resp *rs)
{
	const char *v = api_query(r, key);
	char *end, msg[96];
	long long n;

	*out = def;
	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		snprintf(msg, sizeof(msg), "must be an integer from %lld to %lld",
		    min, max);
		api_error(rs, 400, msg, key);
		return -1;
	}
	*out = n;
	return 0;
}

/* Column readers for result rows: SQL NULL becomes JSON null. */
json_t *
api_col_str(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_string(PQgetvalue(res, row, col));
}

json_t *
api_col_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_integer(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

json_t *
api_col_jsonb(const PGresult *res, int row, int col)
{
	json_t *j;

	if (PQgetisnull(res, row, col))
		return json_null();
	j = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY, NULL);
	return j != NULL ? j : json_null();
}

/*
 * Runs one statement on a pooled connection; 503 JSON when the database
 * is out.  With retry, a connection found broken (PostgreSQL restarted
 * since it was pooled) is replaced once: only for statements that are
 * harmless to run twice, since a write may have committed before the
 * connection dropped.
 */
static PGresult *
api_db_run(struct api_req *r, struct api_resp *rs, const char *sql,
    int n, const char *const *params, bool retry)
{
	char err[DB_ERRLEN] = "";
	PGresult *res = NULL;
	PGconn *c;

	while ((c = db_pool_get(api_pool(r), err, sizeof(err))) != NULL) {
		res = db_query(c, sql, n, params, err, sizeof(err));
		retry = retry && res == NULL && db_broken(c);
		db_pool_put(api_pool(r), c);
		if (!retry)
			break;
		retry = false;
	}
	if (res == NULL) {
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("%s %s: database: %s", r->method, r->url, err);
		api_error(rs, 503, "database unavailable", NULL);
	}
	return res;
}

/* Reads and idempotent writes. */
PGresult *
api_db_query(struct api_req *r, struct api_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_run(r, rs, sql, n, params, true);
}

/* Writes that must not run twice. */
PGresult *
api_db_write(struct api_req *r, struct api_resp *rs, const char *sql,
    int n, const char *const *params)
{
	return api_db_run(r, rs, sql, n, params, false);
}

struct db_pool *
api_pool(struct api_req *r)
{
	return r->ctx->pool;
}

/* Finds the route; 404 or 405 when none fits. */
static int
api_route_find(struct api_req *r, struct api_resp *rs, char *buf, size_t len)
{
	bool path_ok = false;
	int i;

	for (i = 0; api_routes[i].pattern != NULL; i++) {
		const char *arg[API_MAX_ARGS] = { NULL, NULL };
		if (!route_match(api_routes[i].pattern, r->url, arg,
		    API_MAX_ARGS, buf, len))
			continue;
		path_ok = true;
		if (strcmp(api_routes[i].method, r->method) != 0)
			continue;
		memcpy(r->arg, arg, sizeof(arg));
		return i;
	}
	if (path_ok)
		api_error(rs, 405, "method not allowed", NULL);
	else
		api_error(rs, 404, "not found", NULL);
	return -1;
}

#define API_MAX_QUERY	32	/* parameters per request; a route knows 10 */

/* The query parameters seen so far, and why the request is refused. */
struct api_query_check {
	const char	*seen[API_MAX_QUERY];
	int		 n;
	const char	*error;
	const char	*field;
	char		 name[64];	/* a name that is not text, escaped */
};

static enum MHD_Result
api_query_visit(void *arg, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct api_query_check *qc = arg;
	int i;

	if (key == NULL)
		return MHD_YES;
	if (!utf8_valid(key, key_size)) {
		qc->error = "query parameter names must be UTF-8 without NUL";
		qc->field = utf8_escape(key, key_size, qc->name, sizeof(qc->name));
		return MHD_NO;
	}
	qc->field = key;
	if (value != NULL && !utf8_valid(value, value_size))
		qc->error = "must be UTF-8 without NUL";
	for (i = 0; i < qc->n && qc->error == NULL; i++)
		if (strcmp(qc->seen[i], key) == 0)
			qc->error = "must not be repeated";
	if (qc->error == NULL && qc->n == API_MAX_QUERY) {
		qc->error = "too many query parameters";
		qc->field = NULL;
	}
	if (qc->error != NULL)
		return MHD_NO;
	qc->seen[qc->n++] = key;
	return MHD_YES;
}

/*
 * 400 naming the first path segment or query parameter that PostgreSQL
 * text cannot hold (invalid UTF-8, NUL) or that comes twice: checked
 * once for every route, before its handler, so bad bytes never reach a
 * statement and a client never gets a 503 for them.
 */
static bool
api_input_valid(struct api_req *r, const struct api_route *rt,
    struct api_resp *rs)
{
	struct api_query_check qc;
	int i;

	for (i = 0; i < API_MAX_ARGS && r->arg[i] != NULL; i++)
		if (!utf8_valid(r->arg[i], strlen(r->arg[i]))) {
			api_error(rs, 400, "must be UTF-8 without NUL",
			    rt->arg_name[i]);
			return false;
		}
	memset(&qc, 0, sizeof(qc));
	MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND,
	    api_query_visit, &qc);
	if (qc.error == NULL)
		return true;
	api_error(rs, 400, qc.error, qc.field);
	return false;
}

/* Checks the bearer token against the route's scope (when tokens exist). */
static bool
api_authorized(struct api_req *r, const struct api_route *rt,
    struct api_resp *rs)
{
	const struct conf_strlist *t = &conf->http_tokens;
	const char *h, *tok, *sc;
	size_t n;
	int i, found = -1;

	if (rt->scope == NULL || t->n == 0)
		return true;
	if ((h = api_header(r, "Authorization")) == NULL ||
	    strncasecmp(h, "Bearer ", 7) != 0) {
		api_error(rs, 401, "missing bearer token", NULL);
		return false;
	}
	tok = h + 7;
	/* Every token, in constant time: timing tells neither bytes nor which. */
	for (i = 0; i < t->n; i++)
		if (util_ct_equal(tok, strlen(tok), t->v[i],
		    strcspn(t->v[i], ":")) && found == -1)
			found = i;
	if ((i = found) != -1) {
		n = strcspn(t->v[i], ":");
		for (sc = t->v[i] + n + 1; *sc != '\0'; sc += strspn(sc, ",")) {
			size_t w = strcspn(sc, ",");
			if ((w == strlen(rt->scope) && strncmp(sc, rt->scope, w) == 0) ||
			    (w == 5 && strncmp(sc, "admin", 5) == 0))
				return true;
			sc += w;
		}
		api_error(rs, 403, "token lacks the scope", rt->scope);
		return false;
	}
	api_error(rs, 401, "unknown bearer token", NULL);
	return false;
}

static void
api_dispatch(struct api_req *r, struct api_resp *rs)
{
	char buf[512];

	if ((r->route = api_route_find(r, rs, buf, sizeof(buf))) < 0)
		return;
	if (!api_authorized(r, &api_routes[r->route], rs) ||
	    !api_input_valid(r, &api_routes[r->route], rs))
		return;
	if (r->body_too_big) {
		api_error(rs, 413, "request body too large", NULL);
		return;
	}
	api_routes[r->route].fn(r, rs);
}

/* Counts the request on the stats page by route and status class. */
static void
api_account(const struct api_req *r, int status)
{
	int route = r->route >= 0 && r->route < STATS_ROUTES - 1 ? r->route :
	    STATS_ROUTES - 1;
	int cls = status / 100;

	if (stats_self == NULL)
		return;
	if (cls < 0 || cls > 5)
		cls = 0;
	__atomic_add_fetch(&stats_self->http[route][cls], 1, __ATOMIC_RELAXED);
	stats_add(CTR_HTTP_REQUESTS, 1);
	stats_hist_observe(&stats_self->http_latency,
	    (uint64_t)(util_now_us() - r->started_us));
}

static enum MHD_Result api_queue(struct api_req *, struct api_resp *,
    struct MHD_Response *);

static enum MHD_Result
api_send(struct api_req *r, struct api_resp *rs)
{
	struct MHD_Response *mr;
	char *out;

	if (rs->stream != NULL && rs->json == NULL) {
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
		    64 * 1024, rs->stream, rs->stream_cls, rs->stream_free);
		if (mr == NULL)
			return MHD_NO;
		rs->stream = NULL;	/* stream_free now belongs to mr */
		return api_queue(r, rs, mr);
	}
	if (rs->json != NULL) {
		out = json_dumps(rs->json, JSON_COMPACT | JSON_REAL_PRECISION(15));
		rs->content_type = "application/json";
	} else {
		out = rs->text;
		rs->text = NULL;
	}
	if (out == NULL)
		out = strdup("");
	mr = MHD_create_response_from_buffer(strlen(out), out,
	    MHD_RESPMEM_MUST_FREE);
	if (mr == NULL) {
		free(out);
		return MHD_NO;
	}
	return api_queue(r, rs, mr);
}

/* Adds the headers, queues mr and counts the request. */
static enum MHD_Result
api_queue(struct api_req *r, struct api_resp *rs, struct MHD_Response *mr)
{
	enum MHD_Result ret;

	if (rs->content_type != NULL)
		MHD_add_response_header(mr, "Content-Type", rs->content_type);
	if (rs->location != NULL)
		MHD_add_response_header(mr, "Location", rs->location);
	if (r->ctx->draining)	/* steer keep-alive clients to a live process */
		MHD_add_response_header(mr, "Connection", "close");
	ret = MHD_queue_response(r->conn, (unsigned)rs->status, mr);
	MHD_destroy_response(mr);
	api_account(r, rs->status);
	return ret;
}

static enum MHD_Result
api_respond(struct api_req *r)
{
	struct api_resp rs;
	enum MHD_Result ret;

	memset(&rs, 0, sizeof(rs));
	rs.status = 500;
	api_dispatch(r, &rs);
	if (rs.json == NULL && rs.text == NULL && rs.stream == NULL)
		api_error(&rs, rs.status, "internal error", NULL);
	ret = api_send(r, &rs);
	json_decref(rs.json);
	free(rs.text);
	if (rs.stream != NULL)	/* an error replaced it, or MHD refused it */
		rs.stream_free(rs.stream_cls);
	return ret;
}

/* Gathers the body, refusing early when Content-Length is too large. */
static void
api_body(struct api_req *r, const char *data, size_t n)
{
	size_t max = (size_t)conf->http_max_body;
	char *nb;

	if (r->body_too_big || r->body_len + n > max) {
		r->body_too_big = true;
		return;
	}
	if ((nb = realloc(r->body, r->body_len + n + 1)) == NULL) {
		r->body_too_big = true;
		return;
	}
	r->body = nb;
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
}

static enum MHD_Result
api_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **state)
{
	struct api_req *r = *state;
	const char *cl;

	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->ctx = cls;
		r->conn = conn;
		r->url = url;
		r->method = method;
		r->route = -1;
		r->started_us = util_now_us();
		*state = r;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) >
		    (unsigned long long)conf->http_max_body) {
			r->body_too_big = true;
			return api_respond(r);	/* MHD then skips the body */
		}
		return MHD_YES;
	}
	if (*data_size > 0) {
		api_body(r, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	return api_respond(r);
}

static void
api_completed(void *cls, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode toe)
{
	struct api_req *r = *state;

	if (r == NULL)
		return;
	free(r->body);
	free(r);
	*state = NULL;
}

static void
api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("microhttpd: %s", buf);
}

/* libmicrohttpd's %HH decoding, except that %00 stays visible (utf8.c). */
static size_t
api_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	return utf8_url_decode(s);
}

static struct MHD_Daemon *
api_start(struct api_ctx *ctx, int fd)
{
	return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, api_access, ctx,
	    MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, api_unescape, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, api_completed, ctx,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
	    MHD_OPTION_END);
}

/*
 * Stops taking connections, lets the ones we hold finish (each answer
 * now says "Connection: close"), then stops.  The master keeps the
 * socket open, so the new generation or a sibling takes new clients.
 */
static void
api_drain(struct api_ctx *ctx, struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info;
	double until = util_now() + (proc_stop == STOP_FAST ? 0.2 :
	    conf->shutdown_timeout * 0.8);

	ctx->draining = 1;
	MHD_quiesce_daemon(d);
	while (util_now() < until) {
		info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (info == NULL || info->num_connections == 0)
			break;
		util_sleep(0.05);
	}
	MHD_stop_daemon(d);
}

int
api_main(const struct proc_info *pi)
{
	struct api_ctx ctx;
	struct MHD_Daemon *d;
	int rc = 0;

	memset(&ctx, 0, sizeof(ctx));
	if ((ctx.pool = db_pool_new(conf->database_conninfo,
	    conf->database_pool)) == NULL)
		fatalx("out of memory");
	if (api_notify_init(&ctx) == -1) {
		db_pool_free(ctx.pool);
		return 1;
	}
	if ((d = api_start(&ctx, pi->listen_fd)) == NULL) {
		log_error("cannot start the HTTP server on fd %d", pi->listen_fd);
		rc = 1;
		goto out;
	}
	proc_ready();
	while (proc_running())
		util_sleep(0.2);
	api_drain(&ctx, d);
out:
	api_notify_fini(&ctx);
	db_pool_free(ctx.pool);
	return rc;
}
