/*
 * http.c - the HTTP layer: libmicrohttpd on a listening socket, routing
 * by the table it is given, bodies, error shapes (RFC 9457 problem+json),
 * input checks every route gets, per-request metrics and the graceful
 * drain.
 *
 * Knows no handler and no resource: the route table, the authorization
 * callback and the caller's context come in http_opts.  A few epoll
 * threads serve every connection and http.threads request threads
 * (http_jobs.c) run the handlers, so idle or slow clients cost a
 * descriptor and a little memory, not a thread; connection counts are
 * capped in total and per client address, and http_conn.c closes
 * connections that are slow to send a request head.  A handler may hold
 * its answer open and write it later (http_hold, http_stream.c: Server-
 * Sent Events); the drain ends every held answer first.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "http_conn.h"
#include "http_jobs.h"
#include "http_stream.h"
#include "log.h"
#include "route.h"
#include "stats.h"
#include "utf8.h"
#include "util.h"

struct http_server {
	struct http_opts	 o;
	struct MHD_Daemon	*d;
	struct http_heads	*heads;		/* request-head deadlines */
	struct http_accept	*accept;	/* the accepting thread */
	struct http_jobs	*jobs;		/* the request threads */
	struct http_streams	*streams;	/* held answers (http_stream.c) */
	volatile sig_atomic_t	 draining;
};

void
http_json(struct http_resp *rs, int status, json_t *j)
{
	json_decref(rs->json);
	rs->status = status;
	rs->json = j;
	rs->content_type = "application/json";
}

/* A JSON string of s, whose bytes that are not UTF-8 come out as \xNN. */
static json_t *
http_text(const char *s)
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
http_error(struct http_resp *rs, int status, const char *error,
    const char *field)
{
	const char *title = MHD_get_reason_phrase_for((unsigned)status);
	json_t *j = json_object();

	json_object_set_new(j, "type", json_string("about:blank"));
	json_object_set_new(j, "title", json_string(*title ? title : "Error"));
	json_object_set_new(j, "status", json_integer(status));
	json_object_set_new(j, "detail", http_text(error));
	json_object_set_new(j, "error", http_text(error));
	if (field != NULL)
		json_object_set_new(j, "field", http_text(field));
	http_json(rs, status, j);
	rs->content_type = "application/problem+json";
}

/* Adds a response header; the value is copied (and cut at 255 bytes). */
void
http_resp_header(struct http_resp *rs, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (rs->nheader == HTTP_MAX_HEADERS)
		return;	/* a bug: HTTP_MAX_HEADERS is sized for every caller */
	rs->header[rs->nheader].name = name;
	va_start(ap, fmt);
	vsnprintf(rs->header[rs->nheader].value,
	    sizeof(rs->header[rs->nheader].value), fmt, ap);
	va_end(ap);
	rs->nheader++;
}

/* A body must say it is JSON (parameters allowed); 415 when it does not. */
bool
http_content_json(struct http_req *r, struct http_resp *rs)
{
	const char *ct = http_header(r, "Content-Type");

	if (ct != NULL && strncasecmp(ct, "application/json", 16) == 0 &&
	    (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' '))
		return true;
	http_error(rs, 415, "Content-Type must be application/json", NULL);
	return false;
}

const char *
http_query(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *
http_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct http_params_check {
	const char *const *allowed;
	const char	*unknown;
};

static enum MHD_Result
http_param_visit(void *arg, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_params_check *pc = arg;
	int i;

	for (i = 0; pc->allowed[i] != NULL; i++)
		if (strcmp(pc->allowed[i], key) == 0)
			return MHD_YES;
	pc->unknown = key;
	return MHD_NO;
}

/* 400 naming the first query parameter the route does not know. */
bool
http_params_known(struct http_req *r, const char *const *allowed,
    struct http_resp *rs)
{
	struct http_params_check pc = { allowed, NULL };

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
	    http_param_visit, &pc);
	if (pc.unknown == NULL)
		return true;
	http_error(rs, 400, "unknown query parameter", pc.unknown);
	return false;
}

/* An optional integer parameter within bounds; 400 when it is not. */
int
http_param_int(struct http_req *r, const char *key, long long def,
    long long min, long long max, long long *out, struct http_resp *rs)
{
	const char *v = http_query(r, key);
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
		http_error(rs, 400, msg, key);
		return -1;
	}
	*out = n;
	return 0;
}

/* Adds a route's method to the Allow list; a GET route answers HEAD too. */
static void
http_allow_add(char *allow, size_t len, const char *method)
{
	size_t n = strlen(allow);

	snprintf(allow + n, len - n, "%s%s%s", n > 0 ? ", " : "", method,
	    strcmp(method, "GET") == 0 ? ", HEAD" : "");
}

