/*
 * api_prefs.c - the categories a user opted out of, and the one-click
 * unsubscribe link (RFC 8058) every mail with a category carries.
 *
 * PUT/GET .../users/{userId}/preferences need the "preferences" scope
 * (or admin).  /unsubscribe/{token} has no bearer token: the token,
 * signed with email.unsubscribe_secret_file (suppress.c), is the
 * authorization, and names one user and one category.  POST opts out
 * at once (what mail providers send); GET shows a page whose button
 * POSTs the same URL, for people who click the link.  Never decides a
 * notification's status: sql/014's email_suppression_reason reads what
 * is stored here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_db.h"
#include "api_prefs.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "suppress.h"
#include "util.h"

#define PREFS_UID_MAX		256	/* bytes of a {userId} segment */
#define PREFS_MAX_OPTOUT	64	/* categories per user */

/* The {userId} segment: short, no control characters; NULL after a 400. */
static const char *
api_prefs_uid(struct http_req *r, struct http_resp *rs)
{
	const char *u = r->arg[0];

	if (u == NULL || *u == '\0' || strlen(u) > PREFS_UID_MAX ||
	    util_has_ctl(u)) {
		http_error(rs, 400, "userId must be 1 to 256 bytes without "
		    "control characters", "userId");
		return NULL;
	}
	return u;
}

static void
api_prefs_answer(struct http_resp *rs, const char *uid, PGresult *res)
{
	json_t *out = PQntuples(res) > 0 ? api_db_col_jsonb(res, 0, 0) :
	    json_array();

	http_json(rs, 200, json_pack("{s:s,s:o}", "userId", uid, "optedOut",
	    out));
	PQclear(res);
}

static const char api_prefs_sql_get[] =
    "SELECT to_json(opted_out)::text FROM email_preferences "
    "WHERE user_id = $1";

void
api_prefs_get(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	PGresult *res;

	if ((p[0] = api_prefs_uid(r, rs)) != NULL &&
	    (res = api_db_query(r, rs, api_prefs_sql_get, 1, p)) != NULL)
		api_prefs_answer(rs, p[0], res);
}

/* Sorted, without duplicates, so a GET reads the same set back. */
static const char api_prefs_sql_put[] =
    "INSERT INTO email_preferences (user_id, opted_out) "
    "VALUES ($1, ARRAY(SELECT DISTINCT c FROM unnest($2::text[]) c"
    " ORDER BY c)) "
    "ON CONFLICT (user_id) DO UPDATE SET opted_out = EXCLUDED.opted_out,"
    " updated_at = now() "
    "RETURNING to_json(opted_out)::text";

/* {"optedOut": [category, ...]} into a text[] literal; -1 after a 400. */
static int
api_prefs_body(struct http_req *r, struct http_resp *rs, struct db_arr *a)
{
	json_error_t je;
	json_t *body, *l, *v;
	size_t i;
	int rc = -1;

	if (!http_content_json(r, rs))
		return -1;
	if ((body = json_loadb(r->body ? r->body : "", r->body_len, 0,
	    &je)) == NULL) {
		http_error(rs, 400, "body is not valid JSON (UTF-8, no NUL)", NULL);
		return -1;
	}
	l = json_object_get(body, "optedOut");
	if (!json_is_array(l) || json_array_size(l) > PREFS_MAX_OPTOUT)
		http_error(rs, 400, "optedOut must be an array of at most 64 "
		    "categories", "optedOut");
	else {
		json_array_foreach(l, i, v)
			if (!json_is_string(v) ||
			    !suppress_category_valid(json_string_value(v)))
				break;
			else
				db_arr_text(a, json_string_value(v));
		if (i < json_array_size(l))
			http_error(rs, 400, "optedOut: each category must be 1 "
			    "to 64 of a-z 0-9 _ . -", "optedOut");
		else
			rc = 0;
	}
	json_decref(body);
	return rc;
}

void
api_prefs_put(struct http_req *r, struct http_resp *rs)
{
	struct db_arr a = { 0 };
	const char *p[2];
	PGresult *res;

	if ((p[0] = api_prefs_uid(r, rs)) == NULL ||
	    api_prefs_body(r, rs, &a) == -1) {
		db_arr_free(&a);
		return;
	}
	if ((p[1] = db_arr_end(&a)) == NULL)
		http_error(rs, 500, "out of memory", NULL);
	else if ((res = api_db_write(r, rs, api_prefs_sql_put, 2, p)) != NULL)
		api_prefs_answer(rs, p[0], res);
	db_arr_free(&a);
}

/* Whether the client wants a page rather than problem+json. */
static bool
api_prefs_wants_html(struct http_req *r)
{
	const char *a = http_header(r, "Accept");

	return a != NULL && strstr(a, "text/html") != NULL;
}

