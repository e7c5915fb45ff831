/*
 * template.h - an email template: its parts (subject, HTML, optional
 * text) for a default locale and per-locale variants, parsed with
 * mustache.h, checked, and rendered for a locale with the locale
 * fallback.  Pure code: no I/O, no logging, no configuration; the API
 * (api_template.c, api_template_use.c) stores, caches and serves it.
 */
#ifndef NOTIFYD_TEMPLATE_H
#define NOTIFYD_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define TEMPLATE_NAME_MAX	100
#define TEMPLATE_LOCALE_MAX	35	/* BCP 47 tags people use fit easily */
#define TEMPLATE_LOCALES_MAX	64

struct mustache;

/* One locale's parts; text NULL when the template has no text part. */
struct template_variant {
	char		 locale[TEMPLATE_LOCALE_MAX + 1];	/* "" unnamed */
	struct mustache	*subject, *html, *text;
};

struct template {
	int		 version;
	bool		 strict;	/* a missing variable is an error */
	struct template_variant *v;	/* v[0]: the default (top level) */
	size_t		 nv;
};

/* Why a definition or a rendering was refused: status, part, message. */
struct template_err {
	int		 status;	/* 400 shape, 422 parse or render */
	char		 field[64];	/* "subject", "locales.de.html", ... */
	char		 msg[320];
	int		 line, col;	/* where in the part; 0 when none */
};

/* A rendering; malloc'ed strings, text NULL when the template has none. */
struct template_out {
	char		*subject, *html, *text;
	const char	*locale;	/* the variant's, NULL when unnamed */
};

bool	 template_name_valid(const char *);
bool	 template_locale_valid(const char *);
struct template *template_new(json_t *def, int version, struct template_err *)
	    __attribute__((warn_unused_result));
void	 template_free(struct template *);
const struct template_variant *template_pick(const struct template *,
	    const char *locale);
int	 template_render(const struct template *, const char *locale,
	    json_t *data, struct template_out *, struct template_err *)
	    __attribute__((warn_unused_result));
void	 template_out_free(struct template_out *);

#endif
