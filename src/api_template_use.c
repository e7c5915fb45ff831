/*
 * api_template_use.c - templates at work: the per-process cache of
 * parsed templates, and a POSTed notification rendered from one.
 *
 * Parsed templates are cached by (name, version).  A version never
 * changes once saved, so an entry never goes stale and needs no
 * invalidation.  What does change is which version is "the latest" and
 * whether a name is deleted: email_template_names, looked up by primary
 * key.  A lookup per POST cost too much (0.56 of a plain POST in the
 * template_post bench), so the row is remembered and forgotten on a
 * NOTIFY from PostgreSQL (api_template_watch.c, which says why that
 * stays exact); without a listening connection every use looks up.
 *
 * A templated POST is rendered at acceptance and validated like a
 * direct one: api_template_body gives api_notify.c a body whose title
 * and content are the rendering, and the stored row keeps the template
 * name, version, locale and rendered text part.  Idempotency hashes
 * stay over the body the client sent.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_store.h"
#include "api_template.h"
#include "api_template_watch.h"
#include "conf.h"
#include "db.h"
#include "notif.h"
#include "template.h"

#define TCACHE_SLOTS	128	/* direct-mapped: bounded, O(1), no LRU lists */

struct api_tcache_ent {
	char		 name[TEMPLATE_NAME_MAX + 1];
	int		 version;
	struct template	*t;
	int		 refs;		/* users, plus one while in its slot */
};

struct api_template_cache {
	pthread_mutex_t		 mu;
	struct api_tcache_ent	*slot[TCACHE_SLOTS];
	struct api_template_watch *watch;	/* the latest version per name */
};

int
api_template_init(struct api_ctx *ctx)
{
	const struct db_opts o = {
		.connect_timeout = conf->database_connect_timeout,
		.statement_timeout = conf->database_statement_timeout,
	};

	if ((ctx->templates = calloc(1, sizeof(*ctx->templates))) == NULL)
		return -1;
	pthread_mutex_init(&ctx->templates->mu, NULL);
	if ((ctx->templates->watch = api_template_watch_new(
	    conf->database_conninfo, &o)) == NULL) {
		pthread_mutex_destroy(&ctx->templates->mu);
		free(ctx->templates);
		ctx->templates = NULL;
		return -1;
	}
	return 0;
}

/* A name saved or deleted here: its next use looks it up again. */
void
api_template_forget(struct http_req *r, const char *name)
{
	api_template_watch_forget(api_ctx_of(r)->templates->watch, name);
}

static void
api_tcache_unref(struct api_tcache_ent *e)
{
	if (e != NULL && --e->refs == 0) {
		template_free(e->t);
		free(e);
	}
}

void
api_template_fini(struct api_ctx *ctx)
{
	int i;

	if (ctx->templates == NULL)
		return;
	api_template_watch_free(ctx->templates->watch);
	for (i = 0; i < TCACHE_SLOTS; i++)
		api_tcache_unref(ctx->templates->slot[i]);
	pthread_mutex_destroy(&ctx->templates->mu);
	free(ctx->templates);
	ctx->templates = NULL;
}

static unsigned
api_tcache_slot(const char *name, int version)
{
	char key[TEMPLATE_NAME_MAX + 16];
	int n = snprintf(key, sizeof(key), "%s/%d", name, version);

	return (unsigned)(notif_hash(key, (size_t)n) % TCACHE_SLOTS);
}

/* The cached entry for (name, version), held for the caller, or NULL. */
static struct api_tcache_ent *
api_tcache_get(struct api_template_cache *c, const char *name, int version)
{
	struct api_tcache_ent *e;

	pthread_mutex_lock(&c->mu);
	e = c->slot[api_tcache_slot(name, version)];
	if (e != NULL && e->version == version && strcmp(e->name, name) == 0)
		e->refs++;
	else
		e = NULL;
	pthread_mutex_unlock(&c->mu);
	return e;
}

/* Caches t (taking it) and returns it held for the caller; NULL: OOM. */
static struct api_tcache_ent *
api_tcache_put(struct api_template_cache *c, const char *name, int version,
    struct template *t)
{
	struct api_tcache_ent *e, *old;
	unsigned s = api_tcache_slot(name, version);

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		template_free(t);
		return NULL;
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->version = version;
	e->t = t;
	e->refs = 2;
	pthread_mutex_lock(&c->mu);
	old = c->slot[s];
	c->slot[s] = e;
	api_tcache_unref(old);
	pthread_mutex_unlock(&c->mu);
	return e;
}