/*
 * 414 naming the path segment that a route's pattern fits but the
 * capture buffer cannot hold (arg[] set up to it): the path is longer
 * than we interpret (RFC 9110 15.5.15), which is what libmicrohttpd
 * answers too for a request line beyond its buffer.  It was a 404 "not
 * found" for a path that names a route.
 */
static void
http_route_long(const struct http_route *rt, const char **arg,
    struct http_resp *rs)
{
	int i;

	for (i = 0; i < HTTP_MAX_ARGS - 1 && arg[i] != NULL; i++)
		;
	http_error(rs, 414, "path segment too long", rt->arg_name[i]);
}

/*
 * Finds the route; HEAD takes the GET route (libmicrohttpd sends no body
 * for HEAD).  404 when no path fits, 414 when one fits with a segment
 * too long to hold (whatever the method), 405 with Allow when no method
 * does.
 */
static int
http_route_find(struct http_req *r, struct http_resp *rs, char *buf, size_t len)
{
	const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	char allow[64] = "";
	enum route_result m;
	int i;

	for (i = 0; r->routes[i].pattern != NULL; i++) {
		const char *arg[HTTP_MAX_ARGS] = { NULL, NULL };
		m = route_match(r->routes[i].pattern, r->url, arg,
		    HTTP_MAX_ARGS, buf, len);
		if (m == ROUTE_NONE)
			continue;
		if (m == ROUTE_LONG) {
			http_route_long(&r->routes[i], arg, rs);
			return -1;
		}
		if (strcmp(r->routes[i].method, method) != 0) {
			http_allow_add(allow, sizeof(allow), r->routes[i].method);
			continue;
		}
		memcpy(r->arg, arg, sizeof(arg));
		return i;
	}
	if (allow[0] == '\0') {
		http_error(rs, 404, "not found", NULL);
		return -1;
	}
	http_error(rs, 405, "method not allowed", NULL);
	http_resp_header(rs, "Allow", "%s", allow);
	return -1;
}

#define HTTP_MAX_QUERY	32	/* parameters per request; a route knows 10 */

/* The query parameters seen so far, and why the request is refused. */
struct http_query_check {
	const char	*seen[HTTP_MAX_QUERY];
	int		 n;
	const char	*error;
	const char	*field;
	char		 name[64];	/* a name that is not text, escaped */
};

