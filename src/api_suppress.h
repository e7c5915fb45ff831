/*
 * api_suppress.h - the suppression list resource (api_suppress.c), for
 * api.c's route table, and the POST's category and SUPPRESSED answer
 * for api_notify.c.
 */
#ifndef NOTIFYD_API_SUPPRESS_H
#define NOTIFYD_API_SUPPRESS_H

#include <jansson.h>
#include <libpq-fe.h>

#include "http.h"

void	api_suppress_list(struct http_req *, struct http_resp *);
void	api_suppress_get(struct http_req *, struct http_resp *);
void	api_suppress_put(struct http_req *, struct http_resp *);
void	api_suppress_delete(struct http_req *, struct http_resp *);
int	api_suppress_category(json_t *body, const char **category,
	    struct http_resp *) __attribute__((warn_unused_result));
void	api_suppress_accepted(json_t *answer, const char *category,
	    const char *reason);
void	api_suppress_notif_cols(json_t *, const PGresult *, int row, int col);

#endif
