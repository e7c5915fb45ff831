/*
 * api_template.c - the email template resource: PUT saves a new version,
 * GET reads the latest or one version, the list pages through names,
 * DELETE retires a name (its versions stay, for the notifications that
 * name them), and render previews without storing or sending.
 *
 * Definitions are checked by template.c before anything is stored; the
 * per-process cache and the rendering path are api_template_use.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_template.h"
#include "conf.h"
#include "notif.h"
#include "template.h"

/* Its path, for Location (api.c's route table spells it out). */
#define TEMPLATE_PATH "/notification_service/api/templates"

/* A version as the API shows it, built by the server from a row t. */
#define TEMPLATE_JSON(t) \
    "json_build_object('name', " t ".name, 'version', " t ".version," \
    " 'subject', " t ".subject, 'html', " t ".html, 'text', " t ".text," \
    " 'locales', " t ".locales, 'defaultLocale', " t ".default_locale," \
    " 'strict', " t ".strict," \
    " 'createdAt', extract(epoch from " t ".created_at)::bigint," \
    " 'deletedAt', extract(epoch from " t ".deleted_at)::bigint)::text"

/* The {} of the path: a valid name, or 400 (nothing could match it). */
static const char *
api_template_name(struct http_req *r, struct http_resp *rs)
{
	const char *s = r->arg[0];

	if (s == NULL || !template_name_valid(s)) {
		http_error(rs, 400, "template name must be 1 to 100 of "
		    "A-Z a-z 0-9 . _ -", "name");
		return NULL;
	}
	return s;
}

/* A JSON object body, no NUL in any string; NULL after answering. */
static json_t *
api_template_json(struct http_req *r, struct http_resp *rs)
{
	struct notif_error e;
	const char *nul;
	json_t *j;

	if (!http_content_json(r, rs))
		return NULL;
	if ((j = notif_parse(r->body ? r->body : "", r->body_len, &e)) == NULL) {
		http_error(rs, e.status, e.msg, e.field);
		return NULL;
	}
	if (!json_is_object(j))
		http_error(rs, 400, "body must be a JSON object", NULL);
	else if ((nul = notif_nul_member(j)) != NULL)
		http_error(rs, 400, "must not contain NUL (\\u0000)", nul);
	else
		return j;
	json_decref(j);
	return NULL;
}

/* Answers with the JSON text of column 0 of row 0 (built by the server). */
static void
api_template_answer(struct http_resp *rs, int status, const PGresult *res)
{
	json_t *j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

	if (j == NULL)
		http_error(rs, 500, "unreadable template row", NULL);
	else
		http_json(rs, status, j);
}

/*
 * One statement: the name's row takes the next version (its row lock
 * orders concurrent PUTs of one name; a PUT after a DELETE revives the
 * name, and versions before it stay unsendable), then the version.
 */
static const char api_template_sql_put[] =
    "WITH n AS (INSERT INTO email_template_names AS n (name, latest)"
    " VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET latest = n.latest + 1,"
    "  first_live = CASE WHEN n.deleted_at IS NULL THEN n.first_live"
    "   ELSE n.latest + 1 END, deleted_at = NULL"
    " RETURNING latest) "
    "INSERT INTO email_templates AS t (name, version, subject, html, text,"
    " locales, default_locale, strict) "
    "SELECT $1, n.latest, $2, $3, $4, coalesce($5::jsonb, '{}'), $6, $7 FROM n "
    "RETURNING " TEMPLATE_JSON("t") ", version";

