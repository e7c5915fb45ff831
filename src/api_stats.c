/*
 * api_stats.c - GET /notification_service/api/stats: delivery counts,
 * success rate, latency percentiles and top failure codes per hour or
 * day (issue 16).
 *
 * Owns the parameters' checks, the one query and the answer.  Reads only
 * the hourly rollup that triggers keep (sql/015_delivery_rollup.sql),
 * one row per hour of the range for the filter's key, never the
 * notifications: the cost is a function of the range, not of the
 * volume.  The rows are summed into buckets here (rollup.c), not in SQL:
 * a 30-day answer is 720 rows either way, and C reads their histograms
 * several times faster than jsonb_each and window functions do.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_db.h"
#include "api_stats.h"
#include "isotime.h"
#include "rollup.h"
#include "suppress.h"
#include "template.h"

/* The longest answer: 10,000 buckets (417 days by hour, 27 years by day). */
#define API_STATS_MAX_BUCKETS	10000
#define API_STATS_TOP_CODES	5

/* The epoch microseconds of isotime_parse's normalized form. */
static long long
api_stats_epoch_us(const char *norm)
{
	struct tm tm;
	int y, mo, d, h, mi, s, us, zh, zm;
	char sign;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(norm, "%d-%d-%d %d:%d:%d.%d%c%d:%d", &y, &mo, &d, &h, &mi,
	    &s, &us, &sign, &zh, &zm) != 10)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return ((long long)timegm(&tm) - (sign == '-' ? -1 : 1) *
	    (zh * 3600LL + zm * 60LL)) * 1000000 + us;
}

/* Required timestamp parameter key into out; -1 after a 400 naming it. */
static int
api_stats_time(struct http_req *r, struct http_resp *rs, const char *key,
    char *out, size_t len)
{
	const char *v = http_query(r, key);

	if (v == NULL || isotime_parse(v, out, len) == -1) {
		http_error(rs, 400, "must be an RFC 3339 timestamp, e.g. "
		    "2025-04-05T12:00:00Z", key);
		return -1;
	}
	return 0;
}

/* The bucket's width in seconds (hour by default); 0 after a 400. */
static long long
api_stats_step(struct http_req *r, struct http_resp *rs)
{
	const char *b = http_query(r, "bucket");

	if (b == NULL || strcmp(b, "hour") == 0)
		return 3600;
	if (strcmp(b, "day") == 0)
		return 86400;
	http_error(rs, 400, "must be hour or day", "bucket");
	return 0;
}

/* The optional category and template filters; -1 after a 400. */
static int
api_stats_filters(struct http_req *r, struct http_resp *rs, const char **p)
{
	p[0] = http_query(r, "category");
	p[1] = http_query(r, "template");
	if (p[0] != NULL && !suppress_category_valid(p[0])) {
		http_error(rs, 400, "category must be 1 to 64 of a-z 0-9 _ . -",
		    "category");
		return -1;
	}
	if (p[1] != NULL && !template_name_valid(p[1])) {
		http_error(rs, 400, "not a valid template name", "template");
		return -1;
	}
	return 0;
}

/*
 * from <= to, and no more buckets than the limit; -1 after a 400.  The
 * range in epoch microseconds: [*f, *t), *f rounded down to its bucket
 * (the rollup's hours and days count from 2000-01-01, a whole number of
 * days after the epoch).
 */
static int
api_stats_range(struct http_resp *rs, const char *from, const char *to,
    long long step, long long *f, long long *t)
{
	long long fu = api_stats_epoch_us(from), w = step * 1000000;

	*f = fu - (fu % w + w) % w;
	*t = api_stats_epoch_us(to);
	if (fu > *t) {
		http_error(rs, 400, "from is after to", "from");
		return -1;
	}
	if ((*t - *f + w - 1) / w > API_STATS_MAX_BUCKETS) {
		http_error(rs, 400, "the range holds more than 10000 buckets",
		    "to");
		return -1;
	}
	return 0;
}


/* $1, $2: the range in epoch seconds; $3, $4: the key ('*': any). */
static const char api_stats_sql[] =
    "SELECT extract(epoch FROM hour)::bigint, accepted, sent, failed,"
    " suppressed, retried, latency::text, codes::text "
    "FROM email_delivery_rollup "
    "WHERE category = coalesce($3::text, '*')"
    " AND template = coalesce($4::text, '*')"
    " AND hour >= to_timestamp($1::float8) AND hour < to_timestamp($2::float8)"
    " ORDER BY hour";

