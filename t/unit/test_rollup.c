/*
 * test_rollup.c - summing delivery rollup rows (rollup.c): histograms,
 * percentiles, failure codes, and rows that cannot be read.
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollup.h"

static void
test_latency_sum_and_percentiles(void **state)
{
	struct rollup_bucket b;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(rollup_percentile(&b, 50), -1);
	assert_int_equal(rollup_add_latency(&b, "{}"), 0);
	assert_int_equal(rollup_percentile(&b, 99), -1);
	assert_int_equal(rollup_add_latency(&b, "{\"10\": 40, \"20\": 9}"), 0);
	assert_int_equal(rollup_add_latency(&b, "{\"10\": 10, \"127\": 1}"), 0);
	/* 60 values: 50 in 10, 9 in 20, 1 in 127; rank ceil(q * 60). */
	assert_int_equal(b.lat[10], 50);
	assert_int_equal(rollup_percentile(&b, 50), 10);
	assert_int_equal(rollup_percentile(&b, 83), 10);	/* 49.8 -> 50th */
	assert_int_equal(rollup_percentile(&b, 84), 20);	/* 50.4 -> 51st */
	assert_int_equal(rollup_percentile(&b, 98), 20);	/* 58.8 -> 59th */
	assert_int_equal(rollup_percentile(&b, 99), 127);	/* 59.4 -> 60th */
	assert_int_equal(rollup_percentile(&b, 100), 127);
	rollup_reset(&b);
	assert_int_equal(rollup_percentile(&b, 50), -1);
	rollup_free(&b);
}

static void
test_bucket_ms(void **state)
{
	int i;

	(void)state;
	assert_true(rollup_bucket_ms(0) == 0.5);
	/* bucket i >= 1 is [2^((i-1)/4), 2^(i/4)) ms; the middle is within
	 * 2^(1/8) of both ends. */
	for (i = 1; i < ROLLUP_LAT_BUCKETS; i++) {
		double lo = pow(2, (i - 1) / 4.0), hi = pow(2, i / 4.0);
		double m = rollup_bucket_ms(i);
		double mid = pow(2, (i - 0.5) / 4.0);

		assert_true(m > lo && m < hi);
		assert_true(fabs(m - mid) <= 0.0005);	/* to the microsecond */
		assert_true(mid / lo <= pow(2, 1 / 8.0) * 1.000001);
		assert_true(hi / mid <= pow(2, 1 / 8.0) * 1.000001);
	}
	assert_true(fabs(rollup_bucket_ms(40) - 939.012) < 0.001);
}

static void
test_codes(void **state)
{
	struct rollup_bucket b;

	(void)state;
	memset(&b, 0, sizeof(b));
	/* a fresh bucket has no array (UBSan: qsort of NULL was refused) */
	assert_int_equal(rollup_top_codes(&b, 5), 0);
	assert_int_equal(rollup_add_codes(&b, "{\"550\": 2, \"421\": 3}"), 0);
	assert_int_equal(rollup_add_codes(&b, "{\"550\": 2, \"other\": 1,"
	    " \"554\": 0, \"451\": 1}"), 0);
	assert_int_equal(rollup_top_codes(&b, 5), 4);	/* 554 has none */
	assert_string_equal(b.codes[0].code, "550");
	assert_int_equal(b.codes[0].n, 4);
	assert_string_equal(b.codes[1].code, "421");
	assert_string_equal(b.codes[2].code, "451");	/* ties by code */
	assert_string_equal(b.codes[3].code, "other");
	assert_int_equal(rollup_top_codes(&b, 2), 2);
	rollup_reset(&b);
	assert_int_equal(rollup_top_codes(&b, 5), 0);
	rollup_free(&b);
	rollup_free(&b);	/* twice: safe */
}

static void
test_unreadable_rows(void **state)
{
	static const char *const bad[] = { "", "[]", "{", "{\"x\": 1}",
	    "{\"-1\": 1}", "{\"128\": 1}", "{\"3\": -1}", "{\"3\": 1.5}",
	    "{\"3\": \"1\"}", "{\"\": 1}", "null", NULL };
	struct rollup_bucket b;
	int i;

	(void)state;
	memset(&b, 0, sizeof(b));
	for (i = 0; bad[i] != NULL; i++)
		if (rollup_add_latency(&b, bad[i]) != -1)
			fail_msg("latency %s accepted", bad[i]);
	assert_int_equal(rollup_add_codes(&b, "{\"550\": -2}"), -1);
	assert_int_equal(rollup_add_codes(&b, "{\"0123456789abcdef\": 1}"), -1);
	assert_int_equal(rollup_add_codes(&b, "[1]"), -1);
	rollup_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latency_sum_and_percentiles),
		cmocka_unit_test(test_bucket_ms),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_unreadable_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
