/*
 * rollup.c - sums rows of the delivery rollup into one bucket and reads
 * percentiles and top failure codes off it.
 *
 * The rollup's histograms and codes are sparse jsonb maps
 * {"key": count}, read here from their text form.  Owns no I/O and
 * never logs: api_stats.c answers 500 when a row cannot be read.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rollup.h"

/* Empties b for the next bucket, keeping its code array. */
void
rollup_reset(struct rollup_bucket *b)
{
	memset(b->ctr, 0, sizeof(b->ctr));
	memset(b->lat, 0, sizeof(b->lat));
	b->ncodes = 0;
}

void
rollup_free(struct rollup_bucket *b)
{
	free(b->codes);
	b->codes = NULL;
	b->ncodes = b->capcodes = 0;
}

/* The count of a map entry: a non-negative integer, else -1. */
static long long
rollup_count(json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	return json_integer_value(v);
}

/* Adds the histogram {"bucket": count, ...}; -1 when json is not one. */
int
rollup_add_latency(struct rollup_bucket *b, const char *json)
{
	json_t *o, *v;
	const char *k;
	char *end;
	long i;
	long long n;
	int rc = 0;

	if ((o = json_loads(json, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	json_object_foreach(o, k, v) {
		i = strtol(k, &end, 10);
		if (*k == '\0' || *end != '\0' || i < 0 ||
		    i >= ROLLUP_LAT_BUCKETS || (n = rollup_count(v)) < 0) {
			rc = -1;
			break;
		}
		b->lat[i] += (uint64_t)n;
	}
	json_decref(o);
	return rc;
}

/* The entry of code in b, added with a count of 0 when new; NULL: no memory. */
static struct rollup_code *
rollup_code_slot(struct rollup_bucket *b, const char *code)
{
	struct rollup_code *c;
	size_t i;

	for (i = 0; i < b->ncodes; i++)
		if (strcmp(b->codes[i].code, code) == 0)
			return &b->codes[i];
	if (b->ncodes == b->capcodes) {
		b->capcodes = b->capcodes ? b->capcodes * 2 : 8;
		if ((c = realloc(b->codes, b->capcodes * sizeof(*c))) == NULL)
			return NULL;
		b->codes = c;
	}
	c = &b->codes[b->ncodes++];
	memset(c, 0, sizeof(*c));
	strncpy(c->code, code, sizeof(c->code) - 1);
	return c;
}

/* Adds the failure codes {"550": count, ...}; -1 when json is not one. */
int
rollup_add_codes(struct rollup_bucket *b, const char *json)
{
	struct rollup_code *c;
	json_t *o, *v;
	const char *k;
	long long n;
	int rc = 0;

	if ((o = json_loads(json, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	json_object_foreach(o, k, v) {
		if ((n = rollup_count(v)) < 0 || *k == '\0' ||
		    strlen(k) >= sizeof(c->code) ||
		    (c = rollup_code_slot(b, k)) == NULL) {
			rc = -1;
			break;
		}
		c->n += (uint64_t)n;
	}
	json_decref(o);
	return rc;
}

/*
 * The histogram bucket of the pct-th percentile: the first whose
 * cumulative count reaches pct % of the total (the rank rule of
 * percentile_disc); -1 when the histogram is empty.
 */
int
rollup_percentile(const struct rollup_bucket *b, int pct)
{
	uint64_t tot = 0, cum = 0;
	int i;

	for (i = 0; i < ROLLUP_LAT_BUCKETS; i++)
		tot += b->lat[i];
	if (tot == 0)
		return -1;
	for (i = 0; i < ROLLUP_LAT_BUCKETS; i++) {
		cum += b->lat[i];
		if (cum * 100 >= tot * (uint64_t)pct)
			return i;
	}
	return ROLLUP_LAT_BUCKETS - 1;
}

/* The milliseconds bucket i stands for: its geometric middle, 0.5 for < 1. */
double
rollup_bucket_ms(int i)
{
	if (i <= 0)
		return 0.5;
	return round(pow(2.0, (i - 0.5) / 4.0) * 1000.0) / 1000.0;
}

/* Most frequent first, then by code. */
static int
rollup_code_cmp(const void *a, const void *b)
{
	const struct rollup_code *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->code, y->code);
}

/* Sorts the codes, most frequent first: how many of them to show. */
size_t
rollup_top_codes(struct rollup_bucket *b, size_t max)
{
	size_t i, n = 0;

	/* an empty bucket has no array: qsort's pointer must not be NULL */
	if (b->ncodes > 1)
		qsort(b->codes, b->ncodes, sizeof(*b->codes), rollup_code_cmp);
	for (i = 0; i < b->ncodes && n < max; i++)
		if (b->codes[i].n > 0)
			n++;
	return n;
}
