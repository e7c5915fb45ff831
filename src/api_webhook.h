/*
 * api_webhook.h - the webhook endpoints resource (api_webhook.c), for
 * api.c's route table.
 */
#ifndef NOTIFYD_API_WEBHOOK_H
#define NOTIFYD_API_WEBHOOK_H

#include "http.h"

void	api_webhook_list(struct http_req *, struct http_resp *);
void	api_webhook_enable(struct http_req *, struct http_resp *);

#endif
