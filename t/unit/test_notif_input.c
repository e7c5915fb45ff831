/*
 * test_notif_input.c - what a client's body and Idempotency-Key may
 * hold: notif_parse, NUL in fields, integers beyond 64 bits, key bytes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notif.h"

#define GOOD "\"type\":\"EMAIL\",\"title\":\"Hi\",\"content\":\"<p>x</p>\"," \
	"\"recipient\":\"user@example.com\""
/* A member name too long to copy into notif_error (64 bytes). */
#define LONG "0123456789012345678901234567890123456789012345678901234567890123"

/* Parses and validates text; the status and field of the refusal. */
static int
check(const char *text, struct notif_error *e)
{
	struct notif_input in;
	json_t *j;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((j = notif_parse(text, strlen(text), e)) == NULL)
		return -1;
	rc = notif_validate(j, NULL, 1000, &in, e);
	json_decref(j);
	return rc;
}

static void
expect_field(const char *text, const char *field, const char *msg)
{
	struct notif_error e;

	assert_int_equal(check(text, &e), -1);
	assert_int_equal(e.status, 400);
	if (field == NULL)
		assert_null(e.field);
	else {
		assert_non_null(e.field);
		assert_string_equal(e.field, field);
	}
	if (strstr(e.msg, msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, msg);
}

static void
test_nul_names_the_field(void **state)
{
	static const char nul[] = "must not contain NUL";

	expect_field("{" GOOD ",\"userId\":\"a\\u0000\"}", "userId", nul);
	expect_field("{\"type\":\"EMAIL\",\"title\":\"a\\u0000b\","
	    "\"content\":\"x\",\"userId\":1,\"recipient\":\"a@b.c\"}",
	    "title", nul);
	expect_field("{\"content\":\"\\u0000\",\"type\":\"EMAIL\"}",
	    "content", nul);
	expect_field("{" GOOD ",\"userId\":1,\"metadata\":{\"a\":[1,"
	    "{\"b\":\"x\\u0000y\"}]}}", "metadata", nul);
	expect_field("{" GOOD ",\"userId\":1,\"extra\":[\"\\u0000\"]}",
	    "extra", nul);
	expect_field("{" GOOD ",\"userId\":1,\"" LONG "\":\"\\u0000\"}",
	    NULL, "a member must not contain NUL");
	/* A NUL in a key is still the parser's: no field to name. */
	expect_field("{" GOOD ",\"userId\":1,\"metadata\":{\"a\\u0000\":1}}",
	    NULL, "malformed JSON");
}

static void
test_big_integer_names_the_field(void **state)
{
	static const char big[] = "holds an integer beyond 64 bits";
	struct notif_error e;

	expect_field("{" GOOD ",\"userId\":123456789012345678901234567890}",
	    "userId", big);
	expect_field("{" GOOD ",\"userId\":-9223372036854775809}", "userId",
	    big);
	expect_field("{" GOOD ",\"userId\":1,\"metadata\":{\"n\":[1,"
	    "99999999999999999999]}}", "metadata", big);
	/* Any member is named; one too long to copy is not. */
	expect_field("{" GOOD ",\"userId\":1,\"caf\xc3\xa9\":"
	    "99999999999999999999}", "caf\xc3\xa9", big);
	expect_field("{" GOOD ",\"userId\":1,\"" LONG "\":"
	    "99999999999999999999}", NULL, "a member holds an integer");
	/* Other parse errors stay as they were. */
	expect_field("{" GOOD ",\"userId\":1e400}", NULL, "malformed JSON");
	expect_field("{" GOOD ",\"userId\":1", NULL, "malformed JSON");
	expect_field("[99999999999999999999]", NULL, "malformed JSON");
	/* The 64-bit bounds themselves are fine. */
	assert_int_equal(check("{" GOOD ",\"userId\":9223372036854775807}",
	    &e), 0);
	assert_int_equal(check("{" GOOD ",\"userId\":-9223372036854775808,"
	    "\"metadata\":{\"r\":9.2e18}}", &e), 0);
	/* A real of 2^63 or more: jsonb would give it back as an integer
	 * jansson cannot read (test_review17.py). */
	expect_field("{" GOOD ",\"metadata\":{\"r\":[1e300]}}", "metadata",
	    "holds a number beyond 64-bit integers");
	expect_field("{" GOOD ",\"metadata\":{\"r\":-1e19}}", "metadata",
	    "holds a number beyond 64-bit integers");
}

static void
test_idempotency_key(void **state)
{
	char k[300];

	assert_true(notif_key_valid("order-123"));
	assert_true(notif_key_valid("!"));
	assert_true(notif_key_valid("~a/b:c=d?e#f\"g\\h"));
	assert_false(notif_key_valid(""));
	assert_false(notif_key_valid("a\nb"));
	assert_false(notif_key_valid("a\tb"));
	assert_false(notif_key_valid("a\x7f"));
	assert_false(notif_key_valid("a b"));
	assert_false(notif_key_valid("\xfc"));
	assert_false(notif_key_valid("caf\xc3\xa9"));
	memset(k, 'k', sizeof(k));
	k[255] = '\0';
	assert_true(notif_key_valid(k));
	k[255] = 'k';
	k[256] = '\0';
	assert_false(notif_key_valid(k));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nul_names_the_field),
		cmocka_unit_test(test_big_integer_names_the_field),
		cmocka_unit_test(test_idempotency_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
