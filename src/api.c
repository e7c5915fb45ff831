/*
 * api.c - the api role: which handler serves which path, who may call
 * it, and the process that serves them.
 *
 * Owns the route table, bearer-token authorization and api_main, which
 * sets up the database pools and the notification producer and runs
 * the HTTP server (http.c) on the master's listen socket.  Must not
 * grow helpers: those belong to http.c (HTTP) or api_db.c (database).
 */
#include "config.h"

#include <string.h>

#include "api_audit.h"
#include "api_db.h"
#include "api_inbox.h"
#include "api_notify.h"
#include "api_ops.h"
#include "api_prefs.h"
#include "api_stats.h"
#include "api_suppress.h"
#include "api_webhook.h"
#include "api_template.h"
#include "conf.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "proc.h"
#include "roles.h"
#include "stats.h"
#include "util.h"

/*
 * Method, path ("{}" is one path segment), token scope (NULL: public),
 * handler, database pool (the audit routes get their own connections,
 * so slow audit reads never take the notifications'), the names of the
 * {} segments in errors, the metrics label.  The metrics count routes
 * by their index here: add new ones at the end.
 */
static const struct http_route api_routes[] = {
	{ "GET",  "/health",                                          NULL,   api_ops_health,         API_POOL_MAIN,  { NULL },         "health" },
	{ "GET",  "/ready",                                           NULL,   api_ops_ready,          API_POOL_MAIN,  { NULL },         "ready" },
	{ "GET",  "/metrics",                                         NULL,   api_ops_metrics,        API_POOL_MAIN,  { NULL },         "metrics" },
	{ "GET",  "/openapi.json",                                    NULL,   api_ops_openapi,        API_POOL_MAIN,  { NULL },         "openapi" },
	{ "POST", "/notification_service/api/notifications",          "send", api_notify_create,      API_POOL_MAIN,  { NULL },         "notify_create" },
	{ "GET",  "/notification_service/api/notifications",          "read", api_notify_list,        API_POOL_MAIN,  { NULL },         "notify_list" },
	{ "GET",  "/notification_service/api/notifications/{}",       "read", api_notify_get,         API_POOL_MAIN,  { "id" },         "notify_get" },
	{ "POST", "/notification_service/api/notifications/{}/retry", "send", api_notify_retry,       API_POOL_MAIN,  { "id" },         "notify_retry" },
	{ "GET",  "/order/{}",                                        "read", api_audit_order,        API_POOL_AUDIT, { "orderId" },    "audit_order" },
	{ "GET",  "/order/{}/latest",                                 "read", api_audit_order_latest, API_POOL_AUDIT, { "orderId" },    "audit_order_latest" },
	{ "GET",  "/customer/{}/notifications",                       "read", api_audit_customer,     API_POOL_AUDIT, { "customerId" }, "audit_customer" },
	{ "POST", "/send-notification",                               "send", api_audit_send,         API_POOL_AUDIT, { NULL },         "audit_send" },
	{ "GET",  "/audit/events",                                    "read", api_audit_events,       API_POOL_AUDIT, { NULL },         "audit_events" },
	{ "GET",  "/audit/events/{}",                                 "read", api_audit_event,        API_POOL_AUDIT, { "id" },         "audit_event" },
	{ "GET",  "/audit/topics",                                    "read", api_audit_topics,       API_POOL_AUDIT, { NULL },         "audit_topics" },
	{ "GET",  "/audit/tail",                                      "read", api_audit_tail,         API_POOL_AUDIT, { NULL },         "audit_tail" },
	{ "POST", "/notification_service/api/notifications/{}/cancel", "send", api_notify_cancel,    API_POOL_MAIN, { "id" },       "notify_cancel" },
	{ "PUT",  "/notification_service/api/templates/{}",           "templates", api_template_put,  API_POOL_MAIN,  { "name" },       "template_put" },
	{ "GET",  "/notification_service/api/templates/{}",           "read", api_template_get,       API_POOL_MAIN,  { "name" },       "template_get" },
	{ "GET",  "/notification_service/api/templates",              "read", api_template_list,      API_POOL_MAIN,  { NULL },         "template_list" },
	{ "DELETE", "/notification_service/api/templates/{}",         "templates", api_template_delete, API_POOL_MAIN, { "name" },      "template_delete" },
	{ "POST", "/notification_service/api/templates/{}/render",    "send", api_template_render,    API_POOL_MAIN,  { "name" },       "template_render" },
	{ "GET",    "/notification_service/api/suppressions",            "admin", api_suppress_list,   API_POOL_MAIN, { NULL },      "suppress_list" },
	{ "GET",    "/notification_service/api/suppressions/{}",         "admin", api_suppress_get,    API_POOL_MAIN, { "address" }, "suppress_get" },
	{ "PUT",    "/notification_service/api/suppressions/{}",         "admin", api_suppress_put,    API_POOL_MAIN, { "address" }, "suppress_put" },
	{ "DELETE", "/notification_service/api/suppressions/{}",         "admin", api_suppress_delete, API_POOL_MAIN, { "address" }, "suppress_delete" },
	{ "GET",    "/notification_service/api/users/{}/preferences",    "preferences", api_prefs_get, API_POOL_MAIN, { "userId" },  "prefs_get" },
	{ "PUT",    "/notification_service/api/users/{}/preferences",    "preferences", api_prefs_put, API_POOL_MAIN, { "userId" },  "prefs_put" },
	{ "GET",    "/unsubscribe/{}",                                   NULL,    api_prefs_unsub_page, API_POOL_MAIN, { "token" },  "unsubscribe_page" },
	{ "POST",   "/unsubscribe/{}",                                   NULL,    api_prefs_unsub_post, API_POOL_MAIN, { "token" },  "unsubscribe" },
	{ "GET",    "/notification_service/api/stats",                   "read",  api_stats_get,       API_POOL_MAIN, { NULL },      "stats" },
	{ "GET",    "/notification_service/api/webhooks/endpoints",      "admin", api_webhook_list,    API_POOL_MAIN, { NULL },      "webhook_list" },
	{ "POST",   "/notification_service/api/webhooks/endpoints/{}/enable", "admin", api_webhook_enable, API_POOL_MAIN, { "name" }, "webhook_enable" },
	{ "GET",    "/notification_service/api/users/{}/inbox",          "read",  api_inbox_list,      API_POOL_MAIN, { "userId" },  "inbox_list" },
	{ "POST",   "/notification_service/api/users/{}/inbox/{}/read",  "send",  api_inbox_read,      API_POOL_MAIN, { "userId", "id" }, "inbox_read" },
	{ "POST",   "/notification_service/api/users/{}/inbox/read-all", "send",  api_inbox_read_all,  API_POOL_MAIN, { "userId" },  "inbox_read_all" },
	{ "GET",    "/notification_service/api/users/{}/inbox/stream",   "read",  api_inbox_stream,    API_POOL_MAIN, { "userId" },  "inbox_stream" },
	{ NULL }
};

