/*
 * api_ops.h - /health, /ready, /metrics and /openapi.json (api_ops.c).
 */
#ifndef NOTIFYD_API_OPS_H
#define NOTIFYD_API_OPS_H

#include <stddef.h>

#include "http.h"

void	api_ops_health(struct http_req *, struct http_resp *);
void	api_ops_ready(struct http_req *, struct http_resp *);
void	api_ops_metrics(struct http_req *, struct http_resp *);
void	api_ops_openapi(struct http_req *, struct http_resp *);

/* doc/openapi.json, embedded at build time (api_openapi.c, generated). */
extern const unsigned char api_openapi_json[];
extern const size_t api_openapi_json_len;

#endif
