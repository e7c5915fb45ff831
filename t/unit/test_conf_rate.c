/*
 * test_conf_rate.c - email.user_rate's "N/unit" parser.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conf.h"

static void
test_valid(void **state)
{
	int limit, window;

	(void)state;
	assert_int_equal(conf_rate_parse("20/hour", &limit, &window), 1);
	assert_int_equal(limit, 20);
	assert_int_equal(window, 3600);
	assert_int_equal(conf_rate_parse("1/second", &limit, &window), 1);
	assert_int_equal(window, 1);
	assert_int_equal(conf_rate_parse("5/minute", &limit, &window), 1);
	assert_int_equal(window, 60);
	assert_int_equal(conf_rate_parse("1000000/day", &limit, &window), 1);
	assert_int_equal(limit, 1000000);
	assert_int_equal(window, 86400);
	assert_int_equal(conf_rate_parse("007/hour", &limit, &window), 1);
	assert_int_equal(limit, 7);
}

static void
test_off(void **state)
{
	int limit = 9, window = 9;

	(void)state;
	assert_int_equal(conf_rate_parse("", &limit, &window), 0);
	assert_int_equal(limit, 0);
	assert_int_equal(window, 0);
}

static void
test_invalid(void **state)
{
	static const char *const bad[] = { "0/hour", "1000001/hour",
	    "99999999999/hour", "-1/hour", "+1/hour", "5", "5/", "/hour",
	    "5//hour", "5/hours", "5/Hour", " 5/hour", "5/hour ", "5 /hour",
	    "5/hour\n", "5/week", "1e3/hour", "0x10/hour", "abc", NULL };
	int i, limit, window;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		if (conf_rate_parse(bad[i], &limit, &window) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(limit, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
