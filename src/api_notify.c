/*
 * api_notify.c - the email notification resource.
 */
#include "config.h"

#include <stddef.h>

#include "api.h"
#include "api_priv.h"

int
api_notify_init(struct api_ctx *ctx)
{
	ctx->notify = NULL;
	return 0;
}

void
api_notify_fini(struct api_ctx *ctx)
{
}

int
api_notify_ready(struct api_ctx *ctx, char *why, size_t len)
{
	return 0;
}
