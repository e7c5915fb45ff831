/*
 * test_ct_equal.c - util_ct_equal, the bearer token comparison: right
 * answers, and a time that does not depend on where the bytes differ.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util.h"

static bool
eq(const char *a, const char *b)
{
	return util_ct_equal(a, strlen(a), b, strlen(b));
}

static void
test_answers(void **state)
{
	(void)state;
	assert_true(eq("s3cret", "s3cret"));
	assert_true(eq("", ""));
	assert_false(eq("s3cret", "S3cret"));
	assert_false(eq("s3cret", "s3creT"));
	assert_false(eq("s3cre", "s3cret"));	/* a prefix is not a match */
	assert_false(eq("s3cret", "s3cre"));
	assert_false(eq("s3crets3cret", "s3cret")); /* nor a repetition */
	assert_false(eq("", "s3cret"));
	assert_false(eq("s3cret", ""));
	/* Bytes past a NUL count: lengths, not C strings. */
	assert_false(util_ct_equal("ab\0c", 4, "ab\0d", 4));
	assert_true(util_ct_equal("ab\0c", 4, "ab\0c", 4));
}

/* Best of several runs of n comparisons: the least disturbed one. */
static double
best_time(const char *a, const char *b, size_t len)
{
	struct timespec t0, t1;
	double best = 1e9, dt;
	int run, i;
	volatile bool sink = false;

	for (run = 0; run < 15; run++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 20; i++)
			sink ^= util_ct_equal(a, len, b, len);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		dt = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (dt < best)
			best = dt;
	}
	(void)sink;
	return best;
}

/*
 * A 1 MB secret that differs in its first byte takes as long as one
 * that differs in its last: an early exit (strncmp, memcmp) would be
 * thousands of times faster on the first.
 */
static void
test_time_does_not_depend_on_the_first_difference(void **state)
{
	const size_t len = 1 << 20;
	char *known = malloc(len), *first = malloc(len), *last = malloc(len);
	double t_first, t_last;

	(void)state;
	assert_non_null(known);
	assert_non_null(first);
	assert_non_null(last);
	memset(known, 'k', len);
	memcpy(first, known, len);
	memcpy(last, known, len);
	first[0] = 'x';
	last[len - 1] = 'x';
	t_first = best_time(first, known, len);
	t_last = best_time(last, known, len);
	print_message("first byte differs: %.6f s, last byte: %.6f s\n",
	    t_first, t_last);
	assert_true(t_first > 0.5 * t_last);
	free(known);
	free(first);
	free(last);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_time_does_not_depend_on_the_first_difference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