static void
api_template_save(struct http_req *r, struct http_resp *rs, const char *name,
    json_t *def)
{
	json_t *locs = json_object_get(def, "locales");
	char *ls = json_is_object(locs) ? json_dumps(locs, JSON_COMPACT) : NULL;
	const char *p[7];
	PGresult *res;

	p[0] = name;
	p[1] = json_string_value(json_object_get(def, "subject"));
	p[2] = json_string_value(json_object_get(def, "html"));
	p[3] = json_string_value(json_object_get(def, "text"));
	p[4] = ls;
	p[5] = json_string_value(json_object_get(def, "defaultLocale"));
	p[6] = json_is_true(json_object_get(def, "strict")) ? "t" : "f";
	if (json_is_object(locs) && ls == NULL)
		http_error(rs, 500, "out of memory", NULL);
	else if ((res = api_db_write(r, rs, api_template_sql_put, 7, p)) != NULL) {
		api_template_forget(r, name);
		api_template_answer(rs, 201, res);
		http_resp_header(rs, "Location", TEMPLATE_PATH "/%s?version=%s",
		    name, PQgetvalue(res, 0, 1));
		PQclear(res);
	}
	free(ls);
}

/* PUT .../templates/{name}: a new version, when every part parses. */
void
api_template_put(struct http_req *r, struct http_resp *rs)
{
	struct template_err e;
	struct template *t;
	const char *name;
	json_t *def;

	if ((name = api_template_name(r, rs)) == NULL)
		return;
	if (r->body_len > (size_t)conf->http_max_template) {
		http_error(rs, 413, "template is larger than http.max_template",
		    NULL);
		return;
	}
	if ((def = api_template_json(r, rs)) == NULL)
		return;
	if ((t = template_new(def, 0, &e)) == NULL)
		api_template_refuse(rs, &e, "");
	else {
		template_free(t);
		api_template_save(r, rs, name, def);
	}
	json_decref(def);
}

/* The latest live version, or ?version=N (a deleted one shows deletedAt). */
static const char api_template_sql_get[] =
    "SELECT " TEMPLATE_JSON("t") " FROM email_templates t "
    "JOIN email_template_names n ON n.name = t.name "
    "WHERE t.name = $1 AND t.version = coalesce($2::int,"
    " CASE WHEN n.deleted_at IS NULL THEN n.latest END)";

void
api_template_get(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "version", NULL };
	const char *p[2];
	char v[24];
	long long version;
	PGresult *res;

	if ((p[0] = api_template_name(r, rs)) == NULL ||
	    !http_params_known(r, known, rs) ||
	    http_param_int(r, "version", 0, 1, 1000000000, &version, rs) == -1)
		return;
	snprintf(v, sizeof(v), "%lld", version);
	p[1] = version > 0 ? v : NULL;
	if ((res = api_db_query(r, rs, api_template_sql_get, 2, p)) == NULL)
		return;
	if (PQntuples(res) == 0)
		http_error(rs, 404, version > 0 ? "no such template version" :
		    "no such template", version > 0 ? "version" : "name");
	else
		api_template_answer(rs, 200, res);
	PQclear(res);
}

/* Live names in name order, each with its latest version's summary. */
static const char api_template_sql_list[] =
    "SELECT json_build_object('name', n.name, 'version', n.latest,"
    " 'subject', t.subject, 'defaultLocale', t.default_locale,"
    " 'locales', (SELECT coalesce(json_agg(k ORDER BY k), '[]')"
    "  FROM jsonb_object_keys(t.locales) k), 'strict', t.strict,"
    " 'createdAt', extract(epoch from t.created_at)::bigint)::text, n.name "
    "FROM email_template_names n "
    "JOIN email_templates t ON t.name = n.name AND t.version = n.latest "
    "WHERE n.deleted_at IS NULL AND ($1::text IS NULL OR n.name > $1) "
    "ORDER BY n.name LIMIT $2";

/* GET .../templates?limit=&after=: "next" is the name to pass as after. */
void
api_template_list(struct http_req *r, struct http_resp *rs)
{
	struct api_db_page pg;
	json_t *arr, *next = NULL;
	PGresult *res;
	int i, n;

	if (api_db_page(r, rs, &pg) == -1 || (res = api_db_query(r, rs,
	    api_template_sql_list, 2, pg.p)) == NULL)
		return;
	arr = json_array();
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_loads(PQgetvalue(res, i, 0), 0,
		    NULL));
	if (n == pg.limit)
		next = json_string(PQgetvalue(res, n - 1, 1));
	PQclear(res);
	http_json(rs, 200, json_pack("{s:o,s:o}", "templates", arr, "next",
	    next ? next : json_null()));
}

