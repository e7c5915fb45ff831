/*
 * utf8.c - strict UTF-8 (RFC 3629): no overlong forms (C0 AF, E0 80 AF),
 * no UTF-16 surrogates (ED A0 80), nothing above U+10FFFF, no NUL.
 * That is exactly what a PostgreSQL text value in a UTF8 database
 * holds, so input that passes never makes a statement fail.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* Second-byte bounds per lead byte (Unicode Table 3-7); 0 = no lead. */
static bool
utf8_lead(unsigned char c, size_t *len, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		*len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		*len = 3;
		if (c == 0xE0)
			*lo = 0xA0;	/* below is overlong */
		else if (c == 0xED)
			*hi = 0x9F;	/* above are surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		*len = 4;
		if (c == 0xF0)
			*lo = 0x90;	/* below is overlong */
		else if (c == 0xF4)
			*hi = 0x8F;	/* above is past U+10FFFF */
	} else
		return false;
	return true;
}

/* Length of the one valid character at s (at most n bytes), 0 if none. */
size_t
utf8_char(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo, hi;
	size_t len, i;

	if (n == 0 || u[0] == 0)
		return 0;
	if (u[0] < 0x80)
		return 1;
	if (!utf8_lead(u[0], &len, &lo, &hi) || n < len ||
	    u[1] < lo || u[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (u[i] < 0x80 || u[i] > 0xBF)
			return 0;
	return len;
}

/* The code point of the len-byte sequence at s, which utf8_char accepted. */
unsigned
utf8_codepoint(const char *s, size_t len)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	const unsigned char *u = (const unsigned char *)s;
	unsigned cp = u[0] & lead_mask[len < 5 ? len : 0];
	size_t i;

	for (i = 1; i < len; i++)
		cp = (cp << 6) | (u[i] & 0x3f);
	return cp;
}

/* Whether n bytes at s are strict UTF-8 without NUL. */
bool
utf8_valid(const char *s, size_t n)
{
	size_t k;

	while (n > 0) {
		if ((k = utf8_char(s, n)) == 0)
			return false;
		s += k;
		n -= k;
	}
	return true;
}

/*
 * A printable copy of bad input, to name it in an answer: valid
 * characters kept, every other byte (NUL and controls too) as \xNN,
 * and C0 80, the NUL utf8_url_decode() kept, as \x00 too.  Cut on a
 * character boundary to fit len; always terminated.
 */
char *
utf8_escape(const char *s, size_t n, char *out, size_t len)
{
	size_t j = 0, k;

	if (len == 0)
		return out;
	while (n > 0) {
		k = utf8_char(s, n);
		if (k > 0 && (unsigned char)*s >= 0x20 && *s != 0x7F) {
			if (j + k >= len)
				break;
			memcpy(out + j, s, k);
			j += k;
		} else {
			k = n > 1 && memcmp(s, "\xC0\x80", 2) == 0 ? 2 : 1;
			if (j + 4 >= len)
				break;
			snprintf(out + j, 5, "\\x%02X",
			    k == 2 ? 0 : (unsigned char)*s);
			j += 4;
		}
		s += k;
		n -= k;
	}
	out[j] = '\0';
	return out;
}

static int
utf8_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes %HH in place, as libmicrohttpd would, except that %00 becomes
 * the overlong pair C0 80: a NUL would cut the C string short, so that
 * /order/a%00b silently became /order/a; C0 80 is never valid UTF-8,
 * so the check after routing refuses it instead.  Malformed escapes
 * stay as they are.  Returns the new length.
 */
size_t
utf8_url_decode(char *s)
{
	size_t i = 0, j = 0;
	int hi, lo;

	while (s[i] != '\0') {
		if (s[i] == '%' && (hi = utf8_hex(s[i + 1])) >= 0 &&
		    (lo = utf8_hex(s[i + 2])) >= 0) {
			if (hi == 0 && lo == 0) {
				s[j++] = (char)0xC0;
				s[j++] = (char)0x80;
			} else
				s[j++] = (char)(hi << 4 | lo);
			i += 3;
		} else
			s[j++] = s[i++];
	}
	s[j] = '\0';
	return j;
}
