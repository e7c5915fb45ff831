/*
 * template.c - email templates (see template.h).
 *
 * A definition is the JSON a PUT carries (and the row it is stored as):
 * {subject, html, text?, locales?: {tag: {subject, html, text?}},
 * defaultLocale?, strict?}.  Every part is parsed once, when the
 * definition is built, so a template that was saved always renders; a
 * part that does not parse is a 422 naming it and its line:col.
 *
 * Variables are HTML-escaped in the HTML part only.  The subject and
 * the text part get them as they are, then are checked like any title:
 * a CR or LF that data smuggles into a subject is refused, never sent.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mustache.h"
#include "notif.h"
#include "template.h"

static int
template_fail(struct template_err *e, int status, const char *field,
    const char *msg)
{
	e->status = status;
	snprintf(e->field, sizeof(e->field), "%s", field);
	snprintf(e->msg, sizeof(e->msg), "%s %s", field, msg);
	e->line = e->col = 0;
	return -1;
}

/* 1 to 100 of [A-Za-z0-9._-]: safe in a path, a log line and a header. */
bool
template_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= TEMPLATE_NAME_MAX &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n;
}

/* A BCP 47-looking tag: letters, digits and inner hyphens ("de-AT"). */
bool
template_locale_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= TEMPLATE_LOCALE_MAX && s[0] != '-' &&
	    s[n - 1] != '-' && strstr(s, "--") == NULL &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-") == n;
}

/*
 * Whether s holds a control character: C0 (tab allowed; CR and LF too
 * in a body), DEL, C1 (U+0080-U+009F) or U+2028/U+2029, which readers
 * may show as line breaks.
 */
static bool
template_has_ctl(const char *str, bool body)
{
	const unsigned char *s = (const unsigned char *)str;

	for (; *s != '\0'; s++) {
		if (*s < 0x20 && *s != '\t' && !(body && (*s == '\r' ||
		    *s == '\n')))
			return true;
		if (*s == 0x7F || (s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F) ||
		    (s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)))
			return true;
	}
	return false;
}

/* Parses member k of obj (a string; optional unless required) as a part. */
static int
template_part(json_t *obj, const char *k, bool required, const char *prefix,
    struct mustache **out, struct template_err *e)
{
	json_t *v = json_object_get(obj, k);
	struct mustache_err me;
	char field[64];

	snprintf(field, sizeof(field), "%s%s", prefix, k);
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return required ? template_fail(e, 400, field, "is required") : 0;
	if (!json_is_string(v))
		return template_fail(e, 400, field, "must be a string");
	if (required && json_string_length(v) == 0)
		return template_fail(e, 400, field, "must not be empty");
	if (strcmp(k, "subject") == 0 && template_has_ctl(json_string_value(v),
	    false))
		return template_fail(e, 400, field, "must not contain CR, LF or "
		    "other control characters");
	memset(&me, 0, sizeof(me));
	if ((*out = mustache_parse(json_string_value(v), json_string_length(v),
	    &me)) != NULL)
		return 0;
	template_fail(e, 422, field, "");
	e->line = me.line;
	e->col = me.col;
	snprintf(e->msg, sizeof(e->msg), "%s:%d:%d: %s", field, me.line, me.col,
	    me.msg[0] != '\0' ? me.msg : "does not parse");
	return -1;
}

/* Only the members a variant may have: a typo is an error, not ignored. */
static int
template_members(json_t *obj, const char *const *known, const char *prefix,
    struct template_err *e)
{
	const char *k;
	char field[64];
	json_t *v;
	int i;

	json_object_foreach(obj, k, v) {
		for (i = 0; known[i] != NULL && strcmp(known[i], k) != 0; i++)
			;
		if (known[i] == NULL) {
			/* An empty name still names something in the answer. */
			snprintf(field, sizeof(field), "%s%s", prefix,
			    k[0] != '\0' ? k : "\"\"");
			return template_fail(e, 400, field, "is not a template "
			    "member");
		}
	}
	return 0;
}

/* The three parts of obj into v, names prefixed ("locales.de."); the
 * top level (no prefix) has its own list of members. */