/*
 * Answered on the HTTP server's I/O threads, not a request thread: they
 * never block, so liveness and metrics still answer while every request
 * thread waits for a slow database.
 */
static const char *const api_inline_get[] = { "/health", "/metrics", NULL };

/* True when token t ("token:scope,scope") grants scope (or "admin"). */
static bool
api_scope_granted(const char *t, const char *scope)
{
	const char *sc;
	size_t w;

	for (sc = t + strcspn(t, ":") + 1; *sc != '\0'; sc += strspn(sc, ",")) {
		w = strcspn(sc, ",");
		if ((w == strlen(scope) && strncmp(sc, scope, w) == 0) ||
		    (w == 5 && strncmp(sc, "admin", 5) == 0))
			return true;
		sc += w;
	}
	return false;
}

/* Checks the bearer token against the route's scope (when tokens exist). */
static bool
api_authorize(struct http_req *r, const struct http_route *rt,
    struct http_resp *rs)
{
	const struct conf_strlist *t = &conf->http_tokens;
	const char *h, *tok;
	int i, found = -1;

	if (rt->scope == NULL || t->n == 0)
		return true;
	if ((h = http_header(r, "Authorization")) == NULL ||
	    strncasecmp(h, "Bearer ", 7) != 0) {
		http_error(rs, 401, "missing bearer token", NULL);
		return false;
	}
	tok = h + 7;
	/* Every token, in constant time: timing tells neither bytes nor which. */
	for (i = 0; i < t->n; i++)
		if (util_ct_equal(tok, strlen(tok), t->v[i],
		    strcspn(t->v[i], ":")) && found == -1)
			found = i;
	if (found == -1) {
		http_error(rs, 401, "unknown bearer token", NULL);
		return false;
	}
	if (api_scope_granted(t->v[found], rt->scope))
		return true;
	http_error(rs, 403, "token lacks the scope", rt->scope);
	return false;
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

/* The HTTP server's settings, from the configuration. */
static void
api_http_opts(struct api_ctx *ctx, struct http_opts *o)
{
	/* Every route has its own row of counters on the stats page. */
	_Static_assert(sizeof(api_routes) / sizeof(api_routes[0]) - 1 <
	    STATS_ROUTES, "raise STATS_ROUTES: a route would count as unrouted");

	memset(o, 0, sizeof(*o));
	o->routes = api_routes;
	o->authorize = api_authorize;
	o->inline_get = api_inline_get;
	o->app = ctx;
	o->threads = conf->http_threads;
	o->max_body = (size_t)conf->http_max_body;
	o->max_connections = (unsigned)conf->http_max_connections;
	o->max_connections_per_ip = (unsigned)conf->http_max_connections_per_ip;
	o->header_timeout = conf->http_header_timeout;
}

int
api_main(const struct proc_info *pi)
{
	struct api_ctx ctx;
	struct http_opts o;
	struct http_server *srv;
	char err[128];

	memset(&ctx, 0, sizeof(ctx));
	api_pools_new(&ctx);
	if (api_template_init(&ctx) == -1 || api_notify_init(&ctx) == -1 ||
	    api_inbox_init(&ctx) == -1) {
		api_notify_fini(&ctx);
		api_template_fini(&ctx);
		api_pools_free(&ctx);
		return 1;
	}
	api_http_opts(&ctx, &o);
	if ((srv = http_start(pi->listen_fd, &o, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		api_inbox_fini(&ctx);
		api_notify_fini(&ctx);
		api_template_fini(&ctx);
		api_pools_free(&ctx);
		return 1;
	}
	proc_ready();
	api_notify_warm(&ctx);
	while (proc_running()) {
		util_sleep(0.1);
		http_sweep(srv);
	}
	/* The master keeps the socket: the new generation takes new clients. */
	http_stop(srv, proc_stop == STOP_FAST ? 0.2 :
	    conf->shutdown_timeout * 0.8);
	api_inbox_fini(&ctx);	/* after the server: its streams are gone */
	api_notify_fini(&ctx);
	api_template_fini(&ctx);
	api_pools_free(&ctx);
	return 0;
}
