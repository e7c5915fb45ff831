/*
 * test_backoff.c - the capped doubling backoff and its jitter.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static double test_r;

static double
test_rnd(void)
{
	return test_r;
}

static void
test_doubling_capped(void **state)
{
	struct backoff b = { 0.5, 10, 0, 0 };

	(void)state;
	assert_true(backoff_next(&b, NULL) == 0.5);
	assert_true(backoff_next(&b, NULL) == 1);
	assert_true(backoff_next(&b, NULL) == 2);
	assert_true(backoff_next(&b, NULL) == 4);
	assert_true(backoff_next(&b, NULL) == 8);
	assert_true(backoff_next(&b, NULL) == 10);
	assert_true(backoff_next(&b, NULL) == 10);
	backoff_reset(&b);
	assert_true(backoff_next(&b, NULL) == 0.5);
}

/* A cap below twice the first: the second delay is the cap. */
static void
test_cap_not_power(void **state)
{
	struct backoff b = { 0.2, 0.3, 0, 0 };

	(void)state;
	assert_true(backoff_next(&b, NULL) == 0.2);
	assert_true(backoff_next(&b, NULL) == 0.3);
	assert_true(backoff_next(&b, NULL) == 0.3);
}

/* Jitter spreads the delay, not the state: the doubling stays exact. */
static void
test_jitter(void **state)
{
	struct backoff b = { 1, 8, 0.25, 0 };

	(void)state;
	test_r = 0;
	assert_true(backoff_next(&b, test_rnd) == 0.75);
	test_r = 1;
	assert_true(backoff_next(&b, test_rnd) == 2.5);
	test_r = 0.5;
	assert_true(backoff_next(&b, test_rnd) == 4);
	assert_true(b.cur == 4);
	test_r = 1;
	backoff_next(&b, test_rnd);
	assert_true(backoff_next(&b, test_rnd) == 10);
	assert_true(b.cur == 8);
}

/* The default random source keeps within the spread. */
static void
test_jitter_default(void **state)
{
	struct backoff b = { 2, 2, 0.5, 0 };
	double d;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		d = backoff_next(&b, NULL);
		assert_true(d >= 1 && d <= 3);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling_capped),
		cmocka_unit_test(test_cap_not_power),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_jitter_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
