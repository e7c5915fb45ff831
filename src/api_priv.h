/*
 * api_priv.h - the api process's context, shared by api*.c only.
 */
#ifndef NOTIFYD_API_PRIV_H
#define NOTIFYD_API_PRIV_H

#include <signal.h>
#include <stddef.h>

#include "api.h"

struct db_pool;
struct api_notify;

struct api_ctx {
	struct db_pool		*pool;
	struct api_notify	*notify;	/* producer and ack tracking */
	volatile sig_atomic_t	 draining;
};

int	api_notify_init(struct api_ctx *) __attribute__((warn_unused_result));
void	api_notify_fini(struct api_ctx *);
int	api_notify_ready(struct api_ctx *, char *why, size_t len);

void	api_notify_create(struct api_req *, struct api_resp *);
void	api_notify_list(struct api_req *, struct api_resp *);
void	api_notify_get(struct api_req *, struct api_resp *);
void	api_notify_retry(struct api_req *, struct api_resp *);

#define NOTIFY_PATH "/notification_service/api/notifications"
#define API_NOTIFY_ROUTES \
	{ "POST", NOTIFY_PATH, api_notify_create, "send", "notify_create" }, \
	{ "GET", NOTIFY_PATH, api_notify_list, "read", "notify_list" }, \
	{ "GET", NOTIFY_PATH "/{}", api_notify_get, "read", "notify_get" }, \
	{ "POST", NOTIFY_PATH "/{}/retry", api_notify_retry, "send", \
	  "notify_retry" },
#define API_AUDIT_ROUTES

#endif
