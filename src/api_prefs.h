/*
 * api_prefs.h - per-user preferences and the one-click unsubscribe
 * endpoint (api_prefs.c), for api.c's route table.
 */
#ifndef NOTIFYD_API_PREFS_H
#define NOTIFYD_API_PREFS_H

#include "http.h"

void	api_prefs_get(struct http_req *, struct http_resp *);
void	api_prefs_put(struct http_req *, struct http_resp *);
void	api_prefs_unsub_page(struct http_req *, struct http_resp *);
void	api_prefs_unsub_post(struct http_req *, struct http_resp *);

#endif
