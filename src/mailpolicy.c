/*
 * mailpolicy.c - the mailer's decisions, kept apart from its I/O.
 *
 * What a send's result means for the row (sent, failed for this round,
 * retry here after a delay), and when the next send may go under
 * email.rate_limit.  No I/O, no configuration global, no clock, no
 * random source: the mailer passes them in, the unit tests too.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>

#include "mailpolicy.h"
#include "notif.h"

static enum mailpolicy_reply
mailpolicy_reply_class(const struct smtp_result *r)
{
	if (r->outcome == SMTP_OK)
		return MAILPOLICY_2XX;
	if (r->outcome == SMTP_PERM)
		return MAILPOLICY_5XX;
	return r->code >= 400 ? MAILPOLICY_4XX : MAILPOLICY_NETERR;
}

/*
 * Decides what an attempt's result means.  round counts this worker's
 * attempts at the row including this one; jitter_draw is uniform in
 * [0, 1] and spreads the retry delay by +/- retry_jitter, so the
 * retries of many workers do not align.
 */
void
mailpolicy_judge(const struct mailpolicy *p, const struct smtp_result *r,
    int round, int requeues, double jitter_draw,
    struct mailpolicy_decision *d)
{
	d->reply = mailpolicy_reply_class(r);
	d->permanent = false;
	d->delay = 0;
	if (r->outcome == SMTP_OK) {
		d->verdict = MAILPOLICY_SENT;
		return;
	}
	if (r->outcome == SMTP_PERM || round >= p->max_attempts) {
		d->verdict = MAILPOLICY_FAILED;
		d->permanent = r->outcome == SMTP_PERM;
		d->delay = notif_requeue_delay(requeues, p->requeue_base,
		    p->requeue_max_delay);
		return;
	}
	d->verdict = MAILPOLICY_RETRY;
	d->delay = notif_backoff(round, p->retry_initial, p->retry_multiplier,
	    p->retry_max_delay);
	d->delay *= 1.0 + p->retry_jitter * (2.0 * jitter_draw - 1.0);
}

/* The row's status for a verdict. */
const char *
mailpolicy_status(enum mailpolicy_verdict v)
{
	switch (v) {
	case MAILPOLICY_SENT:
		return "SENT";
	case MAILPOLICY_FAILED:
		return "FAILED";
	case MAILPOLICY_RETRY:
		break;
	}
	return "PROCESSING";
}

/*
 * Reserves one send in a token bucket of one token (no burst credit is
 * saved up while idle) and returns when it may happen, in microseconds
 * on the caller's clock.  *next_us is the bucket's "next free time": a
 * CAS loop lets every worker of every process share it (it lives in the
 * stats page), so N workers together never exceed the rate.
 */
int64_t
mailpolicy_rate_reserve(int64_t *next_us, double per_second, int64_t now_us)
{
	int64_t step = (int64_t)(1e6 / per_second), cur, next, at;

	cur = __atomic_load_n(next_us, __ATOMIC_RELAXED);
	do {
		at = cur > now_us ? cur : now_us;
		next = at + step;
	} while (!__atomic_compare_exchange_n(next_us, &cur, next, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return at;
}
