/*
 * backoff.c - the one capped doubling backoff.  The jitter's random
 * source is a parameter so the unit test can pin it.
 */
#include <stdlib.h>

#include "backoff.h"

static double
backoff_random(void)
{
	return (double)random() / (double)RAND_MAX;
}

/* The next delay: first, then twice the last, never above max. */
double
backoff_next(struct backoff *b, double (*rnd)(void))
{
	double r;

	if (b->cur == 0)
		b->cur = b->first;
	else
		b->cur = b->cur * 2 > b->max ? b->max : b->cur * 2;
	if (b->jitter == 0)
		return b->cur;
	r = (rnd != NULL ? rnd : backoff_random)();
	return b->cur * (1.0 + b->jitter * (2.0 * r - 1.0));
}

void
backoff_reset(struct backoff *b)
{
	b->cur = 0;
}