static int
template_variant_new(json_t *obj, const char *prefix,
    struct template_variant *v, struct template_err *e)
{
	static const char *const known[] = { "subject", "html", "text", NULL };

	if (!json_is_object(obj))
		return template_fail(e, 400, prefix, "must be an object");
	if ((prefix[0] != '\0' && template_members(obj, known, prefix, e) == -1) ||
	    template_part(obj, "subject", true, prefix, &v->subject, e) == -1 ||
	    template_part(obj, "html", true, prefix, &v->html, e) == -1 ||
	    template_part(obj, "text", false, prefix, &v->text, e) == -1)
		return -1;
	return 0;
}

static int
template_locales(json_t *def, struct template *t, struct template_err *e)
{
	json_t *locs = json_object_get(def, "locales"), *v;
	char prefix[64];
	const char *k;

	if (locs == NULL || json_is_null(locs))
		return 0;
	if (!json_is_object(locs))
		return template_fail(e, 400, "locales", "must be an object");
	if (json_object_size(locs) > TEMPLATE_LOCALES_MAX)
		return template_fail(e, 400, "locales", "has more than 64 locales");
	json_object_foreach(locs, k, v) {
		if (!template_locale_valid(k))
			return template_fail(e, 400, "locales", "keys must be "
			    "locale tags such as \"de\" or \"de-AT\" (letters, "
			    "digits, inner hyphens; at most 35)");
		snprintf(prefix, sizeof(prefix), "locales.%s.", k);
		snprintf(t->v[t->nv].locale, sizeof(t->v[0].locale), "%s", k);
		if (template_variant_new(v, prefix, &t->v[t->nv++], e) == -1)
			return -1;
	}
	return 0;
}

/* defaultLocale and strict, the definition's two settings. */
static int
template_settings(json_t *def, struct template *t, struct template_err *e)
{
	json_t *dl = json_object_get(def, "defaultLocale");
	json_t *st = json_object_get(def, "strict");

	if (dl != NULL && !json_is_null(dl)) {
		if (!json_is_string(dl) || !template_locale_valid(
		    json_string_value(dl)))
			return template_fail(e, 400, "defaultLocale", "must be a "
			    "locale tag such as \"en\" or \"en-GB\"");
		snprintf(t->v[0].locale, sizeof(t->v[0].locale), "%s",
		    json_string_value(dl));
	}
	if (st != NULL && !json_is_null(st) && !json_is_boolean(st))
		return template_fail(e, 400, "strict", "must be true or false");
	t->strict = json_is_true(st);
	return 0;
}

/* A definition, every part parsed; NULL with e when it is refused. */
struct template *
template_new(json_t *def, int version, struct template_err *e)
{
	static const char *const known[] = { "subject", "html", "text",
	    "locales", "defaultLocale", "strict", NULL };
	json_t *locs = json_object_get(def, "locales");
	struct template *t;

	if (!json_is_object(def)) {
		template_fail(e, 400, "body", "must be a JSON object");
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->v = calloc(1 + (json_is_object(locs) ? json_object_size(locs) :
	    0), sizeof(*t->v))) == NULL) {
		free(t);
		template_fail(e, 500, "body", "out of memory");
		return NULL;
	}
	t->version = version;
	t->nv = 1;
	if (template_members(def, known, "", e) == -1 ||
	    template_variant_new(def, "", &t->v[0], e) == -1 ||
	    template_settings(def, t, e) == -1 ||
	    template_locales(def, t, e) == -1) {
		template_free(t);
		return NULL;
	}
	return t;
}

void
template_free(struct template *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nv; i++) {
		mustache_free(t->v[i].subject);
		mustache_free(t->v[i].html);
		mustache_free(t->v[i].text);
	}
	free(t->v);
	free(t);
}

static const struct template_variant *
template_find(const struct template *t, const char *tag)
{
	size_t i;

	for (i = 0; i < t->nv; i++)
		if (strcasecmp(t->v[i].locale, tag) == 0)
			return &t->v[i];
	return NULL;
}

/*
 * The variant for locale: the tag itself, then shorter and shorter
 * prefixes ("de-AT" -> "de"), then the default.  Tags compare without
 * regard to case, as BCP 47 says.
 */
