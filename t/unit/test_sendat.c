/*
 * test_sendat.c - sendAt: epoch seconds and strict RFC 3339, the
 * now / later / too far decision, the text PostgreSQL reads.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sendat.h"

/* s parses as an RFC 3339 date-time to want microseconds. */
static void
ok(const char *s, int64_t want)
{
	int64_t us = -1;

	if (sendat_rfc3339(s, &us) != SENDAT_OK)
		fail_msg("\"%s\" refused", s);
	if (us != want)
		fail_msg("\"%s\": %lld, want %lld", s, (long long)us,
		    (long long)want);
}

static void
bad(const char *s)
{
	int64_t us;

	if (sendat_rfc3339(s, &us) != SENDAT_SYNTAX)
		fail_msg("\"%s\" accepted", s);
}

static void
test_rfc3339_values(void **state)
{
	(void)state;
	ok("1970-01-01T00:00:00Z", 0);
	ok("2026-11-30T08:00:00Z", 1796025600LL * 1000000);
	ok("2026-11-30t08:00:00z", 1796025600LL * 1000000);
	ok("2026-11-30T09:00:00+01:00", 1796025600LL * 1000000);
	ok("2026-11-30T03:30:00-04:30", 1796025600LL * 1000000);
	ok("2026-11-30T08:00:00.25Z", 1796025600LL * 1000000 + 250000);
	ok("2026-11-30T08:00:00.1234567Z", 1796025600LL * 1000000 + 123456);
	ok("2024-02-29T12:00:00Z", 1709208000LL * 1000000);
	ok("2000-03-01T00:00:00Z", 951868800LL * 1000000);
	ok("1969-12-31T23:59:59Z", -1000000);
	ok("9999-12-31T23:59:59Z", SENDAT_MAX_EPOCH * 1000000);
}

static void
test_rfc3339_strict(void **state)
{
	(void)state;
	bad("");
	bad("2026-11-30");			/* a date alone */
	bad("2026-11-30T08:00Z");		/* no seconds */
	bad("2026-11-30T08:00:00");		/* no zone */
	bad("2026-11-30 08:00:00Z");		/* a space for T */
	bad("2026-11-30T08:00:00,5Z");		/* a comma */
	bad("2026-11-30T08:00:00.Z");		/* an empty fraction */
	bad("2026-11-30T08:00:00+0100");	/* no colon in the offset */
	bad("2026-11-30T08:00:00+01");
	bad("2026-11-30T08:00:00 01:00");	/* a decoded '+' */
	bad("2026-11-30T08:00:00Zjunk");
	bad("2026-11-30T08:00:00Z\n");
	bad("2026-02-29T08:00:00Z");		/* not a leap year */
	bad("2026-11-31T08:00:00Z");
	bad("2026-11-30T24:00:00Z");
	bad("2026-11-30T08:60:00Z");
	bad("2026-11-30T08:00:60Z");		/* no leap seconds */
	bad("0000-01-01T00:00:00Z");
	bad("+2026-11-30T08:00:00Z");
	bad("tomorrow");
	bad("1796025600");			/* epoch as a string */
}

/* v (JSON text) is refused with rc. */
static void
bad_json(const char *text, int rc)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	int64_t us;

	assert_non_null(v);
	if (sendat_parse(v, &us) != rc)
		fail_msg("%s: not refused with %d", text, rc);
	json_decref(v);
}

static void
test_json_types(void **state)
{
	json_t *v;
	int64_t us;

	(void)state;
	v = json_integer(1796025600);
	assert_int_equal(sendat_parse(v, &us), SENDAT_OK);
	assert_true(us == 1796025600LL * 1000000);
	json_decref(v);
	v = json_string("2026-11-30T08:00:00Z");
	assert_int_equal(sendat_parse(v, &us), SENDAT_OK);
	assert_true(us == 1796025600LL * 1000000);
	json_decref(v);
	v = json_integer(SENDAT_MAX_EPOCH);
	assert_int_equal(sendat_parse(v, &us), SENDAT_OK);
	json_decref(v);
	bad_json("253402300800", SENDAT_RANGE);
	bad_json("9223372036854775807", SENDAT_RANGE);
	bad_json("-1", SENDAT_RANGE);
	bad_json("1796025600.5", SENDAT_TYPE);
	bad_json("1e300", SENDAT_TYPE);
	bad_json("true", SENDAT_TYPE);
	bad_json("[1796025600]", SENDAT_TYPE);
	bad_json("{\"at\": 1}", SENDAT_TYPE);
	bad_json("\"soon\"", SENDAT_SYNTAX);
	assert_non_null(strstr(sendat_error(SENDAT_TYPE), "RFC 3339"));
	assert_non_null(strstr(sendat_error(SENDAT_RANGE), "253402300799"));
}

static void
test_plan(void **state)
{
	const int64_t now = 1796025600LL * 1000000;

	(void)state;
	assert_int_equal(sendat_plan(now - 1, now, 3600), SENDAT_NOW);
	assert_int_equal(sendat_plan(now, now, 3600), SENDAT_NOW);
	assert_int_equal(sendat_plan(now + 1, now, 3600), SENDAT_LATER);
	assert_int_equal(sendat_plan(now + 3600LL * 1000000, now, 3600),
	    SENDAT_LATER);
	assert_int_equal(sendat_plan(now + 3600LL * 1000000 + 1, now, 3600),
	    SENDAT_TOO_FAR);
	assert_int_equal(sendat_plan(SENDAT_MAX_EPOCH * 1000000, now,
	    30 * 86400), SENDAT_TOO_FAR);
}

static void
test_format(void **state)
{
	char out[SENDAT_LEN];

	(void)state;
	assert_int_equal(sendat_format(1796025600LL * 1000000 + 250000, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "2026-11-30 08:00:00.250000+00");
	assert_int_equal(sendat_format(-1, out, sizeof(out)), 0);
	assert_string_equal(out, "1969-12-31 23:59:59.999999+00");
	assert_int_equal(sendat_format(SENDAT_MAX_EPOCH * 1000000, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "9999-12-31 23:59:59.000000+00");
	assert_int_equal(sendat_format(0, out, 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_values),
		cmocka_unit_test(test_rfc3339_strict),
		cmocka_unit_test(test_json_types),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
