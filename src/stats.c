/*
 * stats.c - the shared stats page (see stats.h).
 *
 * Writers use relaxed atomic adds: counters are monotonic and readers
 * only need eventually-consistent sums.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>

#include "stats.h"

struct stats_page *stats;
struct stats_slot *stats_self;

/* Maps the page; called by the master once, before any fork. */
int
stats_init(void)
{
	void *p;

	p = mmap(NULL, sizeof(struct stats_page), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	stats = p;
	stats->events_pending = -1;	/* not counted yet: /metrics omits it */
	return 0;
}

void
stats_add(enum stats_ctr c, uint64_t n)
{
	if (stats_self != NULL)
		__atomic_add_fetch(&stats_self->ctr[c], n, __ATOMIC_RELAXED);
}

void
stats_hist_observe(struct stats_hist *h, uint64_t usec)
{
	uint64_t limit = 1000;
	int i;

	for (i = 0; i < STATS_HIST_BUCKETS && usec > limit; i++)
		limit *= 2;
	__atomic_add_fetch(&h->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum_us, usec, __ATOMIC_RELAXED);
}

void
stats_set_state(enum stats_state s)
{
	if (stats_self != NULL)
		__atomic_store_n(&stats_self->state, s, __ATOMIC_RELEASE);
}