static enum MHD_Result
http_query_visit(void *arg, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct http_query_check *qc = arg;
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
	if (qc->error == NULL && qc->n == HTTP_MAX_QUERY) {
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
http_input_valid(struct http_req *r, const struct http_route *rt,
    struct http_resp *rs)
{
	struct http_query_check qc;
	int i;

	for (i = 0; i < HTTP_MAX_ARGS && r->arg[i] != NULL; i++)
		if (!utf8_valid(r->arg[i], strlen(r->arg[i]))) {
			http_error(rs, 400, "must be UTF-8 without NUL",
			    rt->arg_name[i]);
			return false;
		}
	memset(&qc, 0, sizeof(qc));
	MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND,
	    http_query_visit, &qc);
	if (qc.error == NULL)
		return true;
	http_error(rs, 400, qc.error, qc.field);
	return false;
}

static void
http_dispatch(struct http_req *r, struct http_resp *rs)
{
	const struct http_route *rt;
	char buf[512];

	if ((r->route = http_route_find(r, rs, buf, sizeof(buf))) < 0)
		return;
	rt = &r->routes[r->route];
	if ((r->srv->o.authorize != NULL && !r->srv->o.authorize(r, rt, rs)) ||
	    !http_input_valid(r, rt, rs))
		return;
	if (r->body_too_big) {
		http_error(rs, 413, "request body too large", NULL);
		return;
	}
	rt->fn(r, rs);
}

/* Counts the request on the stats page by route and status class. */
static void
http_account(const struct http_req *r, int status)
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

/* Adds the headers, queues mr and counts the request. */
static enum MHD_Result
http_queue(struct http_req *r, struct http_resp *rs, struct MHD_Response *mr)
{
	enum MHD_Result ret;
	int i;

	if (rs->content_type != NULL)
		MHD_add_response_header(mr, "Content-Type", rs->content_type);
	for (i = 0; i < rs->nheader; i++)
		MHD_add_response_header(mr, rs->header[i].name,
		    rs->header[i].value);
	/* steer keep-alive clients to a live process; a held stream's
	 * connection is never reused */
	if (r->srv->draining || rs->close)
		MHD_add_response_header(mr, "Connection", "close");
	ret = MHD_queue_response(r->conn, (unsigned)rs->status, mr);
	MHD_destroy_response(mr);
	http_account(r, rs->status);
	return ret;
}

static enum MHD_Result
http_send(struct http_req *r, struct http_resp *rs)
{
	struct MHD_Response *mr;
	char *out;

	if (rs->stream != NULL && rs->json == NULL) {
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
		    64 * 1024, rs->stream, rs->stream_cls, rs->stream_free);
		if (mr == NULL)
			return MHD_NO;
		rs->stream = NULL;	/* stream_free now belongs to mr */
		return http_queue(r, rs, mr);
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
	return http_queue(r, rs, mr);
}

/* Runs the handler: rs gets the answer. */
static void
http_run(struct http_req *r, struct http_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = 500;
	http_dispatch(r, rs);
	if (rs->json == NULL && rs->text == NULL && rs->stream == NULL)
		http_error(rs, rs->status, "internal error", NULL);
}

/* Queues the answer (on the connection's epoll thread) and frees it. */
static enum MHD_Result
http_reply(struct http_req *r, struct http_resp *rs)
{
	enum MHD_Result ret;

	ret = http_send(r, rs);
	json_decref(rs->json);
	free(rs->text);
	if (rs->stream != NULL)	/* an error replaced it, or MHD refused it */
		rs->stream_free(rs->stream_cls);
	memset(rs, 0, sizeof(*rs));
	return ret;
}

static enum MHD_Result
http_respond(struct http_req *r)
{
	struct http_resp rs;

	http_run(r, &rs);
	return http_reply(r, &rs);
}

/*
 * A request and its answer on their way through a request thread.  The
 * connection is suspended while the handler runs there; the thread
 * resumes it, and libmicrohttpd calls http_access again on the epoll
 * thread, which queues the answer (it may only be queued there).
 */
enum http_call_state { HTTP_CALL_READING, HTTP_CALL_RUNNING, HTTP_CALL_DONE };

struct http_call {
	struct http_req		 r;	/* first: *state points here */
	struct http_resp	 rs;
	struct http_job		 job;
	enum http_call_state	 state;
};

static void
http_call_run(struct http_job *j)
{
	struct http_call *c = (struct http_call *)(void *)((char *)j -
	    offsetof(struct http_call, job));

	http_run(&c->r, &c->rs);
	c->state = HTTP_CALL_DONE;	/* the resume's mutex publishes it */
	MHD_resume_connection(c->r.conn);
}

/*
 * Liveness and metrics never block: answered on the epoll thread, they
 * still answer when every request thread waits for a slow database.
 */
static bool
http_call_inline(const struct http_req *r)
{
	const char *const *p = r->srv->o.inline_get;

	if (p == NULL || strcmp(r->method, "GET") != 0)
		return false;
	for (; *p != NULL; p++)
		if (strcmp(*p, r->url) == 0)
			return true;
	return false;
}

/* The whole request is in: on to a request thread. */
static enum MHD_Result
http_call_start(struct http_call *c)
{
	switch (c->state) {
	case HTTP_CALL_READING:
		if (http_call_inline(&c->r))
			return http_respond(&c->r);
		c->state = HTTP_CALL_RUNNING;
		c->job.fn = http_call_run;
		MHD_suspend_connection(c->r.conn);
		http_jobs_push(c->r.srv->jobs, &c->job);
		return MHD_YES;
	case HTTP_CALL_RUNNING:	/* not called while suspended */
		return MHD_YES;
	case HTTP_CALL_DONE:
		break;
	}
	return http_reply(&c->r, &c->rs);
}

/* Gathers the body; -1 once it grows past http.max_body. */
static int
http_body(struct http_req *r, const char *data, size_t n)
{
	size_t max = r->srv->o.max_body;
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
http_body_refuse(struct http_req *r)
{
	const union MHD_ConnectionInfo *ci;
	struct http_resp rs;
	char *body, buf[512];
	int n;

	memset(&rs, 0, sizeof(rs));
	http_error(&rs, 413, "request body too large", NULL);
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
	http_account(r, 413);
	return MHD_NO;
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **state)
{
	struct http_req *r = *state;
	const char *cl;

	if (r == NULL) {
		if ((r = calloc(1, sizeof(struct http_call))) == NULL)
			return MHD_NO;
		r->srv = cls;
		r->app = r->srv->o.app;
		r->routes = r->srv->o.routes;
		r->conn = conn;
		r->url = url;
		r->method = method;
		r->route = -1;
		r->started_us = util_now_us();
		*state = r;
		http_heads_done(r->srv->heads, conn);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) >
		    (unsigned long long)r->srv->o.max_body) {
			r->body_too_big = true;
			return http_respond(r);	/* MHD then skips the body */
		}
		return MHD_YES;
	}
	if (*data_size > 0) {
		if (http_body(r, data, *data_size) == -1)
			return http_body_refuse(r);
		*data_size = 0;
		return MHD_YES;
	}
	return http_call_start((struct http_call *)r);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_call *c = *state;

	http_heads_wait(srv->heads, conn);
	if (c == NULL)
		return;
	json_decref(c->rs.json);	/* an answer never sent */
	free(c->rs.text);
	free(c->r.body);
	free(c);
	*state = NULL;
}

