/*
 * test_utf8.c - strict UTF-8, the escaped form, URL decoding.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define VALID(lit)	assert_true(utf8_valid(lit, sizeof(lit) - 1))
#define INVALID(lit)	assert_false(utf8_valid(lit, sizeof(lit) - 1))

static void
test_valid_text(void **state)
{
	VALID("");
	VALID("ORD-12345");
	VALID("\t\x7f");
	VALID("caf\xc3\xa9");			/* U+00E9 */
	VALID("\xc2\x80");			/* U+0080, smallest 2-byte */
	VALID("\xe0\xa0\x80");			/* U+0800, smallest 3-byte */
	VALID("\xe2\x82\xac");			/* U+20AC */
	VALID("\xed\x9f\xbf");			/* U+D7FF, below surrogates */
	VALID("\xee\x80\x80");			/* U+E000, above them */
	VALID("\xef\xbf\xbf");			/* U+FFFF */
	VALID("\xf0\x90\x80\x80");		/* U+10000 */
	VALID("\xf0\x9f\x98\x80");		/* U+1F600 */
	VALID("\xf4\x8f\xbf\xbf");		/* U+10FFFF */
}

static void
test_invalid_text(void **state)
{
	INVALID("\xff");
	INVALID("\xff\xfe");
	INVALID("\xfc");
	INVALID("\x80");			/* lone continuation */
	INVALID("a\xbf");
	INVALID("\xc0\xaf");			/* overlong '/' */
	INVALID("\xc0\x80");			/* overlong NUL */
	INVALID("\xc1\xbf");
	INVALID("\xe0\x80\xaf");		/* overlong, 3 bytes */
	INVALID("\xe0\x9f\xbf");
	INVALID("\xf0\x80\x80\xaf");		/* overlong, 4 bytes */
	INVALID("\xf0\x8f\xbf\xbf");
	INVALID("\xed\xa0\x80");		/* U+D800 */
	INVALID("\xed\xbf\xbf");		/* U+DFFF */
	INVALID("\xf4\x90\x80\x80");		/* U+110000 */
	INVALID("\xf5\x80\x80\x80");
	INVALID("\xf8\x88\x80\x80\x80");	/* 5-byte form */
	INVALID("\xe2\x82");			/* truncated */
	INVALID("ok\xc3");
	INVALID("\xc3\x28");
	INVALID("\xe2\x28\xa1");
	INVALID("\xf0\x9f\x98");
	INVALID("a\0b");			/* NUL inside */
	INVALID("\0");
	/* The length counts: the valid prefix alone passes. */
	assert_true(utf8_valid("ab\xff", 2));
}

/* The scalar value of a well-formed sequence of len bytes, or -1. */
static long
ref_decode(const unsigned char *b, int len)
{
	static const long min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	static const unsigned char lead[5] = { 0, 0x80, 0xE0, 0xF0, 0xF8 };
	long cp;
	int i;

	if (len == 1)
		return b[0] >= 1 && b[0] < 0x80 ? b[0] : -1;
	if ((b[0] & lead[len]) != (unsigned char)(lead[len] << 1))
		return -1;
	cp = b[0] & (0x7F >> len);
	for (i = 1; i < len; i++) {
		if ((b[i] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (b[i] & 0x3F);
	}
	if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	return cp;
}

/* Every 1-, 2- and 3-byte string agrees with a decoder written apart. */
static void
test_exhaustive(void **state)
{
	unsigned char b[4];
	long v, bad = 0;
	int len;

	for (v = 0; v < 1L << 24; v++) {
		b[0] = (unsigned char)(v >> 16);
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		for (len = 1; len <= 3; len++) {
			if (len < 3 && (v & ((1L << (8 * (3 - len))) - 1)) != 0)
				continue;	/* each shorter string once */
			if ((utf8_char((char *)b, (size_t)len) ==
			    (size_t)len) != (ref_decode(b, len) >= 0))
				bad++;
		}
	}
	assert_int_equal(bad, 0);
	for (v = 0; v < 1L << 24; v++) {	/* 4 bytes: the first three */
		b[0] = (unsigned char)(0xF0 + (v >> 16) % 8);
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		b[3] = (v >> 19) & 1 ? 0xBF : 0x80;
		if ((utf8_char((char *)b, 4) == 4) != (ref_decode(b, 4) >= 0))
			bad++;
	}
	assert_int_equal(bad, 0);
}

/* utf8_codepoint on what utf8_char accepted: one of each length. */
static void
test_codepoint(void **state)
{
	static const struct { const char *s; unsigned cp; } t[] = {
		{ "A", 0x41 }, { "\xc3\xa9", 0xe9 }, { "\xe2\x80\xa8", 0x2028 },
		{ "\xe2\x82\xac", 0x20ac }, { "\xf0\x9f\x98\x80", 0x1f600 },
		{ "\xf4\x8f\xbf\xbf", 0x10ffff },
	};
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = utf8_char(t[i].s, strlen(t[i].s));
		assert_int_equal(n, strlen(t[i].s));
		assert_int_equal(utf8_codepoint(t[i].s, n), t[i].cp);
	}
}

static void
test_escape(void **state)
{
	char out[64];

	assert_string_equal(utf8_escape("\xffx", 2, out, sizeof(out)),
	    "\\xFFx");
	assert_string_equal(utf8_escape("a\0b", 3, out, sizeof(out)),
	    "a\\x00b");
	assert_string_equal(utf8_escape("caf\xc3\xa9", 5, out, sizeof(out)),
	    "caf\xc3\xa9");
	assert_string_equal(utf8_escape("\xc0\xaf\n", 3, out, sizeof(out)),
	    "\\xC0\\xAF\\x0A");
	/* The NUL utf8_url_decode() kept as C0 80 is shown as the NUL. */
	assert_string_equal(utf8_escape("a\xc0\x80" "b\xc0", 5, out,
	    sizeof(out)), "a\\x00b\\xC0");
	/* Cut to fit, never inside a character or an escape. */
	assert_string_equal(utf8_escape("\xff\xff", 2, out, 6), "\\xFF");
	assert_string_equal(utf8_escape("ab\xe2\x82\xac", 5, out, 5), "ab");
	assert_string_equal(utf8_escape("abc", 3, out, 1), "");
}

static void
test_url_decode(void **state)
{
	char s[64];

	strcpy(s, "a%20b%2Fc%c3%A9");
	assert_int_equal(utf8_url_decode(s), 7);
	assert_string_equal(s, "a b/c\xc3\xa9");
	strcpy(s, "a%00b");		/* NUL stays visible, and invalid */
	assert_int_equal(utf8_url_decode(s), 4);
	assert_memory_equal(s, "a\xc0\x80" "b", 5);
	assert_false(utf8_valid(s, strlen(s)));
	strcpy(s, "%zz%4%%41+%");	/* malformed escapes stay */
	assert_int_equal(utf8_url_decode(s), 9);
	assert_string_equal(s, "%zz%4%A+%");
	strcpy(s, "%FF%fe");
	assert_int_equal(utf8_url_decode(s), 2);
	assert_string_equal(s, "\xff\xfe");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_text),
		cmocka_unit_test(test_invalid_text),
		cmocka_unit_test(test_exhaustive),
		cmocka_unit_test(test_codepoint),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_url_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
