/*
 * rollup.h - one bucket of delivery analytics summed from rows of the
 * hourly rollup (sql/015_delivery_rollup.sql): counters, the latency
 * histogram and the failure codes, and what is read off them.
 *
 * Pure code (no I/O, never logs), unit-tested in t/unit/test_rollup.c.
 */
#ifndef NOTIFYD_ROLLUP_H
#define NOTIFYD_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

/* Quarter-octave buckets of milliseconds, as email_rollup_bucket(). */
#define ROLLUP_LAT_BUCKETS	128

enum rollup_ctr {
	ROLLUP_ACCEPTED,
	ROLLUP_SENT,
	ROLLUP_FAILED,
	ROLLUP_SUPPRESSED,
	ROLLUP_RETRIED,
	ROLLUP_NCTR
};

struct rollup_code {
	char		 code[16];	/* "550", or "other" */
	uint64_t	 n;
};

struct rollup_bucket {
	uint64_t		 ctr[ROLLUP_NCTR];
	uint64_t		 lat[ROLLUP_LAT_BUCKETS];
	struct rollup_code	*codes;
	size_t			 ncodes, capcodes;
};

void	rollup_reset(struct rollup_bucket *);
void	rollup_free(struct rollup_bucket *);
int	rollup_add_latency(struct rollup_bucket *, const char *json)
	    __attribute__((warn_unused_result));
int	rollup_add_codes(struct rollup_bucket *, const char *json)
	    __attribute__((warn_unused_result));
int	rollup_percentile(const struct rollup_bucket *, int pct);
double	rollup_bucket_ms(int bucket);
size_t	rollup_top_codes(struct rollup_bucket *, size_t max);

#endif
