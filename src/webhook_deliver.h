/*
 * webhook_deliver.h - one signed POST to a named endpoint: used by the
 * webhook channel (notifications) and by delivery events.
 */
#ifndef NOTIFYD_WEBHOOK_DELIVER_H
#define NOTIFYD_WEBHOOK_DELIVER_H

#include <stddef.h>

#include "channel.h"

struct conf;
struct webhook_http;

/*
 * Signs msg with the endpoint's secrets (one signature each) and POSTs
 * it with webhook-id id; fills a (ref = id).  An endpoint c does not
 * name is code -1 (permanent, nothing sent).  -1 when nothing could be
 * tried (a's text says why), else 0.
 */
int	webhook_deliver(struct webhook_http *, const struct conf *c,
	    const char *endpoint, const char *id, const char *msg, size_t len,
	    struct channel_attempt *a) __attribute__((warn_unused_result));

#endif
