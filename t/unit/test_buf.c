/*
 * test_buf.c - the growable buffer and the base64 encoder.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"

static void
test_empty(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(b.len, 0);
	buf_free(&b);
	assert_null(b.p);
	buf_free(&b);		/* twice is safe */
}

static void
test_grows(void **state)
{
	struct buf b = { 0 };
	char big[5000];
	int i;

	(void)state;
	memset(big, 'x', sizeof(big));
	buf_add(&b, "ab", 2);
	buf_addc(&b, '\0');	/* binary data: NUL is a byte like any */
	buf_add(&b, big, sizeof(big));
	buf_printf(&b, "%d-%s", 42, "z");
	assert_int_equal(b.len, 3 + sizeof(big) + 4);
	assert_memory_equal(b.p, "ab\0x", 4);
	assert_string_equal(buf_str(&b) + 3 + sizeof(big), "42-z");
	assert_true(b.cap > b.len);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%0100d", i);
	assert_int_equal(b.len, 3 + sizeof(big) + 4 + 100000);
	assert_false(b.oom);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_str(&b), "");
	buf_free(&b);
}

/* A direct write after buf_reserve, as the COPY encoder does. */
static void
test_reserve(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(buf_reserve(&b, 1000), 0);
	assert_true(b.cap > 1000);
	memset(b.p, 'y', 1000);
	b.len = 1000;
	assert_int_equal(buf_reserve(&b, 0), 0);
	assert_int_equal(strlen(buf_str(&b)), 1000);
	buf_free(&b);
}

/* An impossible size fails, sticks, and leaves the contents alone. */
static void
test_oom_sticks(void **state)
{
	struct buf b = { 0 };

	(void)state;
	buf_add(&b, "abc", 3);
	assert_int_equal(buf_reserve(&b, (size_t)-1 - 2), -1);
	assert_true(b.oom);
	buf_add(&b, "d", 1);
	assert_int_equal(b.len, 3);
	assert_null(buf_str(&b));
	buf_reset(&b);
	buf_add(&b, "e", 1);
	assert_string_equal(buf_str(&b), "e");
	buf_free(&b);
}

static void
check_b64(const char *in, size_t n, const char *want)
{
	char out[64];
	size_t len;

	len = base64_encode(in, n, out);
	assert_int_equal(len, BASE64_LEN(n));
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
}

/* RFC 4648 section 10, and bytes that are not text. */
static void
test_base64(void **state)
{
	(void)state;
	check_b64("", 0, "");
	check_b64("f", 1, "Zg==");
	check_b64("fo", 2, "Zm8=");
	check_b64("foo", 3, "Zm9v");
	check_b64("foob", 4, "Zm9vYg==");
	check_b64("fooba", 5, "Zm9vYmE=");
	check_b64("foobar", 6, "Zm9vYmFy");
	check_b64("\0\377\376", 3, "AP/+");
	check_b64("\373\377", 2, "+/8=");
	check_b64("\0", 1, "AA==");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_grows),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_oom_sticks),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