const struct template *
api_template_of(const struct api_tcache_ent *e)
{
	return e->t;
}

void
api_template_release(struct http_req *r, struct api_tcache_ent *e)
{
	struct api_template_cache *c = api_ctx_of(r)->templates;

	pthread_mutex_lock(&c->mu);
	api_tcache_unref(e);
	pthread_mutex_unlock(&c->mu);
}

/* A refused definition or rendering: e's status and text, where in it. */
void
api_template_refuse(struct http_resp *rs, const struct template_err *e,
    const char *prefix)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s%s", prefix, e->msg);
	http_error(rs, e->status, msg, e->field);
	if (e->line > 0) {
		json_object_set_new(rs->json, "line", json_integer(e->line));
		json_object_set_new(rs->json, "col", json_integer(e->col));
	}
}

static const char api_template_sql_latest[] =
    "SELECT latest, first_live, deleted_at IS NOT NULL "
    "FROM email_template_names WHERE name = $1";

/* The name's row, remembered or looked up; -1 after answering. */
static int
api_template_names(struct http_req *r, struct http_resp *rs, const char *name,
    struct api_template_names_row *row)
{
	struct api_template_watch *w = api_ctx_of(r)->templates->watch;
	const char *p[1] = { name };
	PGresult *res;
	uint64_t gen;

	if (api_template_watch_get(w, name, row, &gen))
		return 0;
	if ((res = api_db_query(r, rs, api_template_sql_latest, 1, p)) == NULL)
		return -1;
	row->latest = row->first_live = 0;
	row->deleted = true;
	if (PQntuples(res) == 1) {
		row->latest = atoi(PQgetvalue(res, 0, 0));
		row->first_live = atoi(PQgetvalue(res, 0, 1));
		row->deleted = *PQgetvalue(res, 0, 2) == 't';
	}
	PQclear(res);
	api_template_watch_put(w, name, row, gen);
	return 0;
}

/*
 * The version to use: the latest, or the one asked for if it may still
 * be sent.  0 after answering (status how: 404 for the resource, 422
 * for a POST naming it).
 */
static int
api_template_resolve(struct http_req *r, struct http_resp *rs,
    const char *name, int version, int how)
{
	struct api_template_names_row row;
	char msg[256];
	int latest, first;

	if (api_template_names(r, rs, name, &row) == -1)
		return 0;
	latest = row.latest;
	first = row.first_live;
	if (row.deleted) {
		snprintf(msg, sizeof(msg), "no such template: %s", name);
		http_error(rs, how, msg, "template");
		return 0;
	}
	if (version != 0 && (version < first || version > latest)) {
		snprintf(msg, sizeof(msg), "template %s has no version %d%s",
		    name, version, version < first ? " (deleted)" : "");
		http_error(rs, how, msg, "version");
		return 0;
	}
	return version != 0 ? version : latest;
}

static const char api_template_sql_def[] =
    "SELECT json_build_object('subject', subject, 'html', html, 'text', text,"
    " 'locales', locales, 'defaultLocale', default_locale, 'strict', strict)"
    "::text FROM email_templates WHERE name = $1 AND version = $2";

/* Reads and parses one version; NULL after answering why. */
static struct template *
api_template_fetch(struct http_req *r, struct http_resp *rs, const char *name,
    int version)
{
	char v[16];
	const char *p[2] = { name, v };
	struct template_err e;
	struct template *t = NULL;
	PGresult *res;
	json_t *def;

	snprintf(v, sizeof(v), "%d", version);
	if ((res = api_db_query(r, rs, api_template_sql_def, 2, p)) == NULL)
		return NULL;
	def = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) :
	    NULL;
	PQclear(res);
	if (def == NULL) {
		http_error(rs, 500, "template row missing or unreadable", NULL);
		return NULL;
	}
	/* It parsed when saved; if a newer engine disagrees, say so. */
	if ((t = template_new(def, version, &e)) == NULL)
		api_template_refuse(rs, &e, "stored template no longer parses: ");
	json_decref(def);
	return t;
}

