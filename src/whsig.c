/*
 * whsig.c - Standard Webhooks signing: HMAC-SHA256 over id.timestamp.body.
 *
 * Owns the bytes that are signed and the header's format, nothing about
 * where the secrets come from (conf_webhook.c) or how the request is
 * sent (webhook_http.c).  Never logs.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "whsig.h"

/* "id.timestamp.body" in one buffer (HMAC_CTX is deprecated in 3.0). */
static unsigned char *
whsig_content(const char *id, int64_t ts, const char *body, size_t len,
    size_t *total)
{
	char prefix[320];
	unsigned char *buf;
	int n;

	n = snprintf(prefix, sizeof(prefix), "%s.%" PRId64 ".", id, ts);
	if (n < 0 || (size_t)n >= sizeof(prefix) ||
	    (buf = malloc((size_t)n + len + 1)) == NULL)
		return NULL;
	memcpy(buf, prefix, (size_t)n);
	memcpy(buf + n, body, len);
	*total = (size_t)n + len;
	return buf;
}

int
whsig_header(const struct whsig_key *keys, int n, const char *id,
    int64_t timestamp, const char *body, size_t len, char *out, size_t outlen)
{
	unsigned char mac[32], *msg;
	unsigned int maclen;
	size_t o = 0, total;
	int i;

	if (n < 1 || outlen < (size_t)n * (WHSIG_ONE_LEN + 1) ||
	    (msg = whsig_content(id, timestamp, body, len, &total)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (HMAC(EVP_sha256(), keys[i].key, (int)keys[i].len, msg, total,
		    mac, &maclen) == NULL || maclen != sizeof(mac)) {
			free(msg);
			return -1;
		}
		if (i > 0)
			out[o++] = ' ';
		memcpy(out + o, "v1,", 3);
		o += 3;
		o += base64_encode(mac, sizeof(mac), out + o);
	}
	out[o] = '\0';
	free(msg);
	return 0;
}