static const char api_template_sql_delete[] =
    "WITH n AS (UPDATE email_template_names SET deleted_at = now()"
    " WHERE name = $1 AND deleted_at IS NULL RETURNING name) "
    "UPDATE email_templates t SET deleted = true, deleted_at = now() "
    "FROM n WHERE t.name = n.name AND NOT t.deleted RETURNING t.version";

/* DELETE .../templates/{name}: gone for GET and sending; rows kept. */
void
api_template_delete(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	PGresult *res;
	int n;

	if ((p[0] = api_template_name(r, rs)) == NULL ||
	    (res = api_db_write(r, rs, api_template_sql_delete, 1, p)) == NULL)
		return;
	n = PQntuples(res);
	PQclear(res);
	api_template_forget(r, p[0]);
	if (n == 0)
		http_error(rs, 404, "no such template", "name");
	else
		http_json(rs, 200, json_pack("{s:s,s:b,s:i}", "name", p[0],
		    "deleted", 1, "versions", n));
}

/* The preview's body: {data?, locale?, version?} and nothing else. */
static int
api_template_preview_args(struct http_resp *rs, json_t *b, int *version,
    const char **locale)
{
	json_t *v = json_object_get(b, "version"), *l, *d;
	const char *k;

	json_object_foreach(b, k, d)
		if (strcmp(k, "data") != 0 && strcmp(k, "locale") != 0 &&
		    strcmp(k, "version") != 0) {
			http_error(rs, 400, "is not a render member (data, locale, "
			    "version)", k);
			return -1;
		}
	if ((d = json_object_get(b, "data")) != NULL && !json_is_null(d) &&
	    !json_is_object(d)) {
		http_error(rs, 400, "data must be an object", "data");
		return -1;
	}
	l = json_object_get(b, "locale");
	if (l != NULL && !json_is_null(l) && (!json_is_string(l) ||
	    !template_locale_valid(json_string_value(l)))) {
		http_error(rs, 400, "locale must be a tag such as \"de\" or "
		    "\"de-AT\"", "locale");
		return -1;
	}
	*locale = json_is_string(l) ? json_string_value(l) : NULL;
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    json_integer_value(v) < 1 || json_integer_value(v) > 1000000000)) {
		http_error(rs, 400, "version must be a positive integer",
		    "version");
		return -1;
	}
	*version = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	return 0;
}

/* What a POST would send: the text part, or the one derived from HTML. */
static json_t *
api_template_preview(const struct api_template_use *u)
{
	char *text = u->out.text ? NULL : notif_html_to_text(u->out.html);
	json_t *j;

	j = json_pack("{s:s,s:i,s:s?,s:s,s:s,s:s?,s:b}", "name", u->name,
	    "version", atoi(u->version), "locale", u->out.locale,
	    "subject", u->out.subject, "html", u->out.html,
	    "text", u->out.text ? u->out.text : text,
	    "textDerived", u->out.text == NULL);
	free(text);
	return j;
}

/* POST .../templates/{name}/render: renders, stores and sends nothing. */
void
api_template_render(struct http_req *r, struct http_resp *rs)
{
	struct api_template_use u;
	const char *name, *locale;
	json_t *b;
	int version;

	memset(&u, 0, sizeof(u));
	if ((name = api_template_name(r, rs)) == NULL ||
	    (b = api_template_json(r, rs)) == NULL)
		return;
	snprintf(u.name, sizeof(u.name), "%s", name);
	if (api_template_preview_args(rs, b, &version, &locale) == 0 &&
	    api_template_render_use(r, rs, &u, version, locale,
	    json_object_get(b, "data"), 404) == 0)
		http_json(rs, 200, api_template_preview(&u));
	api_template_use_free(&u);
	json_decref(b);
}