struct api_tcache_ent *
api_template_load(struct http_req *r, struct http_resp *rs, const char *name,
    int version, int how)
{
	struct api_template_cache *c = api_ctx_of(r)->templates;
	struct api_tcache_ent *e;
	struct template *t;

	if ((version = api_template_resolve(r, rs, name, version, how)) == 0)
		return NULL;
	if ((e = api_tcache_get(c, name, version)) != NULL)
		return e;
	if ((t = api_template_fetch(r, rs, name, version)) == NULL)
		return NULL;
	if ((e = api_tcache_put(c, name, version, t)) == NULL)
		http_error(rs, 500, "out of memory", NULL);
	return e;
}

/* "template": a name, or {"name", "version"}; 400 naming what is wrong. */
static int
api_template_spec(struct http_resp *rs, json_t *spec, struct api_template_use *u,
    int *version)
{
	json_t *name = spec, *v = NULL;

	*version = 0;
	if (json_is_object(spec)) {
		name = json_object_get(spec, "name");
		v = json_object_get(spec, "version");
		if (json_object_size(spec) != (v != NULL ? 2u : 1u) || name == NULL) {
			http_error(rs, 400, "template must be a name or "
			    "{\"name\", \"version\"}", "template");
			return -1;
		}
	}
	if (!json_is_string(name) || !template_name_valid(json_string_value(name))) {
		http_error(rs, 400, "template name must be 1 to 100 of "
		    "A-Z a-z 0-9 . _ -", "template");
		return -1;
	}
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    json_integer_value(v) < 1 || json_integer_value(v) > 1000000000)) {
		http_error(rs, 400, "template version must be a positive integer",
		    "template.version");
		return -1;
	}
	*version = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	snprintf(u->name, sizeof(u->name), "%s", json_string_value(name));
	return 0;
}

/* "data" (an object, default {}) and "locale" (a tag, optional). */
static int
api_template_inputs(struct http_resp *rs, json_t *body, json_t **data,
    const char **locale)
{
	json_t *d = json_object_get(body, "data");
	json_t *l = json_object_get(body, "locale");

	*data = d;
	*locale = NULL;
	if (d != NULL && !json_is_null(d) && !json_is_object(d)) {
		http_error(rs, 400, "data must be an object", "data");
		return -1;
	}
	if (l != NULL && !json_is_null(l)) {
		if (!json_is_string(l) || !template_locale_valid(
		    json_string_value(l))) {
			http_error(rs, 400, "locale must be a tag such as \"de\" "
			    "or \"de-AT\"", "locale");
			return -1;
		}
		*locale = json_string_value(l);
	}
	return 0;
}

/*
 * Renders u->name (version, 0: the latest) for locale with data (NULL:
 * {}) into u->out: the POST's and the preview's common path.  -1 after
 * answering (an unknown template or version: status how).
 */
int
api_template_render_use(struct http_req *r, struct http_resp *rs,
    struct api_template_use *u, int version, const char *locale, json_t *data,
    int how)
{
	struct api_tcache_ent *e;
	struct template_err te;
	json_t *empty = NULL;
	char prefix[160];
	int rc;

	if ((e = api_template_load(r, rs, u->name, version, how)) == NULL)
		return -1;
	if (data == NULL || json_is_null(data))
		data = empty = json_object();
	rc = template_render(api_template_of(e), locale, data, &u->out, &te);
	snprintf(u->version, sizeof(u->version), "%d",
	    api_template_of(e)->version);
	/* out.locale points into the template, which the cache may free
	 * once released: keep a copy of our own. */
	if (u->out.locale != NULL) {
		snprintf(u->locale, sizeof(u->locale), "%s", u->out.locale);
		u->out.locale = u->locale;
	}
	if (rc == -1) {
		snprintf(prefix, sizeof(prefix), "template %s version %s: ",
		    u->name, u->version);
		api_template_refuse(rs, &te, prefix);
	}
	json_decref(empty);
	api_template_release(r, e);
	u->used = rc == 0;
	return rc;
}

/* The body notif_validate checks: the client's, rendered into title
 * and content, without the template members. */