/* Adds row i of res to b; -1 when its maps cannot be read. */
static int
api_stats_add_row(struct rollup_bucket *b, const PGresult *res, int i)
{
	int c;

	for (c = 0; c < ROLLUP_NCTR; c++)
		b->ctr[c] += strtoull(PQgetvalue(res, i, c + 1), NULL, 10);
	if (rollup_add_latency(b, PQgetvalue(res, i, 6)) == -1 ||
	    rollup_add_codes(b, PQgetvalue(res, i, 7)) == -1)
		return -1;
	return 0;
}

/* A bucket's p-th latency percentile in ms, or null. */
static json_t *
api_stats_pct(const struct rollup_bucket *b, int pct)
{
	int i = rollup_percentile(b, pct);

	return i < 0 ? json_null() : json_real(rollup_bucket_ms(i));
}

/* The top failure codes: numbers where they are, else ("other") text. */
static json_t *
api_stats_codes(struct rollup_bucket *b)
{
	json_t *a = json_array();
	size_t i, n = rollup_top_codes(b, API_STATS_TOP_CODES);
	const char *c;

	for (i = 0; i < n; i++) {
		c = b->codes[i].code;
		json_array_append_new(a, json_pack("{s:o,s:I}", "code",
		    strspn(c, "0123456789") == strlen(c) ?
		    json_integer(atoi(c)) : json_string(c),
		    "count", (json_int_t)b->codes[i].n));
	}
	return a;
}

/* The answer's entry for the bucket starting at epoch second start. */
static json_t *
api_stats_entry(struct rollup_bucket *b, long long start)
{
	uint64_t s = b->ctr[ROLLUP_SENT], f = b->ctr[ROLLUP_FAILED];
	char when[32];
	struct tm tm;
	time_t t = (time_t)start;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:{s:o,s:o},s:o}",
	    "start", when,
	    "accepted", (json_int_t)b->ctr[ROLLUP_ACCEPTED],
	    "sent", (json_int_t)s, "failed", (json_int_t)f,
	    "suppressed", (json_int_t)b->ctr[ROLLUP_SUPPRESSED],
	    "retried", (json_int_t)b->ctr[ROLLUP_RETRIED],
	    "successRate", s + f ? json_real(round((double)s / (double)(s + f) *
	    1e6) / 1e6) : json_null(),
	    "latencyMs", "p50", api_stats_pct(b, 50), "p99", api_stats_pct(b, 99),
	    "topFailureCodes", api_stats_codes(b));
}

/*
 * Every bucket of [f, t) (microseconds), each the sum of the rows (in
 * hour order) that fall in it; NULL when a row cannot be read.
 */
static json_t *
api_stats_buckets(const PGresult *res, long long f, long long t,
    long long step)
{
	struct rollup_bucket b;
	json_t *arr = json_array();
	long long start;
	int i = 0, n = PQntuples(res);

	memset(&b, 0, sizeof(b));
	for (start = f / 1000000; start * 1000000 < t; start += step) {
		rollup_reset(&b);
		for (; i < n && strtoll(PQgetvalue(res, i, 0), NULL, 10) <
		    start + step; i++)
			if (api_stats_add_row(&b, res, i) == -1) {
				json_decref(arr);
				rollup_free(&b);
				return NULL;
			}
		json_array_append_new(arr, api_stats_entry(&b, start));
	}
	rollup_free(&b);
	return arr;
}

void
api_stats_get(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "from", "to", "bucket",
	    "category", "template", NULL };
	char from[ISOTIME_LEN], to[ISOTIME_LEN], fs[32], ts[32];
	const char *p[4];
	long long w, f, t;
	json_t *buckets;
	PGresult *res;

	if (!http_params_known(r, known, rs) ||
	    api_stats_time(r, rs, "from", from, sizeof(from)) == -1 ||
	    api_stats_time(r, rs, "to", to, sizeof(to)) == -1 ||
	    (w = api_stats_step(r, rs)) == 0 ||
	    api_stats_filters(r, rs, p + 2) == -1 ||
	    api_stats_range(rs, from, to, w, &f, &t) == -1)
		return;
	snprintf(fs, sizeof(fs), "%lld", f / 1000000);	/* whole: a bucket */
	snprintf(ts, sizeof(ts), "%.6f", (double)t / 1e6);
	p[0] = fs;
	p[1] = ts;
	if ((res = api_db_query(r, rs, api_stats_sql, 4, p)) == NULL)
		return;
	buckets = api_stats_buckets(res, f, t, w);
	PQclear(res);
	if (buckets == NULL) {
		http_error(rs, 500, "a rollup row cannot be read", NULL);
		return;
	}
	http_json(rs, 200, json_pack("{s:s,s:o}", "bucket", w == 3600 ?
	    "hour" : "day", "buckets", buckets));
}
