/*
 * base64.c - the one base64 encoder.  Pure: writes into the caller's
 * buffer, allocates nothing.
 */
#include "base64.h"

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of n bytes into out (BASE64_LEN(n) bytes, no NUL); the length. */
size_t
base64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = base64_alphabet[(v >> 18) & 63];
		out[o++] = base64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? base64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? base64_alphabet[v & 63] : '=';
	}
	return o;
}