/* A small page; body is trusted markup (nothing from the request). */
static void
api_prefs_html(struct http_resp *rs, int status, const char *title,
    const char *body)
{
	if (asprintf(&rs->text, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width\"><title>%s</title></head>\n<body>"
	    "<h1>%s</h1>\n%s\n</body></html>\n", title, title, body) == -1) {
		rs->text = NULL;
		http_error(rs, 500, "out of memory", NULL);
		return;
	}
	rs->status = status;
	rs->content_type = "text/html; charset=utf-8";
	http_resp_header(rs, "Content-Security-Policy", "default-src 'none'; "
	    "form-action 'self'");
	http_resp_header(rs, "Cache-Control", "no-store");
}

/* 404 when unsubscribe is not configured, 403 for a bad token. */
static void
api_prefs_refuse(struct http_req *r, struct http_resp *rs, int status,
    const char *why)
{
	if (api_prefs_wants_html(r))
		api_prefs_html(rs, status, status == 403 ? "Invalid link" :
		    "Not available", status == 403 ? "<p>This unsubscribe link "
		    "is not valid.</p>" : "<p>Unsubscribing is not available "
		    "here.</p>");
	else
		http_error(rs, status, why, "token");
}

/* The user and category the {token} names; -1 after answering. */
static int
api_prefs_token(struct http_req *r, struct http_resp *rs, char **uid,
    char **category)
{
	if (conf->email_unsubscribe_secret_len == 0) {
		api_prefs_refuse(r, rs, 404, "unsubscribe is not configured "
		    "(email.unsubscribe_secret_file)");
		return -1;
	}
	if (r->arg[0] == NULL || suppress_token_open(
	    conf->email_unsubscribe_secret, conf->email_unsubscribe_secret_len,
	    r->arg[0], uid, category) == -1) {
		api_prefs_refuse(r, rs, 403, "invalid unsubscribe token");
		return -1;
	}
	return 0;
}

/* GET: a confirmation page whose button POSTs to this same URL. */
void
api_prefs_unsub_page(struct http_req *r, struct http_resp *rs)
{
	char *uid, *cat, *body;

	if (api_prefs_token(r, rs, &uid, &cat) == -1)
		return;
	/* The token and category are [A-Za-z0-9_.-]: safe in markup. */
	if (asprintf(&body, "<p>Stop receiving <strong>%s</strong> email?</p>\n"
	    "<form method=\"post\" action=\"%s\">"
	    "<input type=\"hidden\" name=\"List-Unsubscribe\" "
	    "value=\"One-Click\">"
	    "<button type=\"submit\" id=\"unsubscribe\">Unsubscribe</button>"
	    "</form>", cat, r->arg[0]) == -1)
		http_error(rs, 500, "out of memory", NULL);
	else {
		api_prefs_html(rs, 200, "Unsubscribe", body);
		free(body);
	}
	free(uid);
	free(cat);
}

/* RFC 8058's body, form-encoded: List-Unsubscribe=One-Click. */
static bool
api_prefs_one_click(const struct http_req *r)
{
	static const char want[] = "List-Unsubscribe=One-Click";
	const char *b = r->body, *end = b + r->body_len, *amp;

	while (b != NULL && b < end) {
		amp = memchr(b, '&', (size_t)(end - b));
		if ((amp ? amp : end) - b == (ptrdiff_t)strlen(want) &&
		    memcmp(b, want, strlen(want)) == 0)
			return true;
		b = amp ? amp + 1 : end;
	}
	return false;
}

static const char api_prefs_sql_optout[] =
    "INSERT INTO email_preferences (user_id, opted_out) VALUES ($1,"
    " ARRAY[$2::text]) "
    "ON CONFLICT (user_id) DO UPDATE SET opted_out = ARRAY(SELECT DISTINCT c"
    " FROM unnest(array_append(email_preferences.opted_out, $2)) c"
    " ORDER BY c), updated_at = now() "
    "RETURNING to_json(opted_out)::text";

/* POST: opts the token's user out of its category, no login. */
void
api_prefs_unsub_post(struct http_req *r, struct http_resp *rs)
{
	char *uid, *cat;
	const char *p[2];
	PGresult *res;

	if (api_prefs_token(r, rs, &uid, &cat) == -1)
		return;
	p[0] = uid;
	p[1] = cat;
	if (!api_prefs_one_click(r))
		http_error(rs, 400, "body must be List-Unsubscribe=One-Click "
		    "(RFC 8058)", "List-Unsubscribe");
	else if ((res = api_db_write(r, rs, api_prefs_sql_optout, 2, p)) != NULL) {
		log_info("user %s unsubscribed from %s", uid, cat);
		if (api_prefs_wants_html(r)) {
			PQclear(res);
			api_prefs_html(rs, 200, "Unsubscribed", "<p>You will no "
			    "longer receive this kind of email.</p>");
		} else
			api_prefs_answer(rs, uid, res);
	}
	free(uid);
	free(cat);
}