static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
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
http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	return utf8_url_decode(s);
}

/*
 * HTTP_IO_THREADS epoll threads move the bytes of every connection and
 * never block: each complete request is suspended and run by one of
 * http.threads request threads (http_jobs.c).  A handler blocks its
 * request thread (a POST waits for its group commit and Kafka's ack),
 * so http.threads bounds the requests in progress at once, and with
 * them the size of the groups api_store.c commits: the default of 32
 * lets 8 to 32 concurrent POSTs share one commit as they did with a
 * thread per connection, and an idle thread costs little.  The idle
 * timeout (30 s, reset by every byte) still ends stalled bodies and
 * readers; request heads have their own deadline, and our own thread
 * accepts the connections (http_conn.c).
 */
#define HTTP_IO_THREADS	4

static struct MHD_Daemon *
http_daemon(struct http_server *srv)
{
	return MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
	    MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG,
	    0, NULL, NULL, http_access, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_IO_THREADS,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, http_heads_notify, srv->heads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT,	/* per thread: see http_conn.c */
	    srv->o.max_connections * HTTP_IO_THREADS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->o.max_connections_per_ip,
	    MHD_OPTION_END);
}

/* Frees what http_start made (the daemon is stopped or never started). */
static void
http_free(struct http_server *srv)
{
	http_jobs_free(srv->jobs);
	http_heads_free(srv->heads);
	http_streams_free(srv->streams);
	free(srv);
}

struct http_stream *
http_hold(struct http_req *r, struct http_resp *rs, const char *content_type,
    size_t max_buffer, void (*gone)(void *), void *arg)
{
	struct http_stream *s;

	if ((s = http_stream_new(r->srv->streams, r->conn, max_buffer, gone,
	    arg)) == NULL)
		return NULL;
	rs->status = 200;
	rs->content_type = content_type;
	rs->close = true;
	rs->stream = http_stream_read;
	rs->stream_free = http_stream_free;
	rs->stream_cls = s;
	return s;
}

struct http_server *
http_start(int fd, const struct http_opts *o, char *err, size_t len)
{
	struct http_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->heads = http_heads_new(o->header_timeout)) == NULL ||
	    (srv->streams = http_streams_new()) == NULL) {
		snprintf(err, len, "out of memory");
		if (srv != NULL)
			http_heads_free(srv->heads);
		free(srv);
		return NULL;
	}
	srv->o = *o;
	if ((srv->jobs = http_jobs_new(o->threads)) == NULL) {
		snprintf(err, len, "cannot start %d request threads", o->threads);
		http_free(srv);
		return NULL;
	}
	if ((srv->d = http_daemon(srv)) == NULL ||
	    (srv->accept = http_accept_start(fd, srv->d, srv->heads,
	    o->max_connections)) == NULL) {
		snprintf(err, len, "cannot start the HTTP server on fd %d", fd);
		if (srv->d != NULL)
			MHD_stop_daemon(srv->d);
		http_free(srv);
		return NULL;
	}
	return srv;
}

void
http_sweep(struct http_server *srv)
{
	(void)http_heads_sweep(srv->heads);
}

/*
 * Stops taking connections, lets the ones we hold finish within seconds
 * (each answer now says "Connection: close"), then stops.  The listening
 * socket stays open, so a sibling process takes new clients.
 */
void
http_stop(struct http_server *srv, double seconds)
{
	double until = util_now() + seconds;

	if (srv == NULL)
		return;
	srv->draining = 1;
	http_accept_stop(srv->accept);
	srv->accept = NULL;
	/* Held streams end now: their clients reconnect to a live process. */
	http_streams_end_all(srv->streams);
	/* Our count: libmicrohttpd's misses those handed over just now. */
	while (util_now() < until && http_heads_open(srv->heads) > 0) {
		(void)http_heads_sweep(srv->heads);
		util_sleep(0.05);
	}
	/* Handlers first: stopping the server frees their requests. */
	http_jobs_free(srv->jobs);
	srv->jobs = NULL;
	/* None may stay suspended: libmicrohttpd cannot stop with one. */
	http_streams_end_all(srv->streams);
	MHD_stop_daemon(srv->d);
	http_free(srv);
}
