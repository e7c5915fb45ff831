/*
 * test_isotime.c - the audit API's strict ISO 8601 parser.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "isotime.h"

/* s parses and normalizes to want. */
static void
ok(const char *s, const char *want)
{
	char out[ISOTIME_LEN];

	if (isotime_parse(s, out, sizeof(out)) != 0)
		fail_msg("\"%s\" refused, want %s", s, want);
	assert_string_equal(out, want);
}

/* s is refused. */
static void
bad(const char *s)
{
	char out[ISOTIME_LEN];

	if (isotime_parse(s, out, sizeof(out)) != -1)
		fail_msg("\"%s\" accepted as %s", s, out);
}

static void
test_forms(void **state)
{
	ok("2025-04-05", "2025-04-05 00:00:00.000000+00:00");
	ok("2025-04-05T12:00:00Z", "2025-04-05 12:00:00.000000+00:00");
	ok("2025-04-05t12:00z", "2025-04-05 12:00:00.000000+00:00");
	ok("2025-04-05 12:34:56.5+02:00", "2025-04-05 12:34:56.500000+02:00");
	ok("2025-04-05T12:34:56,123456789-0530",
	    "2025-04-05 12:34:56.123456-05:30");
	/* a '+' that a query string decoded into a space */
	ok("2025-04-05T12:00:00 01:00", "2025-04-05 12:00:00.000000+01:00");
	ok("2024-02-29T23:59:59Z", "2024-02-29 23:59:59.000000+00:00");
	ok("2000-02-29", "2000-02-29 00:00:00.000000+00:00");
}

static void
test_calendar(void **state)
{
	bad("2025-02-29");
	bad("1900-02-29");
	bad("2025-04-31");
	bad("2025-00-10");
	bad("2025-13-10");
	bad("2025-04-00");
	bad("0000-01-01");
	bad("2025-04-05T24:00");
	bad("2025-04-05T23:60");
	bad("2025-04-05T23:59:60");
	bad("2025-04-05T12:00+16:00");
	bad("2025-04-05T12:00+01:60");
}

static void
test_syntax(void **state)
{
	bad("");
	bad("2025");
	bad("2025-4-05");
	bad("2025-04-05T");
	bad("2025-04-05T12");
	bad("2025-04-05T12:00:00.");
	bad("2025-04-05T12:00:00Zjunk");
	bad("2025-04-05T12:00+1");
	bad("2025-04-05T12:00+01:");
	bad("-2025-04-05");
	bad("2025-04-05T1a:00");
	bad("yesterday");
}

/* A buffer too small for the normalized form is an error, not a cut. */
static void
test_small_buffer(void **state)
{
	char out[20];

	memset(out, 'x', sizeof(out));
	assert_int_equal(isotime_parse("2025-04-05", out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
