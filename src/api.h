/*
 * api.h - the api role's route table (api.c), for the metrics labels.
 */
#ifndef NOTIFYD_API_H
#define NOTIFYD_API_H

#include "http.h"

extern const struct http_route api_routes[];

#endif
