/*
 * api.c - the api role: libmicrohttpd on the master's listen socket.
 *
 * Owns routing, bodies, bearer tokens, error shapes, per-request
 * metrics and the graceful drain.  Handlers live in api_*.c.  A few
 * epoll threads serve every connection and http.threads request threads
 * run the handlers, so idle or slow clients cost a descriptor and a
 * little memory, not a thread; connection counts are capped in total
 * and per client address, and api_conn.c closes connections that are
 * slow to send a request head.
 * Database connections come from a per-process pool so a handler never
 * opens one per request.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "api_priv.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "proc.h"
#include "roles.h"
#include "route.h"
#include "stats.h"
#include "utf8.h"
#include "util.h"

const struct api_route api_routes[] = {
	{ "GET", "/health", api_ops_health, NULL, "health", { NULL },
	  API_POOL_MAIN },
	{ "GET", "/ready", api_ops_ready, NULL, "ready", { NULL },
	  API_POOL_MAIN },
	{ "GET", "/metrics", api_ops_metrics, NULL, "metrics", { NULL },
	  API_POOL_MAIN },
	{ "GET", "/openapi.json", api_ops_openapi, NULL, "openapi", { NULL },
	  API_POOL_MAIN },
	API_NOTIFY_ROUTES
	API_AUDIT_ROUTES
	{ NULL, NULL, NULL, NULL, NULL, { NULL }, API_POOL_MAIN }
};

void
api_json(struct api_resp *rs, int status, json_t *j)
{
	json_decref(rs->json);
	rs->status = status;
	rs->json = j;
	rs->content_type = "application/json";
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

/*
 * An RFC 9457 problem: "type" is about:blank (the status says what kind
 * of error it is), "title" the status's reason phrase, "detail" what was
 * wrong.  "error" (= detail) and "field" stay for the clients that read
 * them before problem+json.
 */
void
api_error(struct api_resp *rs, int status, const char *error,
    const char *field)
{
	const char *title = MHD_get_reason_phrase_for((unsigned)status);
	json_t *j = json_object();

	json_object_set_new(j, "type", json_string("about:blank"));
	json_object_set_new(j, "title", json_string(*title ? title : "Error"));
	json_object_set_new(j, "status", json_integer(status));
	json_object_set_new(j, "detail", api_text(error));
	json_object_set_new(j, "error", api_text(error));
	if (field != NULL)
		json_object_set_new(j, "field", api_text(field));
	api_json(rs, status, j);
	rs->content_type = "application/problem+json";
}

/* Adds a response header; the value is copied (and cut at 127 bytes). */
void
api_resp_header(struct api_resp *rs, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (rs->nheader == API_MAX_HEADERS)
		return;	/* a bug: API_MAX_HEADERS is sized for every caller */
	rs->header[rs->nheader].name = name;
	va_start(ap, fmt);
	vsnprintf(rs->header[rs->nheader].value,
	    sizeof(rs->header[rs->nheader].value), fmt, ap);
	va_end(ap);
	rs->nheader++;
}

