/*
 * stats.h - the shared stats page.
 *
 * One anonymous MAP_SHARED mapping made by the master before any fork:
 * a slot per child (role, pid, generation, state, counters) and a few
 * cluster-wide fields (the shared send-rate bucket).  Children write
 * only their own slot, with relaxed atomics; /metrics sums the slots.
 */
#ifndef NOTIFYD_STATS_H
#define NOTIFYD_STATS_H

#include <stdint.h>
#include <sys/types.h>

#include "role.h"

#define STATS_SLOTS	256

enum stats_state {
	SLOT_FREE = 0,
	SLOT_STARTING,
	SLOT_READY,
	SLOT_STOPPING,
};

/* Counters every process may bump; /metrics names them. */
enum stats_ctr {
	CTR_HTTP_REQUESTS,
	CTR_HTTP_2XX,
	CTR_HTTP_4XX,
	CTR_HTTP_5XX,
	CTR_NOTIF_ACCEPTED,
	CTR_NOTIF_INSERTS,
	CTR_NOTIF_QUEUED,
	CTR_NOTIF_SENT,
	CTR_NOTIF_FAILED,
	CTR_NOTIF_RETRIED,
	CTR_NOTIF_REQUEUED,
	CTR_SMTP_2XX,
	CTR_SMTP_4XX,
	CTR_SMTP_5XX,
	CTR_SMTP_NETERR,
	CTR_RATE_WAITS,
	CTR_AUDIT_RECORDED,
	CTR_AUDIT_BATCHES,
	CTR_DB_ERRORS,
	CTR_DB_TIMEOUTS,
	CTR_KAFKA_ERRORS,
	CTR_NOTIF_SUPPRESSED,
	CTR_EVENTS_DELIVERED,
	CTR_EVENTS_RETRIED,
	CTR_MAX
};

#define STATS_ROUTES	64	/* last one counts unrouted requests */
#define STATS_HIST_BUCKETS 12	/* 1ms .. 2048ms doubling, then +Inf */

struct stats_hist {
	uint64_t	bucket[STATS_HIST_BUCKETS + 1];
	uint64_t	count;
	uint64_t	sum_us;
};

struct stats_slot {
	int		state;		/* enum stats_state */
	int		role;		/* enum role */
	pid_t		pid;
	unsigned	gen;
	int64_t		started;	/* unix seconds */
	uint64_t	ctr[CTR_MAX];
	uint64_t	http[STATS_ROUTES][6];	/* by status class 0..5 */
	struct stats_hist http_latency;
	struct stats_hist audit_commit;
};

/* Consumer lag of the audit role, from librdkafka's statistics. */
#define STATS_LAG_MAX	128

struct stats_lag {
	char		topic[112];
	int32_t		partition;
	int64_t		lag;
};

struct stats_page {
	uint64_t	restarts[ROLE_MAX];	/* by role */
	/* email.rate_limit's shared bucket, in microseconds (mailpolicy.c) */
	int64_t		rate_next_us;
	struct stats_slot slot[STATS_SLOTS];
	/* delivery_events still to send and the age of the oldest, in
	 * seconds: written by the events process only (-1: not known yet) */
	int64_t		events_pending;
	int64_t		events_oldest_s;
	/* written by the audit process only; seq is odd while it writes */
	uint32_t	lag_seq;
	int		nlag;
	struct stats_lag lag[STATS_LAG_MAX];
};

extern struct stats_page *stats;
extern struct stats_slot *stats_self;	/* this child's slot, or NULL */

int	stats_init(void) __attribute__((warn_unused_result));
void	stats_add(enum stats_ctr, uint64_t);
void	stats_hist_observe(struct stats_hist *, uint64_t usec);
void	stats_set_state(enum stats_state);

#endif
