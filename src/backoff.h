/*
 * backoff.h - capped doubling delay with optional jitter, for every
 * "try again later" (child restarts, database reconnects, retried
 * writes).  Pure: the clock stays with the caller.
 */
#ifndef NOTIFYD_BACKOFF_H
#define NOTIFYD_BACKOFF_H

struct backoff {
	double	 first;		/* s, the first delay */
	double	 max;		/* s, the cap */
	double	 jitter;	/* 0..1: spread each delay by +/- this fraction */
	double	 cur;		/* s, the last delay; 0 when reset */
};

/* first, then doubling up to max; rnd in [0, 1] (NULL: random()). */
double	 backoff_next(struct backoff *, double (*rnd)(void));
void	 backoff_reset(struct backoff *);

#endif
