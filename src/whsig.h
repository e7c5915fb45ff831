/*
 * whsig.h - Standard Webhooks signatures (https://www.standardwebhooks.com).
 *
 * The signed content is "<webhook-id>.<webhook-timestamp>.<body>"; the
 * webhook-signature header is "v1,<base64 HMAC-SHA256>" once per secret,
 * separated by spaces, so a receiver that knows any one of the secrets
 * (old or new, during a rotation) accepts the message.  Pure code.
 */
#ifndef NOTIFYD_WHSIG_H
#define NOTIFYD_WHSIG_H

#include <stddef.h>
#include <stdint.h>

/* One signature: "v1," and 44 characters of base64. */
#define WHSIG_ONE_LEN	(3 + 44)

struct whsig_key {
	const unsigned char	*key;
	size_t			 len;
};

/*
 * The webhook-signature value for keys[0..n-1] into out (NUL-ended):
 * 0, or -1 when out is too small (n * (WHSIG_ONE_LEN + 1) bytes suffice)
 * or HMAC fails.
 */
int	whsig_header(const struct whsig_key *keys, int n, const char *id,
	    int64_t timestamp, const char *body, size_t len, char *out,
	    size_t outlen) __attribute__((warn_unused_result));

#endif