static json_t *
api_template_rendered(json_t *body, const struct api_template_use *u)
{
	json_t *b = json_copy(body);

	if (b == NULL)
		return NULL;
	json_object_del(b, "template");
	json_object_del(b, "data");
	json_object_del(b, "locale");
	json_object_set_new(b, "title", json_string(u->out.subject));
	json_object_set_new(b, "content", json_string(u->out.html));
	return b;
}

/* Member k is there and not null. */
static bool
api_template_given(json_t *body, const char *k)
{
	json_t *v = json_object_get(body, k);

	return v != NULL && !json_is_null(v);
}

/*
 * The body to validate: body itself without "template", else the
 * rendering (owned by u).  NULL after answering: 400 for a malformed
 * template, data or locale, or title/content beside a template; 422 for
 * an unknown template or version, a strict template's missing variable
 * or a bad rendered subject.
 */
json_t *
api_template_body(struct http_req *r, struct http_resp *rs, json_t *body,
    struct api_template_use *u)
{
	json_t *spec = json_object_get(body, "template"), *data;
	const char *locale, *nul;
	int version;

	memset(u, 0, sizeof(*u));
	if (spec == NULL || json_is_null(spec)) {
		if (!api_template_given(body, "data") &&
		    !api_template_given(body, "locale"))
			return body;
		http_error(rs, 400, "data and locale need a template", "template");
		return NULL;
	}
	if (api_template_given(body, "title") ||
	    api_template_given(body, "content")) {
		http_error(rs, 400, "template replaces title and content: give "
		    "one or the other", "template");
		return NULL;
	}
	if ((nul = notif_nul_member(body)) != NULL) {
		http_error(rs, 400, "must not contain NUL (\\u0000)", nul);
		return NULL;
	}
	if (api_template_spec(rs, spec, u, &version) == -1 ||
	    api_template_inputs(rs, body, &data, &locale) == -1 ||
	    api_template_render_use(r, rs, u, version, locale, data, 422) == -1)
		return NULL;
	if ((u->body = api_template_rendered(body, u)) == NULL)
		http_error(rs, 500, "out of memory", NULL);
	return u->body;
}

/* A rendering the POST checks refused is the template's (or data's)
 * fault, not a malformed request: 422 naming the part. */
void
api_template_refused(const struct api_template_use *u, struct notif_error *e)
{
	char msg[sizeof(e->msg) + 32];
	const char *part;

	if (!u->used || e->field == NULL)
		return;
	if (strcmp(e->field, "title") == 0)
		part = "subject";
	else if (strcmp(e->field, "content") == 0)
		part = "html";
	else
		return;
	snprintf(msg, sizeof(msg), "rendered %s %s", part, e->msg);
	memcpy(e->msg, msg, sizeof(e->msg) - 1);
	e->msg[sizeof(e->msg) - 1] = '\0';
	e->field = "template";
	e->status = 422;
}

void
api_template_store(const struct api_template_use *u, struct api_store_req *q)
{
	if (!u->used)
		return;
	q->template_name = u->name;
	q->template_version = u->version;
	q->locale = u->out.locale;
	q->text = u->out.text;
}

/* template, templateVersion, locale, text: only for templated ones. */
void
api_template_members(const struct api_template_use *u, json_t *j)
{
	if (!u->used)
		return;
	json_object_set_new(j, "template", json_string(u->name));
	json_object_set_new(j, "templateVersion", json_integer(atoi(u->version)));
	json_object_set_new(j, "locale", u->out.locale ?
	    json_string(u->out.locale) : json_null());
	json_object_set_new(j, "text", u->out.text ?
	    json_string(u->out.text) : json_null());
}

/* The same four members from a stored row (columns col..col+3). */
void
api_template_row(json_t *j, const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return;
	json_object_set_new(j, "template", api_db_col_str(res, row, col));
	json_object_set_new(j, "templateVersion",
	    api_db_col_int(res, row, col + 1));
	json_object_set_new(j, "locale", api_db_col_str(res, row, col + 2));
	json_object_set_new(j, "text", api_db_col_str(res, row, col + 3));
}

void
api_template_use_free(struct api_template_use *u)
{
	json_decref(u->body);
	u->body = NULL;
	template_out_free(&u->out);
	u->used = false;
}
