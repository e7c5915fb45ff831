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

/* Captures that would overflow buf fail the match, never write past. */
static void
test_small_buffer(void **state)
{
	const char *arg[2] = { NULL, NULL };
	char buf[8];

	memset(buf, 0, sizeof(buf));
	assert_true(route_match("/o/{}", "/o/abcdefg", arg, 2, buf, 8));
	assert_string_equal(arg[0], "abcdefg");
	assert_false(route_match("/o/{}", "/o/abcdefgh", arg, 2, buf, 8));
	assert_false(route_match("/o/{}/{}", "/o/abcd/efg", arg, 2, buf, 8));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_captures),
		cmocka_unit_test(test_capture_rules),
		cmocka_unit_test(test_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
