/*
 * test_webhook_reply.c - what an endpoint's answer means (webhook_reply.c):
 * the verdict per status, Retry-After in both forms, the history excerpt.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "notif.h"
#include "utf8.h"
#include "webhook_reply.h"

static enum channel_verdict
verdict(int code)
{
	struct channel_attempt a;

	memset(&a, 0, sizeof(a));
	a.code = code;
	return webhook_reply_classify(&a);
}

static void
test_classify(void **state)
{
	(void)state;
	assert_int_equal(verdict(200), CHANNEL_SENT);
	assert_int_equal(verdict(204), CHANNEL_SENT);
	assert_int_equal(verdict(299), CHANNEL_SENT);
	assert_int_equal(verdict(0), CHANNEL_TEMPORARY);	/* no answer */
	assert_int_equal(verdict(429), CHANNEL_TEMPORARY);
	assert_int_equal(verdict(500), CHANNEL_TEMPORARY);
	assert_int_equal(verdict(503), CHANNEL_TEMPORARY);
	assert_int_equal(verdict(599), CHANNEL_TEMPORARY);
	assert_int_equal(verdict(410), CHANNEL_PERMANENT);
	assert_int_equal(verdict(400), CHANNEL_PERMANENT);
	assert_int_equal(verdict(404), CHANNEL_PERMANENT);
	assert_int_equal(verdict(407), CHANNEL_PERMANENT);
	assert_int_equal(verdict(408), CHANNEL_TEMPORARY);	/* ask again */
	assert_int_equal(verdict(425), CHANNEL_TEMPORARY);	/* too early */
	assert_int_equal(verdict(409), CHANNEL_PERMANENT);
	assert_int_equal(verdict(301), CHANNEL_PERMANENT);	/* no redirects */
	assert_int_equal(verdict(100), CHANNEL_PERMANENT);
	assert_int_equal(verdict(-1), CHANNEL_PERMANENT);	/* unsendable */
	assert_int_equal(verdict(600), CHANNEL_PERMANENT);
}

static void
test_retry_after(void **state)
{
	time_t now = 1764500000;	/* Sun, 30 Nov 2025 10:53:20 GMT */

	(void)state;
	assert_true(webhook_reply_retry_after("120", now) == 120);
	assert_true(webhook_reply_retry_after(" 7 \r\n", now) == 7);
	assert_true(webhook_reply_retry_after("0", now) == 0);
	assert_true(webhook_reply_retry_after("999999999999", now) ==
	    WEBHOOK_RETRY_AFTER_MAX);
	assert_true(webhook_reply_retry_after("90000", now) ==
	    WEBHOOK_RETRY_AFTER_MAX);
	assert_true(webhook_reply_retry_after("Sun, 30 Nov 2025 10:54:00 GMT",
	    now) == 40);
	/* a date in the past: now */
	assert_true(webhook_reply_retry_after("Sun, 30 Nov 2025 10:00:00 GMT",
	    now) == 0);
	assert_true(webhook_reply_retry_after(NULL, now) < 0);
	assert_true(webhook_reply_retry_after("", now) < 0);
	assert_true(webhook_reply_retry_after("soon", now) < 0);
	assert_true(webhook_reply_retry_after("-5", now) < 0);
	assert_true(webhook_reply_retry_after("1.5", now) < 0);
	assert_true(webhook_reply_retry_after("12345678901234567890123456789"
	    "01234567890123456789012345678901234567890", now) < 0);
}

static void
test_excerpt(void **state)
{
	static const char hostile[] = "\xff\xfe ok \x00 \r\n\xc3\xa9\xe2\x82";
	char big[4000], out[64];
	size_t n;

	(void)state;
	webhook_reply_excerpt(hostile, sizeof(hostile) - 1, out, sizeof(out));
	assert_true(utf8_valid(out, strlen(out)));
	assert_non_null(strstr(out, "\\xff"));
	assert_non_null(strstr(out, "\xc3\xa9"));
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\n'));
	/* capped, and never a cut sequence: 'é' * 2000 into 64 bytes */
	for (n = 0; n + 1 < sizeof(big); n += 2)
		memcpy(big + n, "\xc3\xa9", 2);
	webhook_reply_excerpt(big, n, out, sizeof(out));
	assert_true(strlen(out) < sizeof(out));
	assert_true(strlen(out) % 2 == 0 && utf8_valid(out, strlen(out)));
	webhook_reply_excerpt(NULL, 0, out, sizeof(out));
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_excerpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
