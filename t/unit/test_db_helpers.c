/*
 * test_db_helpers.c - the PostgreSQL array literal (the one used for
 * every unnest($n::...[]) parameter) and the reconnecting link.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"

static void
test_empty(void **state)
{
	struct db_arr a = { 0 };

	(void)state;
	assert_string_equal(db_arr_end(&a), "{}");
	db_arr_free(&a);
}

static void
test_numbers(void **state)
{
	struct db_arr a = { 0 }, f = { 0 };

	(void)state;
	db_arr_int(&a, 1);
	db_arr_int(&a, -9223372036854775807LL - 1);
	db_arr_int(&a, 0);
	assert_string_equal(db_arr_end(&a), "{1,-9223372036854775808,0}");
	db_arr_float(&f, 0.25);
	db_arr_float(&f, 30);
	assert_string_equal(db_arr_end(&f), "{0.250000,30.000000}");
	db_arr_free(&a);
	db_arr_free(&f);
}

/* Quotes and backslashes escaped; NULL bare; the rest as it is. */
static void
test_text_quoting(void **state)
{
	struct db_arr a = { 0 };

	(void)state;
	db_arr_text(&a, "plain");
	db_arr_text(&a, "");
	db_arr_text(&a, NULL);
	db_arr_text(&a, "NULL");
	db_arr_text(&a, "a\"b\\c");
	db_arr_text(&a, "{x,y}");
	db_arr_text(&a, " sp ");
	db_arr_text(&a, "\\\\\"\"");
	assert_string_equal(db_arr_end(&a), "{\"plain\",\"\",NULL,\"NULL\","
	    "\"a\\\"b\\\\c\",\"{x,y}\",\" sp \",\"\\\\\\\\\\\"\\\"\"}");
	db_arr_free(&a);
}

/* Bytes are not judged here: invalid UTF-8 passes through unchanged. */
static void
test_text_bytes(void **state)
{
	struct db_arr a = { 0 };

	(void)state;
	db_arr_text(&a, "\xff\xfe");
	db_arr_text(&a, "caf\xc3\xa9");
	assert_string_equal(db_arr_end(&a), "{\"\xff\xfe\",\"caf\xc3\xa9\"}");
	db_arr_free(&a);
}

/* Many elements: the buffer grows and nothing is lost. */
static void
test_many(void **state)
{
	struct db_arr a = { 0 };
	const char *s;
	int i;

	(void)state;
	for (i = 0; i < 10000; i++)
		db_arr_int(&a, i);
	s = db_arr_end(&a);
	assert_non_null(s);
	assert_int_equal(strncmp(s, "{0,1,2,", 7), 0);
	assert_string_equal(s + strlen(s) - 6, ",9999}");
	db_arr_free(&a);
	assert_int_equal(a.n, 0);
}

/* A database that is not there: failures back off, then wait. */
static void
test_link_backoff(void **state)
{
	struct db_link l = { 0 };
	char err[DB_ERRLEN];

	(void)state;
	l.conninfo = "host=/nonexistent/notifyd-test port=1 connect_timeout=1";
	l.backoff.first = 30;
	l.backoff.max = 60;
	assert_int_equal(db_link_check(&l, err, sizeof(err)), DB_LINK_FAILED);
	assert_null(l.conn);
	assert_true(l.down);
	assert_true(l.delay == 30);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(db_link_check(&l, err, sizeof(err)), DB_LINK_WAITING);
	assert_non_null(strstr(err, "reconnecting in"));
	l.retry_at = 0;		/* as if the wait were over */
	assert_int_equal(db_link_check(&l, err, sizeof(err)), DB_LINK_FAILED);
	assert_true(l.delay == 60);
	db_link_close(&l);
	db_link_close(&l);	/* twice is safe */
}

/* first = 0: every call may try (the caller paces). */
static void
test_link_no_backoff(void **state)
{
	struct db_link l = { 0 };
	char err[DB_ERRLEN];

	(void)state;
	l.conninfo = "host=/nonexistent/notifyd-test port=1";
	assert_int_equal(db_link_check(&l, err, sizeof(err)), DB_LINK_FAILED);
	assert_int_equal(db_link_check(&l, err, sizeof(err)), DB_LINK_FAILED);
	assert_true(l.delay == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_text_quoting),
		cmocka_unit_test(test_text_bytes),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_link_backoff),
		cmocka_unit_test(test_link_no_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
