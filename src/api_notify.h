/*
 * api_notify.h - the email notification resource (api_notify.c).
 */
#ifndef NOTIFYD_API_NOTIFY_H
#define NOTIFYD_API_NOTIFY_H

#include <stddef.h>

#include "api_db.h"
#include "http.h"

int	api_notify_init(struct api_ctx *) __attribute__((warn_unused_result));
void	api_notify_warm(struct api_ctx *);
void	api_notify_fini(struct api_ctx *);
int	api_notify_ready(struct api_ctx *, char *why, size_t len);

void	api_notify_create(struct http_req *, struct http_resp *);
void	api_notify_list(struct http_req *, struct http_resp *);
void	api_notify_get(struct http_req *, struct http_resp *);
void	api_notify_retry(struct http_req *, struct http_resp *);
void	api_notify_cancel(struct http_req *, struct http_resp *);

#endif
