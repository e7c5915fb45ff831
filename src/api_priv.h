/*
 * api_priv.h - the api process's context, shared by api*.c only.
 */
#ifndef NOTIFYD_API_PRIV_H
#define NOTIFYD_API_PRIV_H

#include <signal.h>

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

#define API_NOTIFY_ROUTES
#define API_AUDIT_ROUTES

#endif
