/*
 * suppress.c - the pure rules behind the suppression list and one-click
 * unsubscribe (issue 16).
 *
 * Owns the verdict "this failure is about the address" (which puts it on
 * the list), the category syntax, and the token in List-Unsubscribe:
 * base64url(userId) "." base64url(HMAC-SHA256(secret, userId NUL
 * category)) "." category, so the link needs no lookup and cannot be
 * forged for another user or category.  Never does I/O and never reads
 * the configuration: the secret and the URL arrive as arguments.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "suppress.h"
#include "util.h"

#define SUPPRESS_MAC_LEN	32
/* RFC 5322's line limit, for the List-Unsubscribe line. */
#define SUPPRESS_LINE_MAX	998

static const char suppress_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Whether a permanent failure says the address does not exist (so that
 * mailing it again only hurts the sender's reputation): an enhanced
 * status 5.1.x (RFC 3463 "addressing status"), or, without one, a 550,
 * 551 or 553 reply.  5.7.x (policy, spam) and every 4xx are not.
 */
bool
suppress_address_failure(int code, const char *text)
{
	const char *p = text;
	char *end;
	long subject;

	if (code < 500 || code > 599)
		return false;
	if (p != NULL && isdigit((unsigned char)p[0]) &&
	    isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
	    (p[3] == ' ' || p[3] == '-'))
		p += 4;
	if (p != NULL && p[0] == '5' && p[1] == '.' &&
	    isdigit((unsigned char)p[2])) {
		subject = strtol(p + 2, &end, 10);
		if (*end == '.' && isdigit((unsigned char)end[1]))
			return subject == 1;
	}
	return code == 550 || code == 551 || code == 553;
}

/* 1 to 64 of [a-z0-9_.-]: safe in a URL, a header and a log line. */
bool
suppress_category_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= SUPPRESS_CATEGORY_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static void
suppress_b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = suppress_b64[(v >> 18) & 63];
		out[o++] = suppress_b64[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = suppress_b64[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = suppress_b64[v & 63];
	}
	out[o] = '\0';
}

/* Decodes n base64url characters (no padding); -1 on anything else. */
static int
suppress_b64_decode(const char *in, size_t n, unsigned char *out, size_t *len)
{
	size_t i, o = 0;
	unsigned v = 0;
	int bits = 0;
	const char *c;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if (in[i] == '\0' || (c = strchr(suppress_b64, in[i])) == NULL)
			return -1;
		v = (v << 6) | (unsigned)(c - suppress_b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	*len = o;
	return 0;
}

static int
suppress_mac(const void *secret, size_t slen, const char *uid,
    const char *category, unsigned char mac[SUPPRESS_MAC_LEN])
{
	size_t ul = strlen(uid), cl = strlen(category);
	unsigned int mlen = 0;
	unsigned char *msg;

	if ((msg = malloc(ul + cl + 1)) == NULL)
		return -1;
	memcpy(msg, uid, ul + 1);	/* the NUL separates the two */
	memcpy(msg + ul + 1, category, cl);
	if (HMAC(EVP_sha256(), secret, (int)slen, msg, ul + 1 + cl, mac,
	    &mlen) == NULL || mlen != SUPPRESS_MAC_LEN) {
		free(msg);
		return -1;
	}
	free(msg);
	return 0;
}

/* The token for (uid, category), malloc'd; NULL when out of memory. */
char *
suppress_token(const void *secret, size_t slen, const char *uid,
    const char *category)
{
	unsigned char mac[SUPPRESS_MAC_LEN];
	size_t ul = strlen(uid), o;
	char *t;

	if (suppress_mac(secret, slen, uid, category, mac) == -1 ||
	    (t = malloc(ul * 4 / 3 + 4 + 44 + strlen(category) + 2)) == NULL)
		return NULL;
	suppress_b64_encode((const unsigned char *)uid, ul, t);
	o = strlen(t);
	t[o++] = '.';
	suppress_b64_encode(mac, sizeof(mac), t + o);
	o = strlen(t);
	t[o++] = '.';
	strcpy(t + o, category);
	return t;
}

/*
 * Checks a token (in constant time over the MAC) and returns its user
 * and category, malloc'd; -1 for a malformed, tampered or foreign one.
 */
int
suppress_token_open(const void *secret, size_t slen, const char *token,
    char **uid, char **category)
{
	unsigned char mac[SUPPRESS_MAC_LEN], got[SUPPRESS_MAC_LEN + 3];
	const char *d1 = strchr(token, '.'), *d2;
	size_t ul, gl;
	char *u;

	*uid = *category = NULL;
	if (d1 == NULL || (d2 = strchr(d1 + 1, '.')) == NULL ||
	    !suppress_category_valid(d2 + 1) || d2 - d1 - 1 != 43 ||
	    suppress_b64_decode(d1 + 1, 43, got, &gl) == -1 ||
	    (u = malloc((size_t)(d1 - token) + 1)) == NULL)
		return -1;
	if (suppress_b64_decode(token, (size_t)(d1 - token),
	    (unsigned char *)u, &ul) == -1 || memchr(u, '\0', ul) != NULL ||
	    ul == 0) {
		free(u);
		return -1;
	}
	u[ul] = '\0';
	if (suppress_mac(secret, slen, u, d2 + 1, mac) == -1 ||
	    !util_ct_equal(mac, sizeof(mac), got, gl) ||
	    (*category = strdup(d2 + 1)) == NULL) {
		free(u);
		return -1;
	}
	*uid = u;
	return 0;
}

/*
 * The List-Unsubscribe and List-Unsubscribe-Post lines (RFC 8058) for a
 * mail of category, each ending in CRLF; NULL when the mail gets none:
 * transactional (no category), unsubscribe not configured (no URL or
 * secret), or a user id so long the line would pass 998 characters.
 */
char *
suppress_headers(const char *public_url, const void *secret, size_t slen,
    const char *uid, const char *category)
{
	size_t ul = public_url != NULL ? strlen(public_url) : 0;
	char *tok, *h = NULL;

	if (category == NULL || uid == NULL || ul == 0 || slen == 0)
		return NULL;
	while (ul > 0 && public_url[ul - 1] == '/')
		ul--;
	if ((tok = suppress_token(secret, slen, uid, category)) == NULL)
		return NULL;
	if (strlen("List-Unsubscribe: <") + ul + strlen("/unsubscribe/>") +
	    strlen(tok) <= SUPPRESS_LINE_MAX &&
	    asprintf(&h, "List-Unsubscribe: <%.*s/unsubscribe/%s>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", (int)ul,
	    public_url, tok) == -1)
		h = NULL;
	free(tok);
	return h;
}
