/*
 * fuzz_log_escape.c - the log escaper (log_escape in src/log.c).
 *
 * Not in the build yet: enabled once log_escape lands (see FUZZ_TARGETS
 * in Makefile.am).  Written against
 *   size_t log_escape(char *dst, size_t dstlen, const char *src,
 *       size_t srclen);
 * which escapes control characters and invalid UTF-8, truncates, NUL-
 * terminates and returns strlen(dst).
 *
 * Input: one byte for dstlen (1..256; the buffer is exactly that size
 * on the heap, so ASan sees a byte too far), then the source bytes.
 * Properties: dst is NUL-terminated inside dstlen, the return value is
 * its length, and it is valid UTF-8 with no control characters (C0,
 * DEL or C1).
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "log.h"

/* Length of the valid UTF-8 sequence at p (no overlongs, surrogates or
 * code points past U+10FFFF), 0 when invalid. */
static size_t
fuzz_utf8_seq(const unsigned char *p, size_t left, unsigned *cp)
{
	size_t n, i;
	unsigned min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, min = 0x80, *cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, min = 0x800, *cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, min = 0x10000, *cp = p[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (p[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

static void
fuzz_check_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	unsigned cp;

	while (i < len) {
		n = fuzz_utf8_seq(p + i, len - i, &cp);
		FUZZ_CHECK(n > 0, "invalid UTF-8 at %zu", i);
		FUZZ_CHECK(cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 &&
		    cp <= 0x9f), "control character U+%04X at %zu", cp, i);
		i += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t dstlen, ret, len;
	char *dst;

	if (size < 1)
		return 0;
	dstlen = (size_t)data[0] + 1;
	if ((dst = malloc(dstlen)) == NULL)
		abort();
	memset(dst, 'Z', dstlen);
	ret = log_escape(dst, dstlen, (const char *)data + 1, size - 1);
	len = strnlen(dst, dstlen);
	FUZZ_CHECK(len < dstlen, "no NUL inside %zu bytes", dstlen);
	FUZZ_CHECK(ret == len, "returned %zu, strlen %zu", ret, len);
	fuzz_check_text(dst, len);
	free(dst);
	return 0;
}
