/*
 * api_template.h - the email template resource (api_template.c) and
 * its use by a POSTed notification (api_template_use.c): the per-process
 * cache of parsed templates, rendering at acceptance, and the template
 * columns of a stored notification.
 */
#ifndef NOTIFYD_API_TEMPLATE_H
#define NOTIFYD_API_TEMPLATE_H

#include <stdbool.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "api_db.h"
#include "http.h"
#include "template.h"

struct api_store_req;
struct notif_error;
struct api_tcache_ent;

/* A POST's template, once rendered; zeroed (unused) without one. */
struct api_template_use {
	bool		 used;
	json_t		*body;		/* what notif_validate checks */
	char		 name[TEMPLATE_NAME_MAX + 1];
	char		 version[16];
	char		 locale[TEMPLATE_LOCALE_MAX + 1];	/* out.locale's */
	struct template_out out;
};

int	 api_template_init(struct api_ctx *) __attribute__((warn_unused_result));
void	 api_template_fini(struct api_ctx *);

/* The resource's routes. */
void	 api_template_put(struct http_req *, struct http_resp *);
void	 api_template_get(struct http_req *, struct http_resp *);
void	 api_template_list(struct http_req *, struct http_resp *);
void	 api_template_delete(struct http_req *, struct http_resp *);
void	 api_template_render(struct http_req *, struct http_resp *);

/* A template (name, version or 0 = the latest) from the cache or the
 * database; NULL after answering why (404/422 in how, or 503...). */
struct api_tcache_ent *api_template_load(struct http_req *, struct http_resp *,
	    const char *name, int version, int notfound_status);
const struct template *api_template_of(const struct api_tcache_ent *);
void	 api_template_release(struct http_req *, struct api_tcache_ent *);
void	 api_template_forget(struct http_req *, const char *name);
void	 api_template_refuse(struct http_resp *, const struct template_err *,
	    const char *prefix);

int	 api_template_render_use(struct http_req *, struct http_resp *,
	    struct api_template_use *, int version, const char *locale,
	    json_t *data, int how) __attribute__((warn_unused_result));

/* A POST body with "template": rendered; see api_template_use.c. */
json_t	*api_template_body(struct http_req *, struct http_resp *, json_t *body,
	    struct api_template_use *) __attribute__((warn_unused_result));
void	 api_template_refused(const struct api_template_use *,
	    struct notif_error *);
void	 api_template_store(const struct api_template_use *,
	    struct api_store_req *);
void	 api_template_members(const struct api_template_use *, json_t *);
void	 api_template_row(json_t *, const PGresult *, int row, int col);
void	 api_template_use_free(struct api_template_use *);

#endif
