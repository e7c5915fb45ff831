/*
 * test_mailpolicy.c - what an SMTP attempt means for a notification, and
 * the shared send-rate reservation, on an injected clock.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailpolicy.h"

/* email.retry.* and sweeper.* as the defaults ship them, no jitter. */
static const struct mailpolicy pol = {
	.max_attempts = 3,
	.retry_initial = 1,
	.retry_multiplier = 2,
	.retry_max_delay = 60,
	.retry_jitter = 0,
	.requeue_base = 10,
	.requeue_max_delay = 3600,
};

static struct smtp_result
res(enum smtp_outcome o, int code)
{
	struct smtp_result r;

	memset(&r, 0, sizeof(r));
	r.outcome = o;
	r.code = code;
	return r;
}

static void
test_sent(void **state)
{
	struct smtp_result r = res(SMTP_OK, 250);
	struct mailpolicy_decision d;

	mailpolicy_judge(&pol, &r, 1, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_SENT);
	assert_int_equal(d.reply, MAILPOLICY_2XX);
	assert_false(d.permanent);
	assert_true(d.delay == 0);
	assert_string_equal(mailpolicy_status(d.verdict), "SENT");
	/* a 250 on the last allowed attempt is still a success */
	mailpolicy_judge(&pol, &r, 3, 5, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_SENT);
}

/* A 5xx is final at once, whatever attempts are left: never retried. */
static void
test_permanent(void **state)
{
	struct smtp_result r = res(SMTP_PERM, 550);
	struct mailpolicy_decision d;

	mailpolicy_judge(&pol, &r, 1, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_FAILED);
	assert_int_equal(d.reply, MAILPOLICY_5XX);
	assert_true(d.permanent);
	assert_string_equal(mailpolicy_status(d.verdict), "FAILED");
	/* a refusal we make ourselves (no SMTPUTF8, unsendable) has no code */
	r = res(SMTP_PERM, 0);
	mailpolicy_judge(&pol, &r, 1, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_FAILED);
	assert_int_equal(d.reply, MAILPOLICY_5XX);
	assert_true(d.permanent);
}

/* A 4xx or a network error is retried here with a doubling delay. */
static void
test_temporary_retries(void **state)
{
	struct smtp_result r = res(SMTP_TEMP, 451);
	struct mailpolicy_decision d;

	mailpolicy_judge(&pol, &r, 1, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_RETRY);
	assert_int_equal(d.reply, MAILPOLICY_4XX);
	assert_false(d.permanent);
	assert_true(d.delay == 1);
	assert_string_equal(mailpolicy_status(d.verdict), "PROCESSING");
	mailpolicy_judge(&pol, &r, 2, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_RETRY);
	assert_true(d.delay == 2);

	r = res(SMTP_TEMP, 0);		/* connection refused, timeout, TLS */
	mailpolicy_judge(&pol, &r, 1, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_RETRY);
	assert_int_equal(d.reply, MAILPOLICY_NETERR);
}

/*
 * The max_attempts-th temporary failure ends this worker's round: the row
 * is FAILED but not permanent, and the sweeper requeues it after a delay
 * that doubles per requeue and is capped.
 */
static void
test_max_attempts(void **state)
{
	struct smtp_result r = res(SMTP_TEMP, 421);
	struct mailpolicy_decision d;

	mailpolicy_judge(&pol, &r, 3, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_FAILED);
	assert_int_equal(d.reply, MAILPOLICY_4XX);
	assert_false(d.permanent);
	assert_true(d.delay == 10);
	mailpolicy_judge(&pol, &r, 4, 3, 0.5, &d);	/* past it, too */
	assert_int_equal(d.verdict, MAILPOLICY_FAILED);
	assert_true(d.delay == 80);
	mailpolicy_judge(&pol, &r, 3, 40, 0.5, &d);	/* huge requeue count */
	assert_true(d.delay == 3600);

	/* max_attempts 1: the first temporary failure already hands over */
	{
		struct mailpolicy one = pol;

		one.max_attempts = 1;
		mailpolicy_judge(&one, &r, 1, 0, 0.5, &d);
		assert_int_equal(d.verdict, MAILPOLICY_FAILED);
		assert_false(d.permanent);
	}
}

/* The retry delay is capped, then spread by +/- jitter from the draw. */
static void
test_retry_delay_cap_and_jitter(void **state)
{
	struct smtp_result r = res(SMTP_TEMP, 450);
	struct mailpolicy big = pol, jit = pol;
	struct mailpolicy_decision d;

	big.max_attempts = 100;
	mailpolicy_judge(&big, &r, 30, 0, 0.5, &d);
	assert_int_equal(d.verdict, MAILPOLICY_RETRY);
	assert_true(d.delay == 60);

	jit.retry_jitter = 0.5;
	mailpolicy_judge(&jit, &r, 2, 0, 0.0, &d);	/* lowest draw */
	assert_true(d.delay == 1);
	mailpolicy_judge(&jit, &r, 2, 0, 1.0, &d);	/* highest draw */
	assert_true(d.delay == 3);
	mailpolicy_judge(&jit, &r, 2, 0, 0.5, &d);	/* the middle */
	assert_true(d.delay == 2);
}

/* Reservations are spaced 1/rate apart; no burst is saved while idle. */
static void
test_rate_reserve(void **state)
{
	int64_t next = 0, now = 1000000;

	/* 4 per second: 250 ms apart, the first at once */
	assert_true(mailpolicy_rate_reserve(&next, 4, now) == now);
	assert_true(mailpolicy_rate_reserve(&next, 4, now) == now + 250000);
	assert_true(mailpolicy_rate_reserve(&next, 4, now) == now + 500000);
	/* later, the queue still ahead of the clock goes on from it */
	assert_true(mailpolicy_rate_reserve(&next, 4, now + 100000) ==
	    now + 750000);
	/* long idle: the next send goes at once, and only one does */
	now += 10000000;
	assert_true(mailpolicy_rate_reserve(&next, 4, now) == now);
	assert_true(mailpolicy_rate_reserve(&next, 4, now) == now + 250000);
	/* a fractional rate: one per 2 s */
	next = 0;
	assert_true(mailpolicy_rate_reserve(&next, 0.5, 7) == 7);
	assert_true(mailpolicy_rate_reserve(&next, 0.5, 7) == 2000007);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sent),
		cmocka_unit_test(test_permanent),
		cmocka_unit_test(test_temporary_retries),
		cmocka_unit_test(test_max_attempts),
		cmocka_unit_test(test_retry_delay_cap_and_jitter),
		cmocka_unit_test(test_rate_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