const struct template_variant *
template_pick(const struct template *t, const char *locale)
{
	const struct template_variant *v;
	char tag[TEMPLATE_LOCALE_MAX + 1], *dash;

	if (locale == NULL || strlen(locale) > TEMPLATE_LOCALE_MAX)
		return &t->v[0];
	snprintf(tag, sizeof(tag), "%s", locale);
	for (;;) {
		if (tag[0] != '\0' && (v = template_find(t, tag)) != NULL)
			return v;
		if ((dash = strrchr(tag, '-')) == NULL)
			return &t->v[0];
		*dash = '\0';
	}
}

/* Renders one part into *out; a strict miss names the part and where. */
static int
template_render_part(const struct template *t, const struct mustache *m,
    json_t *data, const char *field, enum mustache_escape esc, char **out,
    struct template_err *e)
{
	struct mustache_opts o = { .escape = esc, .strict = t->strict };
	struct mustache_err me;
	struct buf b = { 0 };
	const char *s;

	memset(&me, 0, sizeof(me));
	if (mustache_render(m, data, &o, &b, &me) == -1) {
		buf_free(&b);
		template_fail(e, 422, field, "");
		e->line = me.line;
		e->col = me.col;
		snprintf(e->msg, sizeof(e->msg), "%s:%d:%d: %s", field, me.line,
		    me.col, me.msg[0] != '\0' ? me.msg : "does not render");
		return -1;
	}
	s = buf_str(&b);
	*out = s != NULL ? strdup(s) : NULL;
	buf_free(&b);
	if (*out == NULL)
		return template_fail(e, 500, field, "out of memory");
	return 0;
}

/* The field name of part k of variant v ("subject", "locales.de.html"). */
static void
template_field(const struct template *t, const struct template_variant *v,
    const char *k, char *buf, size_t len)
{
	if (v == &t->v[0])
		snprintf(buf, len, "%s", k);
	else
		snprintf(buf, len, "locales.%s.%s", v->locale, k);
}

/* What a rendering must be, like a POSTed title: checked, not repaired. */
static int
template_check(const struct template_out *o, struct template_err *e)
{
	if (o->subject[strspn(o->subject, " \t")] == '\0')
		return template_fail(e, 422, "subject", "rendered empty");
	if (strlen(o->subject) > NOTIF_TITLE_MAX)
		return template_fail(e, 422, "subject", "rendered longer than "
		    "998 bytes");
	if (template_has_ctl(o->subject, false))
		return template_fail(e, 422, "subject", "rendered with CR, LF or "
		    "other control characters (from data?)");
	if (o->text != NULL && template_has_ctl(o->text, true))
		return template_fail(e, 422, "text", "rendered with control "
		    "characters other than tab, CR and LF");
	return 0;
}

/*
 * Renders t for locale (NULL: the default) with data (an object).  -1
 * with e: a strict template's missing variable (422 naming the part and
 * the variable), a rendered subject that is empty or holds control
 * characters, out of memory.
 */
int
template_render(const struct template *t, const char *locale, json_t *data,
    struct template_out *o, struct template_err *e)
{
	const struct template_variant *v = template_pick(t, locale);
	char f[64];

	memset(o, 0, sizeof(*o));
	o->locale = v->locale[0] != '\0' ? v->locale : NULL;
	template_field(t, v, "subject", f, sizeof(f));
	if (template_render_part(t, v->subject, data, f, MUSTACHE_ESCAPE_NONE,
	    &o->subject, e) == -1)
		goto fail;
	template_field(t, v, "html", f, sizeof(f));
	if (template_render_part(t, v->html, data, f, MUSTACHE_ESCAPE_HTML,
	    &o->html, e) == -1)
		goto fail;
	template_field(t, v, "text", f, sizeof(f));
	if (v->text != NULL && template_render_part(t, v->text, data, f,
	    MUSTACHE_ESCAPE_NONE, &o->text, e) == -1)
		goto fail;
	if (template_check(o, e) == 0)
		return 0;
fail:
	template_out_free(o);
	return -1;
}

void
template_out_free(struct template_out *o)
{
	free(o->subject);
	free(o->html);
	free(o->text);
	o->subject = o->html = o->text = NULL;
}
