/*
 * test_db_class.c - what a SQLSTATE means to the API (db_classify).
 *
 * Only DB_UNAVAILABLE is the database being out (503, counted in
 * notifyd_database_errors_total); DB_BUSY is overload (503, counted
 * apart); DB_DATA is the client's data (422); the rest is ours (500).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"

static void
test_connection_class_is_unavailable(void **state)
{
	static const char *const codes[] = {
		"08000", "08001", "08003", "08006", "08P01",	/* class 08 */
		"57P01", "57P02", "57P03",	/* shutdown, crash, starting */
		"53300",			/* too many connections */
		"3D000", "28P01", "28000",	/* no database, auth */
		"25006",			/* read-only: a standby */
		NULL };
	int i;

	for (i = 0; codes[i] != NULL; i++)
		assert_int_equal(db_classify(codes[i]), DB_UNAVAILABLE);
}

static void
test_timeouts_and_contention_are_busy(void **state)
{
	assert_int_equal(db_classify("57014"), DB_BUSY);	/* statement_timeout */
	assert_int_equal(db_classify("55P03"), DB_BUSY);	/* lock_timeout */
	assert_int_equal(db_classify("40001"), DB_BUSY);	/* serialization */
	assert_int_equal(db_classify("40P01"), DB_BUSY);	/* deadlock */
	assert_int_equal(db_classify("53200"), DB_BUSY);	/* out of memory */
	assert_int_equal(db_classify("53100"), DB_BUSY);	/* disk full */
}

static void
test_data_refusals_are_data(void **state)
{
	static const char *const codes[] = {
		"22021",	/* invalid byte sequence for encoding */
		"22P02",	/* invalid text representation */
		"22001",	/* string too long */
		"23505",	/* unique violation */
		"23514",	/* check violation */
		"23502",	/* not null violation */
		"54000",	/* index row too large */
		NULL };
	int i;

	for (i = 0; codes[i] != NULL; i++)
		assert_int_equal(db_classify(codes[i]), DB_DATA);
}

static void
test_the_rest_is_internal(void **state)
{
	static const char *const codes[] = {
		"42601", "42P01", "42703",	/* our SQL, a missing table */
		"P0001",			/* RAISE in a trigger */
		"XX000", "XX001", "58030",	/* the server's own trouble */
		"0A000", "25P02", "55000", "26000",
		NULL };
	int i;

	for (i = 0; codes[i] != NULL; i++)
		assert_int_equal(db_classify(codes[i]), DB_INTERNAL);
}

static void
test_malformed_states(void **state)
{
	assert_int_equal(db_classify(NULL), DB_INTERNAL);
	assert_int_equal(db_classify(""), DB_INTERNAL);
	assert_int_equal(db_classify("08"), DB_INTERNAL);	/* not 5 chars */
	assert_int_equal(db_classify("080061"), DB_INTERNAL);
	assert_int_equal(db_classify("00000"), DB_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connection_class_is_unavailable),
		cmocka_unit_test(test_timeouts_and_contention_are_busy),
		cmocka_unit_test(test_data_refusals_are_data),
		cmocka_unit_test(test_the_rest_is_internal),
		cmocka_unit_test(test_malformed_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
