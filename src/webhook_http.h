/*
 * webhook_http.h - one signed POST to a configured endpoint (libcurl).
 */
#ifndef NOTIFYD_WEBHOOK_HTTP_H
#define NOTIFYD_WEBHOOK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"

struct webhook_http;

/* One delivery: where, how long, what, and its Standard Webhooks headers. */
struct webhook_post {
	const char	*url;
	double		 timeout;	/* whole request, seconds */
	double		 connect_timeout;
	size_t		 max_response;	/* bytes of the answer read at most */
	const char	*id;		/* webhook-id */
	int64_t		 timestamp;	/* webhook-timestamp, unix seconds */
	const char	*signature;	/* webhook-signature */
	const char	*body;
	size_t		 len;
};

struct webhook_http *webhook_http_new(char *err, size_t len)
		    __attribute__((warn_unused_result));
void		 webhook_http_free(struct webhook_http *);

/*
 * Sends p and fills a: code (the HTTP status; 0 when none came: a
 * connection failure or a timeout, text says which), text (an excerpt
 * of the answer), retry_after (< 0 when none).  Returns 0, or -1 when
 * the request could not even be set up (a's text says why).
 */
int		 webhook_http_post(struct webhook_http *,
		    const struct webhook_post *p, struct channel_attempt *a)
		    __attribute__((warn_unused_result));

#endif
