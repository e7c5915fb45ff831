/*
 * webhook_reply.c - the meaning of an endpoint's answer (issue 17):
 * 2xx sent; 410 permanent (the worker also disables the endpoint); 408
 * and 425 (the endpoint asks to be asked again, RFC 9110 and 8470), 429,
 * 5xx and timeouts or connection failures retried, honouring
 * Retry-After; any other status (3xx: redirects are not followed, 4xx)
 * permanent.  Pure code: no I/O, no logging.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "notif.h"
#include "webhook_reply.h"

enum channel_verdict
webhook_reply_classify(const struct channel_attempt *a)
{
	if (a->permanent)
		return CHANNEL_PERMANENT;
	if (a->code >= 200 && a->code <= 299)
		return CHANNEL_SENT;
	if (a->code == 0 || a->code == 408 || a->code == 425 ||
	    a->code == 429 || (a->code >= 500 && a->code <= 599))
		return CHANNEL_TEMPORARY;
	return CHANNEL_PERMANENT;
}

double
webhook_reply_retry_after(const char *v, time_t now)
{
	char buf[64];
	size_t n;
	time_t at;
	double d;

	if (v == NULL)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (strspn(buf, "0123456789") == n) {
		/* delta-seconds; a huge number of digits is just "long" */
		d = n > 9 ? WEBHOOK_RETRY_AFTER_MAX : strtod(buf, NULL);
	} else {
		if ((at = curl_getdate(buf, NULL)) == -1)
			return -1;
		d = at <= now ? 0 : (double)(at - now);
	}
	return d > WEBHOOK_RETRY_AFTER_MAX ? WEBHOOK_RETRY_AFTER_MAX : d;
}

void
webhook_reply_excerpt(const char *body, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return;
	if (body == NULL || len == 0) {
		out[0] = '\0';
		return;
	}
	(void)notif_text_clean(body, len, out, cap);
}
