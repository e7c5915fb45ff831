/*
 * test_suppress.c - suppress.c: which SMTP failures are about the
 * address, the category syntax, and the unsubscribe token and headers
 * (round trip, tampering, another secret, hostile tokens).
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

#include "suppress.h"

static const char secret[] = "0123456789abcdef-secret";
#define SLEN (sizeof(secret) - 1)

static void
test_address_failure(void **state)
{
	(void)state;
	assert_true(suppress_address_failure(550, "550 5.1.1 No such user"));
	assert_true(suppress_address_failure(550, "550-5.1.1 No such user"));
	assert_true(suppress_address_failure(553, "553 5.1.3 Bad address syntax"));
	assert_true(suppress_address_failure(554, "554 5.1.10 Null MX"));
	assert_true(suppress_address_failure(550, "550 mailbox unavailable"));
	assert_true(suppress_address_failure(551, "551 User not local"));
	assert_true(suppress_address_failure(550, NULL));
	/* policy, spam, full mailbox, system: not the address */
	assert_false(suppress_address_failure(550, "550 5.7.1 Rejected by policy"));
	assert_false(suppress_address_failure(552, "552 5.2.2 Mailbox full"));
	assert_false(suppress_address_failure(554, "554 Transaction failed"));
	assert_false(suppress_address_failure(550, "550 5.11.1 odd subject"));
	/* temporary and none */
	assert_false(suppress_address_failure(450, "450 4.1.1 Try later"));
	assert_false(suppress_address_failure(451, "451 4.3.0 Local error"));
	assert_false(suppress_address_failure(0, "recipient not sendable"));
}

static void
test_category(void **state)
{
	char big[80];

	(void)state;
	assert_true(suppress_category_valid("marketing"));
	assert_true(suppress_category_valid("billing.v2_eu-1"));
	assert_false(suppress_category_valid(""));
	assert_false(suppress_category_valid("Marketing"));
	assert_false(suppress_category_valid("a b"));
	assert_false(suppress_category_valid("a\r\nb"));
	assert_false(suppress_category_valid("caf\xc3\xa9"));
	memset(big, 'a', 64);
	big[64] = '\0';
	assert_true(suppress_category_valid(big));
	big[64] = 'a';
	big[65] = '\0';
	assert_false(suppress_category_valid(big));
}

static void
test_token_round_trip(void **state)
{
	const char *uids[] = { "42", "user-\xc3\xa9", "a.b.c", "x", "ab",
	    "abc", "a@b.example" };
	char *t, *u, *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(uids) / sizeof(uids[0]); i++) {
		t = suppress_token(secret, SLEN, uids[i], "news.letter");
		assert_non_null(t);
		assert_int_equal(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
		    "klmnopqrstuvwxyz0123456789-_."), strlen(t));
		assert_int_equal(suppress_token_open(secret, SLEN, t, &u, &c), 0);
		assert_string_equal(u, uids[i]);
		assert_string_equal(c, "news.letter");
		free(u);
		free(c);
		free(t);
	}
}

/* Every one-character change, another category, another secret: -1. */
static void
test_token_tampered(void **state)
{
	char *t = suppress_token(secret, SLEN, "42", "marketing"), *u, *c, *x;
	const char *alpha = "AQgz09-_.";
	size_t i, k;

	(void)state;
	assert_non_null(t);
	for (i = 0; t[i] != '\0'; i++)
		for (k = 0; alpha[k] != '\0'; k++) {
			if (t[i] == alpha[k])
				continue;
			x = strdup(t);
			x[i] = alpha[k];
			assert_int_equal(suppress_token_open(secret, SLEN, x, &u,
			    &c), -1);
			assert_null(u);
			free(x);
		}
	assert_int_equal(suppress_token_open("another secret 123456", 21, t,
	    &u, &c), -1);
	x = strdup(t);
	memcpy(strrchr(x, '.') + 1, "billing\0", 8);
	assert_int_equal(suppress_token_open(secret, SLEN, x, &u, &c), -1);
	free(x);
	free(t);
}

static void
test_token_hostile(void **state)
{
	const char *bad[] = { "", ".", "..", "a.b.c", "NDI..marketing",
	    "NDI.%00.marketing", "NDI\r\n.x.marketing",
	    "AA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.marketing" };
	char *u, *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(suppress_token_open(secret, SLEN, bad[i], &u,
		    &c), -1);
}

static void
test_headers(void **state)
{
	char *h, big[1100];

	(void)state;
	assert_null(suppress_headers("https://n.example", secret, SLEN, "42",
	    NULL));
	assert_null(suppress_headers("", secret, SLEN, "42", "marketing"));
	assert_null(suppress_headers("https://n.example", secret, 0, "42",
	    "marketing"));
	h = suppress_headers("https://n.example/", secret, SLEN, "42",
	    "marketing");
	assert_non_null(h);
	assert_true(strncmp(h, "List-Unsubscribe: <https://n.example/"
	    "unsubscribe/NDI.", 53) == 0);
	assert_non_null(strstr(h, ".marketing>\r\nList-Unsubscribe-Post: "
	    "List-Unsubscribe=One-Click\r\n"));
	assert_string_equal(h + strlen(h) - 2, "\r\n");
	free(h);
	memset(big, 'u', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(suppress_headers("https://n.example", secret, SLEN, big,
	    "marketing"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_failure),
		cmocka_unit_test(test_category),
		cmocka_unit_test(test_token_round_trip),
		cmocka_unit_test(test_token_tampered),
		cmocka_unit_test(test_token_hostile),
		cmocka_unit_test(test_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
