/*
 * test_route.c - route patterns against request paths.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static void
test_literal(void **state)
{
	const char *arg[2] = { NULL, NULL };
	char buf[64];

	assert_true(route_match("/health", "/health", arg, 2, buf,
	    sizeof(buf)));
	assert_false(route_match("/health", "/healthz", arg, 2, buf,
	    sizeof(buf)));
	assert_false(route_match("/health", "/healt", arg, 2, buf,
	    sizeof(buf)));
	assert_false(route_match("/health", "/health/", arg, 2, buf,
	    sizeof(buf)));
	assert_false(route_match("/health", "", arg, 2, buf, sizeof(buf)));
	assert_null(arg[0]);
}

static void
test_captures(void **state)
{
	const char *arg[2] = { NULL, NULL };
	char buf[64];

	assert_true(route_match("/order/{}/latest", "/order/o-1/latest", arg,
	    2, buf, sizeof(buf)));
	assert_string_equal(arg[0], "o-1");
	assert_true(route_match("/a/{}/b/{}", "/a/x/b/yy", arg, 2, buf,
	    sizeof(buf)));
	assert_string_equal(arg[0], "x");
	assert_string_equal(arg[1], "yy");
}

static void
test_capture_rules(void **state)
{
	const char *arg[2] = { NULL, NULL };
	char buf[64];

	/* an empty segment is no segment */
	assert_false(route_match("/order/{}", "/order/", arg, 2, buf,
	    sizeof(buf)));
	assert_false(route_match("/order/{}/latest", "/order//latest", arg, 2,
	    buf, sizeof(buf)));
	/* a segment never spans a '/' */
	assert_false(route_match("/order/{}", "/order/a/b", arg, 2, buf,
	    sizeof(buf)));
	/* more captures than the caller has room for */
	assert_false(route_match("/{}/{}/{}", "/a/b/c", arg, 2, buf,
	    sizeof(buf)));
}

/*
 * A path that fits but whose captures would overflow buf is ROUTE_LONG
 * (the caller's 414), never a write past buf, never ROUTE_NONE (a 404
 * for a path that names a route); the first NULL arg is the long one.
 */
static void
test_small_buffer(void **state)
{
	const char *arg[2] = { NULL, NULL };
	char buf[8];

	memset(buf, 0, sizeof(buf));
	assert_int_equal(route_match("/o/{}", "/o/abcdefg", arg, 2, buf, 8),
	    ROUTE_MATCH);
	assert_string_equal(arg[0], "abcdefg");
	arg[0] = NULL;
	assert_int_equal(route_match("/o/{}", "/o/abcdefgh", arg, 2, buf, 8),
	    ROUTE_LONG);
	assert_null(arg[0]);
	assert_int_equal(route_match("/o/{}/{}", "/o/abcd/efg", arg, 2, buf,
	    8), ROUTE_LONG);
	assert_string_equal(arg[0], "abcd");
	assert_null(arg[1]);
	/* once one did not fit, a later one that would is not copied */
	arg[0] = NULL;
	assert_int_equal(route_match("/o/{}/{}", "/o/abcdefghij/e", arg, 2,
	    buf, 8), ROUTE_LONG);
	assert_null(arg[0]);
	assert_null(arg[1]);
	/* too long but no fit: ROUTE_NONE, the 404 */
	assert_int_equal(route_match("/o/{}/x", "/o/abcdefghij/y", arg, 2,
	    buf, 8), ROUTE_NONE);
	assert_int_equal(route_match("/o/{}", "/o/abcdefghij/y", arg, 2,
	    buf, 8), ROUTE_NONE);
	assert_int_equal(route_match("/p/{}", "/o/abcdefghij", arg, 2,
	    buf, 8), ROUTE_NONE);
}

/* The 600-byte id against http.c's 512-byte buffer: long, not absent. */
static void
test_long_segment(void **state)
{
	const char *arg[2] = { NULL, NULL };
	char url[700], buf[512];

	memcpy(url, "/n/", 3);
	memset(url + 3, '7', 600);
	url[603] = '\0';
	assert_int_equal(route_match("/n/{}", url, arg, 2, buf, sizeof(buf)),
	    ROUTE_LONG);
	assert_null(arg[0]);
	url[3 + 511] = '\0';	/* 511 bytes and its NUL: fits */
	assert_int_equal(route_match("/n/{}", url, arg, 2, buf, sizeof(buf)),
	    ROUTE_MATCH);
	assert_int_equal(strlen(arg[0]), 511);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_captures),
		cmocka_unit_test(test_capture_rules),
		cmocka_unit_test(test_small_buffer),
		cmocka_unit_test(test_long_segment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