/* A body must say it is JSON (parameters allowed); 415 when it does not. */
bool
api_content_json(struct api_req *r, struct api_resp *rs)
{
	const char *ct = api_header(r, "Content-Type");

	if (ct != NULL && strncasecmp(ct, "application/json", 16) == 0 &&
	    (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' '))
		return true;
	api_error(rs, 415, "Content-Type must be application/json", NULL);
	return false;
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
api_db_fail(struct api_req *r, struct api_resp *rs, int cls, const char *err)
{
	switch (cls) {
	case DB_UNAVAILABLE:
		stats_add(CTR_DB_ERRORS, 1);
		log_warnx("%s %s: database: %s", r->method, r->url, err);
		api_error(rs, 503, "database unavailable", NULL);
		api_resp_header(rs, "Retry-After", "%d", API_RETRY_UNAVAILABLE);
		break;
	case DB_BUSY:
		stats_add(CTR_DB_TIMEOUTS, 1);
		log_warnx("%s %s: database busy: %s", r->method, r->url, err);
		api_error(rs, 503, "database busy", NULL);
		api_resp_header(rs, "Retry-After", "%d", API_RETRY_BUSY);
		break;
	case DB_DATA:
		log_info("%s %s: database refused the data: %s", r->method,
		    r->url, err);
		api_error(rs, 422, "the database refused the data", NULL);
		break;
	default:
		log_warnx("%s %s: database: %s", r->method, r->url, err);
		api_error(rs, 500, "the database refused the statement", NULL);
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
api_db_run(struct api_req *r, struct api_resp *rs, const char *sql,
    int n, const char *const *params, bool retry)
{
	char err[DB_ERRLEN] = "";
	enum db_class cls = DB_UNAVAILABLE;
	PGresult *res = NULL;
	PGconn *c;

	while ((c = db_pool_get(api_pool(r), err, sizeof(err))) != NULL) {
		res = db_query(c, sql, n, params, err, sizeof(err));
		cls = db_errclass();
		retry = retry && res == NULL && db_broken(c);
		db_pool_put(api_pool(r), c);
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

/* The pool of the request's route (API_POOL_MAIN before routing). */
struct db_pool *
api_pool(struct api_req *r)
{
	if (r->route >= 0 && api_routes[r->route].pool == API_POOL_AUDIT)
		return r->ctx->audit_pool;
	return r->ctx->pool;
}

/* Adds a route's method to the Allow list; a GET route answers HEAD too. */
static void
api_allow_add(char *allow, size_t len, const char *method)
{
	size_t n = strlen(allow);

	snprintf(allow + n, len - n, "%s%s%s", n > 0 ? ", " : "", method,
	    strcmp(method, "GET") == 0 ? ", HEAD" : "");
}

/*
 * Finds the route; HEAD takes the GET route (libmicrohttpd sends no body
 * for HEAD).  404 when no path fits, 405 with Allow when no method does.
 */
static int
api_route_find(struct api_req *r, struct api_resp *rs, char *buf, size_t len)
{
	const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	char allow[64] = "";
	int i;

	for (i = 0; api_routes[i].pattern != NULL; i++) {
		const char *arg[API_MAX_ARGS] = { NULL, NULL };
		if (!route_match(api_routes[i].pattern, r->url, arg,
		    API_MAX_ARGS, buf, len))
			continue;
		if (strcmp(api_routes[i].method, method) != 0) {
			api_allow_add(allow, sizeof(allow), api_routes[i].method);
			continue;
		}
		memcpy(r->arg, arg, sizeof(arg));
		return i;
	}
	if (allow[0] == '\0') {
		api_error(rs, 404, "not found", NULL);
		return -1;
	}
	api_error(rs, 405, "method not allowed", NULL);
	api_resp_header(rs, "Allow", "%s", allow);
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
		if (rs->content_type == NULL)
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
	int i;

	if (rs->content_type != NULL)
		MHD_add_response_header(mr, "Content-Type", rs->content_type);
	for (i = 0; i < rs->nheader; i++)
		MHD_add_response_header(mr, rs->header[i].name,
		    rs->header[i].value);
	if (r->ctx->draining)	/* steer keep-alive clients to a live process */
		MHD_add_response_header(mr, "Connection", "close");
	ret = MHD_queue_response(r->conn, (unsigned)rs->status, mr);
	MHD_destroy_response(mr);
	api_account(r, rs->status);
	return ret;
}

/* Runs the handler: rs gets the answer. */
static void
api_run(struct api_req *r, struct api_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = 500;
	api_dispatch(r, rs);
	if (rs->json == NULL && rs->text == NULL && rs->stream == NULL)
		api_error(rs, rs->status, "internal error", NULL);
}

/* Queues the answer (on the connection's epoll thread) and frees it. */
static enum MHD_Result
api_reply(struct api_req *r, struct api_resp *rs)
{
	enum MHD_Result ret;

	ret = api_send(r, rs);
	json_decref(rs->json);
	free(rs->text);
	if (rs->stream != NULL)	/* an error replaced it, or MHD refused it */
		rs->stream_free(rs->stream_cls);
	memset(rs, 0, sizeof(*rs));
	return ret;
}

static enum MHD_Result
api_respond(struct api_req *r)
{
	struct api_resp rs;

	api_run(r, &rs);
	return api_reply(r, &rs);
}

/*
 * A request and its answer on their way through a request thread.  The
 * connection is suspended while the handler runs there; the thread
 * resumes it, and libmicrohttpd calls api_access again on the epoll
 * thread, which queues the answer (it may only be queued there).
 */
enum api_call_state { CALL_READING, CALL_RUNNING, CALL_DONE };

struct api_call {
	struct api_req		 r;	/* first: *state points here */
	struct api_resp		 rs;
	struct api_job		 job;
	enum api_call_state	 state;
};

static void
api_call_run(struct api_job *j)
{
	struct api_call *c = (struct api_call *)(void *)((char *)j -
	    offsetof(struct api_call, job));

	api_run(&c->r, &c->rs);
	c->state = CALL_DONE;	/* the resume's mutex publishes it */
	MHD_resume_connection(c->r.conn);
}

/*
 * Liveness and metrics never block: answered on the epoll thread, they
 * still answer when every request thread waits for a slow database.
 */
static bool
api_call_inline(const struct api_req *r)
{
	return strcmp(r->method, "GET") == 0 && (strcmp(r->url, "/health") == 0
	    || strcmp(r->url, "/metrics") == 0);
}

/* The whole request is in: on to a request thread. */
static enum MHD_Result
api_call_start(struct api_call *c)
{
	switch (c->state) {
	case CALL_READING:
		if (api_call_inline(&c->r))
			return api_respond(&c->r);
		c->state = CALL_RUNNING;
		c->job.fn = api_call_run;
		MHD_suspend_connection(c->r.conn);
		api_jobs_push(c->r.ctx->jobs, &c->job);
		return MHD_YES;
	case CALL_RUNNING:	/* not called while suspended */
		return MHD_YES;
	case CALL_DONE:
		break;
	}
	return api_reply(&c->r, &c->rs);
}

/* Gathers the body; -1 once it grows past http.max_body. */
static int
api_body(struct api_req *r, const char *data, size_t n)
{
	size_t max = (size_t)conf->http_max_body;
	char *nb;

	if (r->body_too_big || n > max - r->body_len) {
		r->body_too_big = true;
		return -1;
	}
	if ((nb = realloc(r->body, r->body_len + n + 1)) == NULL) {
		r->body_too_big = true;
		return -1;
	}
	r->body = nb;
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

/*
 * 413 for a body that grew past http.max_body without announcing its
 * size (chunked).  libmicrohttpd 0.9.75 cannot queue a response while
 * it receives a body and would read the rest to its end, so the answer
 * is written on the socket here (nothing else is being sent on it: the
 * request is still arriving), the sending side is shut so the client
 * reads the 413 then end-of-file, and MHD_NO makes libmicrohttpd close
 * the connection at once.
 */
static enum MHD_Result
api_body_refuse(struct api_req *r)
{
	const union MHD_ConnectionInfo *ci;
	struct api_resp rs;
	char *body, buf[512];
	int n;

	memset(&rs, 0, sizeof(rs));
	api_error(&rs, 413, "request body too large", NULL);
	body = json_dumps(rs.json, JSON_COMPACT);
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	n = snprintf(buf, sizeof(buf), "HTTP/1.1 413 Content Too Large\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", body != NULL ? strlen(body) : 0,
	    body != NULL ? body : "");
	if (ci != NULL && n > 0 && (size_t)n < sizeof(buf)) {
		(void)send(ci->connect_fd, buf, (size_t)n, MSG_NOSIGNAL);
		(void)shutdown(ci->connect_fd, SHUT_WR);
	}
	free(body);
	json_decref(rs.json);
	api_account(r, 413);
	return MHD_NO;
}

static enum MHD_Result
api_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **state)
{
	struct api_req *r = *state;
	const char *cl;

	if (r == NULL) {
		if ((r = calloc(1, sizeof(struct api_call))) == NULL)
			return MHD_NO;
		r->ctx = cls;
		r->conn = conn;
		r->url = url;
		r->method = method;
		r->route = -1;
		r->started_us = util_now_us();
		*state = r;
		api_heads_done(r->ctx->heads, conn);
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
		if (api_body(r, data, *data_size) == -1)
			return api_body_refuse(r);
		*data_size = 0;
		return MHD_YES;
	}
	return api_call_start((struct api_call *)r);
}

static void
api_completed(void *cls, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode toe)
{
	struct api_ctx *ctx = cls;
	struct api_call *c = *state;

	api_heads_wait(ctx->heads, conn);
	if (c == NULL)
		return;
	json_decref(c->rs.json);	/* an answer never sent */
	free(c->rs.text);
	free(c->r.body);
	free(c);
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

/*
 * API_IO_THREADS epoll threads move the bytes of every connection and
 * never block: each complete request is suspended and run by one of
 * http.threads request threads (api_jobs.c).  A handler blocks its
 * request thread (a POST waits for its group commit and Kafka's ack),
 * so http.threads bounds the requests in progress at once, and with
 * them the size of the groups api_store.c commits: the default of 32
 * lets 8 to 32 concurrent POSTs share one commit as they did with a
 * thread per connection, and an idle thread costs little.  The idle
 * timeout (30 s, reset by every byte) still ends stalled bodies and
 * readers; request heads have their own deadline, and our own thread
 * accepts the connections (api_conn.c).
 */
#define API_IO_THREADS	4

static struct MHD_Daemon *
api_start(struct api_ctx *ctx, int fd)
{
	struct MHD_Daemon *d;

	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
	    MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG,
	    0, NULL, NULL, api_access, ctx,
	    MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, api_unescape, NULL,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)API_IO_THREADS,
	    MHD_OPTION_NOTIFY_COMPLETED, api_completed, ctx,
	    MHD_OPTION_NOTIFY_CONNECTION, api_heads_notify, ctx->heads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT,	/* per thread: see api_conn.c */
	    (unsigned)conf->http_max_connections * API_IO_THREADS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)conf->http_max_connections_per_ip,
	    MHD_OPTION_END);
	if (d == NULL)
		return NULL;
	if ((ctx->accept = api_accept_start(fd, d, ctx->heads,
	    (unsigned)conf->http_max_connections)) == NULL) {
		MHD_stop_daemon(d);
		return NULL;
	}
	return d;
}

/*
 * Stops taking connections, lets the ones we hold finish (each answer
 * now says "Connection: close"), then stops.  The master keeps the
 * socket open, so the new generation or a sibling takes new clients.
 */
static void
api_drain(struct api_ctx *ctx, struct MHD_Daemon *d)
{
	double until = util_now() + (proc_stop == STOP_FAST ? 0.2 :
	    conf->shutdown_timeout * 0.8);

	ctx->draining = 1;
	api_accept_stop(ctx->accept);
	ctx->accept = NULL;
	/* Our count: libmicrohttpd's misses those handed over just now. */
	while (util_now() < until && api_heads_open(ctx->heads) > 0) {
		(void)api_heads_sweep(ctx->heads);
		util_sleep(0.05);
	}
	/* Handlers first: stopping the server frees their requests. */
	api_jobs_free(ctx->jobs);
	ctx->jobs = NULL;
	MHD_stop_daemon(d);
}

/*
 * The process's connection budgets: the notification routes, the audit
 * routes (slow audit queries wait on their own connections) and the
 * group-commit thread's one, so a POST never waits behind a read.  Each
 * waits at most database.pool_timeout for a connection, and each
 * statement runs at most database.statement_timeout.
 */
static void
api_pools_new(struct api_ctx *ctx)
{
	const struct db_opts o = {
		.connect_timeout = conf->database_connect_timeout,
		.statement_timeout = conf->database_statement_timeout,
		.pool_timeout = conf->database_pool_timeout,
	};
	const char *ci = conf->database_conninfo;

	if ((ctx->pool = db_pool_new_opts(ci, conf->database_pool, &o)) == NULL ||
	    (ctx->audit_pool = db_pool_new_opts(ci, conf->database_audit_pool,
	    &o)) == NULL ||
	    (ctx->store_pool = db_pool_new_opts(ci, 1, &o)) == NULL)
		fatalx("out of memory");
}

static void
api_pools_free(struct api_ctx *ctx)
{
	db_pool_free(ctx->pool);
	db_pool_free(ctx->audit_pool);
	db_pool_free(ctx->store_pool);
	ctx->pool = ctx->audit_pool = ctx->store_pool = NULL;
}

int
api_main(const struct proc_info *pi)
{
	struct api_ctx ctx;
	struct MHD_Daemon *d;
	int rc = 0;

	memset(&ctx, 0, sizeof(ctx));
	api_pools_new(&ctx);
	if ((ctx.heads = api_heads_new(conf->http_header_timeout)) == NULL)
		fatalx("out of memory");
	if (api_notify_init(&ctx) == -1) {
		api_pools_free(&ctx);
		api_heads_free(ctx.heads);
		return 1;
	}
	if ((ctx.jobs = api_jobs_new(conf->http_threads)) == NULL) {
		log_error("cannot start %d request threads", conf->http_threads);
		rc = 1;
		goto out;
	}
	if ((d = api_start(&ctx, pi->listen_fd)) == NULL) {
		log_error("cannot start the HTTP server on fd %d", pi->listen_fd);
		rc = 1;
		goto out;
	}
	proc_ready();
	while (proc_running()) {
		util_sleep(0.1);
		(void)api_heads_sweep(ctx.heads);
	}
	api_drain(&ctx, d);
out:
	api_jobs_free(ctx.jobs);
	api_notify_fini(&ctx);
	api_pools_free(&ctx);
	api_heads_free(ctx.heads);
	return rc;
}
