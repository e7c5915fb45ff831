/*
 * webhook_deliver.c - from an endpoint's name to a signed POST: looks
 * the endpoint up in the snapshot, signs (whsig.c) with every secret,
 * sends (webhook_http.c).  Never logs.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "util.h"
#include "webhook_deliver.h"
#include "webhook_http.h"
#include "whsig.h"

#define WEBHOOK_DELIVER_KEYS	8

/* The endpoint's signature header over id, ts and the body. */
static int
webhook_deliver_sign(const struct conf_webhook_endpoint *ep, const char *id,
    int64_t ts, const char *msg, size_t len, char *out, size_t outlen)
{
	struct whsig_key k[WEBHOOK_DELIVER_KEYS];
	int i, n = ep->nsecrets < WEBHOOK_DELIVER_KEYS ? ep->nsecrets :
	    WEBHOOK_DELIVER_KEYS;

	for (i = 0; i < n; i++) {
		k[i].key = ep->secrets[i].key;
		k[i].len = ep->secrets[i].len;
	}
	return whsig_header(k, n, id, ts, msg, len, out, outlen);
}

int
webhook_deliver(struct webhook_http *h, const struct conf *c,
    const char *endpoint, const char *id, const char *msg, size_t len,
    struct channel_attempt *a)
{
	char sig[WEBHOOK_DELIVER_KEYS * (WHSIG_ONE_LEN + 1)];
	const struct conf_webhook_endpoint *ep;
	struct webhook_post p;

	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
	snprintf(a->ref, sizeof(a->ref), "%s", id);
	if (endpoint == NULL || (ep = conf_webhook_find(c, endpoint)) == NULL) {
		a->code = -1;
		snprintf(a->text, sizeof(a->text), "endpoint not in "
		    "webhook.endpoints any more");
		return 0;
	}
	p.url = ep->url;
	p.timeout = ep->timeout;
	p.connect_timeout = c->webhook_connect_timeout;
	p.max_response = (size_t)c->webhook_max_response;
	p.id = id;
	p.timestamp = (int64_t)util_wall();
	p.body = msg;
	p.len = len;
	p.signature = sig;
	if (webhook_deliver_sign(ep, id, p.timestamp, msg, len, sig,
	    sizeof(sig)) == -1) {
		snprintf(a->text, sizeof(a->text), "signing failed");
		return -1;
	}
	return webhook_http_post(h, &p, a);
}
