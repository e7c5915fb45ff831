/*
 * api_template_watch.h - which version of a template name is the latest,
 * remembered per api process and forgotten on PostgreSQL's word
 * (LISTEN/NOTIFY; api_template_watch.c).
 */
#ifndef NOTIFYD_API_TEMPLATE_WATCH_H
#define NOTIFYD_API_TEMPLATE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

struct db_opts;
struct api_template_watch;

/* A name's versions as email_template_names holds them. */
struct api_template_names_row {
	int	 latest, first_live;
	bool	 deleted;		/* or no such name */
};

struct api_template_watch *api_template_watch_new(const char *conninfo,
	    const struct db_opts *) __attribute__((warn_unused_result));
void	 api_template_watch_free(struct api_template_watch *);
bool	 api_template_watch_get(struct api_template_watch *, const char *name,
	    struct api_template_names_row *, uint64_t *gen);
void	 api_template_watch_put(struct api_template_watch *, const char *name,
	    const struct api_template_names_row *, uint64_t gen);
void	 api_template_watch_forget(struct api_template_watch *, const char *);

#endif
