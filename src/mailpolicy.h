/*
 * mailpolicy.h - what an SMTP attempt's result means for a notification,
 * and the cluster-wide send-rate reservation.  Pure: settings, clock and
 * random draw all arrive as arguments.
 */
#ifndef NOTIFYD_MAILPOLICY_H
#define NOTIFYD_MAILPOLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "smtp.h"

/* The email.retry.* and sweeper.* settings the verdict depends on. */
struct mailpolicy {
	int	 max_attempts;		/* attempts per worker round */
	double	 retry_initial;		/* seconds after the first failure */
	double	 retry_multiplier;
	double	 retry_max_delay;
	double	 retry_jitter;		/* +/- fraction of a retry delay */
	double	 requeue_base;		/* sweeper.interval */
	double	 requeue_max_delay;	/* sweeper.max_delay */
};

enum mailpolicy_verdict {
	MAILPOLICY_SENT,	/* final: the relay took it */
	MAILPOLICY_FAILED,	/* final here; the sweeper requeues unless permanent */
	MAILPOLICY_RETRY,	/* held by this worker, tried again after delay */
};

/* Which reply counter an attempt feeds. */
enum mailpolicy_reply {
	MAILPOLICY_2XX,
	MAILPOLICY_4XX,
	MAILPOLICY_5XX,
	MAILPOLICY_NETERR,
};

struct mailpolicy_decision {
	enum mailpolicy_verdict verdict;
	enum mailpolicy_reply reply;
	bool	 permanent;	/* a 5xx: never requeued */
	double	 delay;		/* RETRY: to the next attempt; FAILED: to the requeue */
};

void		 mailpolicy_judge(const struct mailpolicy *,
		    const struct smtp_result *, int round, int requeues,
		    double jitter_draw, struct mailpolicy_decision *);
const char	*mailpolicy_status(enum mailpolicy_verdict);
int64_t		 mailpolicy_rate_reserve(int64_t *next_us, double per_second,
		    int64_t now_us);

#endif
