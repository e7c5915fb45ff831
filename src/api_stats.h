/*
 * api_stats.h - delivery analytics (api_stats.c), for api.c's route
 * table.
 */
#ifndef NOTIFYD_API_STATS_H
#define NOTIFYD_API_STATS_H

#include "http.h"

void	api_stats_get(struct http_req *, struct http_resp *);

#endif
